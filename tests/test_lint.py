"""ruff, configured in pyproject.toml, finds nothing in the project's code; and it does find a
planted undefined name and unused import, so this test can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(ROOT / "pyproject.toml"), *args], capture_output=True, text=True, cwd=ROOT)


def test_ruff_finds_nothing():
    out = _ruff(str(ROOT))
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_finds_a_planted_fault(tmp_path):
    bad = tmp_path / "planted.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    out = _ruff(str(bad))
    assert out.returncode == 1
    assert "F401" in out.stdout and "F821" in out.stdout
