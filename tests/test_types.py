"""mypy, configured in pyproject.toml ([tool.mypy]: the whole package, checked; core, the layer
with no Qt and no torch, strictly), finds no type errors; and it does report planted ones, so
these tests can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--config-file",
                           str(ROOT / "pyproject.toml"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def _mypy_planted(tmp_path: Path, layer: str, name: str, text: str) -> subprocess.CompletedProcess:
    """mypy on a module laid out as roto_studio/<layer>/<name> (so the config's per-module
    settings apply to it); it imports nothing of ours, so the copy needs no other file."""
    folder = tmp_path / "roto_studio" / layer
    folder.mkdir(parents=True)
    (tmp_path / "roto_studio" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / name).write_text(text)
    return _mypy(str(Path("roto_studio", layer, name)), cwd=tmp_path)


def test_mypy_finds_nothing_in_the_package():
    out = _mypy()
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "no issues found" in out.stdout


def test_mypy_reports_a_planted_type_error(tmp_path):
    bad = tmp_path / "planted.py"
    bad.write_text("from roto_studio.core.prompt import Prompt\n\n\n"
                   "def frames() -> list[int]:\n    return Prompt().clicks\n")
    out = _mypy(str(bad))
    assert out.returncode == 1 and "planted.py:5: error" in out.stdout, out.stdout


# -- core is strict (issue #23): the pyproject override turns on, for roto_studio.core, every
# per-module flag of `mypy --strict`; so plain mypy and `mypy --strict` agree on core.

def test_mypy_strict_finds_nothing_in_core():
    out = _mypy("--strict", "roto_studio/core")
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "no issues found" in out.stdout


_PLANTED_CORE = '''"""A core-style module with what only strict mode reports."""

from __future__ import annotations

import json


def scale(values, factor):
    return [v * factor for v in values]


def total(values: list) -> int:
    return sum(values)


def load(text: str) -> dict[str, int]:
    return json.loads(text)
'''


def test_mypy_is_strict_on_a_planted_core_module(tmp_path):
    # laid out as roto_studio/core/planted_strict.py so mypy names it roto_studio.core.planted_strict
    # and the core override applies (it imports nothing of ours, so the copy needs no other file)
    out = _mypy_planted(tmp_path, "core", "planted_strict.py", _PLANTED_CORE)
    assert out.returncode == 1, out.stdout + out.stderr
    found = {(ln.split(":")[1], ln.rsplit("[", 1)[-1].rstrip("]")) for ln in out.stdout.splitlines()
             if "planted_strict.py:" in ln and ": error:" in ln}
    # an unannotated def, a bare generic, a return of Any
    assert {("8", "no-untyped-def"), ("12", "type-arg"), ("17", "no-any-return")} <= found, out.stdout


_PLANTED_OPS = '''"""An ops-style module: unannotated, as the layers above core may be."""


def frames(count):
    return list(range(count))


def total():
    n = len(frames(3))
    return n.upper()
'''


def test_mypy_checks_a_planted_module_outside_core(tmp_path):
    # laid out as roto_studio/ops/planted_checked.py: outside core, unannotated defs are allowed
    # (no strict override) but their bodies are still checked (check_untyped_defs)
    out = _mypy_planted(tmp_path, "ops", "planted_checked.py", _PLANTED_OPS)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = [ln for ln in out.stdout.splitlines() if "planted_checked.py:" in ln and ": error:" in ln]
    assert len(errors) == 1 and "planted_checked.py:10:" in errors[0], out.stdout


def test_the_configuration_checks_the_whole_package():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == ["roto_studio"] and config["check_untyped_defs"] is True
