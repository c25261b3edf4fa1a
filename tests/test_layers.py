"""The layering rule. The import-linter contracts in pyproject.toml ([tool.importlinter]) check
every import statement, inside functions too: the layers, core without Qt or torch, models /
commands / server / client without Qt, workers without widgets, the engine on top of models, the
window's controllers independent. The contracts are also shown to catch what they forbid.
Importing with Qt (and torch) blocked checks what static analysis cannot see."""

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import roto_studio

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path, *args: str) -> subprocess.CompletedProcess:
    """lint-imports on the package under `root` with root's pyproject.toml. A missing linter is a
    failure (FileNotFoundError), never a skip."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1",
           "COLUMNS": "200"}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml"), *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def contracts() -> list[dict]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def test_import_contracts_are_kept():
    r = lint(ROOT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    names = [c["name"] for c in contracts()]
    assert len(names) >= 8
    for name in names:
        assert f"{name} KEPT" in " ".join(out.split()), f"{name!r} was not checked:\n{out[-3000:]}"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "roto_studio", root / "roto_studio",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests").mkdir()
    for name in ("__init__.py", "import_contracts.py"):
        shutil.copy(ROOT / "tests" / name, root / "tests" / name)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _add(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code, encoding="utf-8")


def test_import_contracts_catch_imports_inside_functions(tmp_path):
    root = _copy(tmp_path)
    pkg = root / "roto_studio"
    _add(pkg / "core" / "masks.py", "def _probe():\n    import torch\n    from PySide6 import QtCore\n")
    _add(pkg / "models" / "base.py", "def _probe():\n    from PySide6.QtCore import QObject\n")
    _add(pkg / "workers" / "jobs.py", "def _probe():\n    from PySide6.QtWidgets import QLabel\n")
    _add(pkg / "ops" / "__init__.py", "def _probe():\n    from roto_studio.commands import export\n    from PySide6 import QtCore\n")
    _add(pkg / "core" / "errors.py", "def _probe():\n    from roto_studio.models import base\n")
    _add(pkg / "models" / "weights" / "registry.py", "def _probe():\n    from roto_studio.models import engine\n")
    _add(pkg / "models" / "engine.py", "def _probe():\n    import torch\n")
    _add(pkg / "ui" / "controllers" / "jobs.py", "def _probe():\n    from roto_studio.ui.controllers import playback\n")
    _add(pkg / "ui" / "controllers" / "settings.py", "def _probe():\n    from roto_studio.ui import main_window\n")
    _add(pkg / "ui" / "cleanplate_view.py", "def _probe():\n    from roto_studio.commands import cleanplate\n")
    r = lint(root)
    out = " ".join((r.stdout + r.stderr).split())
    assert r.returncode != 0, out[-3000:]
    for name in [c["name"] for c in contracts()]:
        assert f"{name} BROKEN" in out, f"{name!r} did not catch its probe:\n{out[-4000:]}"
    assert "roto_studio.workers.jobs" in out and "QtWidgets" in out
    assert "roto_studio.ui.cleanplate_view -> roto_studio.commands.cleanplate" in out, out[-4000:]


def test_a_missing_module_fails_the_contracts(tmp_path):
    root = _copy(tmp_path)
    shutil.rmtree(root / "roto_studio" / "ui" / "controllers")
    r = lint(root)
    assert r.returncode != 0 and "controllers" in r.stdout + r.stderr, r.stdout[-2000:]
    root = _copy(tmp_path / "again")
    (root / "roto_studio" / "models" / "engine.py").unlink()
    r = lint(root)
    assert r.returncode != 0 and "roto_studio.models.engine" in r.stdout + r.stderr, r.stdout[-2000:]

BLOCK = r"""
import importlib, importlib.abc, pkgutil, sys
blocked = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is blocked in this layer")
sys.meta_path.insert(0, Block())
import roto_studio
pkg = importlib.import_module(sys.argv[2])
for m in pkgutil.walk_packages(pkg.__path__, sys.argv[2] + "."):
    importlib.import_module(m.name)
print("ok")
"""


def run_blocked(blocked, package):
    r = subprocess.run([sys.executable, "-c", BLOCK, ",".join(blocked), package],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_core_imports_without_qt_or_torch():
    run_blocked(["PySide6", "qtpy", "torch", "torchvision"], "roto_studio.core")


def test_models_and_commands_import_without_qt():
    run_blocked(["PySide6", "qtpy"], "roto_studio.models")
    run_blocked(["PySide6", "qtpy"], "roto_studio.commands")
    run_blocked(["PySide6", "qtpy"], "roto_studio.ops")


def test_cli_and_light_models_do_not_import_torch():
    # The CLI, the GUI start-up path and backend selection must stay light: torch loads on first use.
    code = ("import sys, importlib, pkgutil\n"
            "import roto_studio.cli, roto_studio.commands as c, roto_studio.models as m\n"
            "for x in pkgutil.walk_packages(c.__path__, 'roto_studio.commands.'):\n"
            "    importlib.import_module(x.name)\n"
            "for name in ('base', 'weights.registry', 'weights.store', 'weights.licences', 'backends', 'engine',\n"
            "             'classical', 'device'):\n"
            "    importlib.import_module('roto_studio.models.' + name)\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"


def test_server_and_client_layers():
    # the model server never needs Qt; its client (used by the window) never needs torch either
    run_blocked(["PySide6", "qtpy"], "roto_studio.server")
    run_blocked(["PySide6", "qtpy", "torch", "torchvision"], "roto_studio.client")


def test_every_module_is_in_a_known_layer():
    names = {m.name.split(".")[1] for m in pkgutil.iter_modules(roto_studio.__path__, "roto_studio.")}
    assert names <= {"core", "models", "workers", "ui", "commands", "server", "client", "ops", "cli", "__main__"}
