"""mypy, configured in pyproject.toml ([tool.mypy]: core, the layer with no Qt and no torch),
finds no type errors; and it does report a planted one, so this test can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--config-file",
                           str(ROOT / "pyproject.toml"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_mypy_finds_nothing_in_core():
    out = _mypy()
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "no issues found" in out.stdout


def test_mypy_reports_a_planted_type_error(tmp_path):
    bad = tmp_path / "planted.py"
    bad.write_text("from roto_studio.core.prompt import Prompt\n\n\n"
                   "def frames() -> list[int]:\n    return Prompt().clicks\n")
    out = _mypy(str(bad))
    assert out.returncode == 1 and "planted.py:5: error" in out.stdout, out.stdout
