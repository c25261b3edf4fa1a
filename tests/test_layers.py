"""The layering rule, checked by importing: core and models work with Qt (and for core, torch) absent."""

import pkgutil
import subprocess
import sys

import roto_studio

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
    run_blocked(["PySide6", "superqt", "qtpy", "torch", "torchvision"], "roto_studio.core")


def test_models_and_commands_import_without_qt():
    run_blocked(["PySide6", "superqt", "qtpy"], "roto_studio.models")
    run_blocked(["PySide6", "superqt", "qtpy"], "roto_studio.commands")


def test_cli_and_light_models_do_not_import_torch():
    # The CLI, the GUI start-up path and backend selection must stay light: torch loads on first use.
    code = ("import sys, importlib, pkgutil\n"
            "import roto_studio.cli, roto_studio.commands as c, roto_studio.models as m\n"
            "for x in pkgutil.walk_packages(c.__path__, 'roto_studio.commands.'):\n"
            "    importlib.import_module(x.name)\n"
            "for name in ('base', 'registry', 'weights', 'backends', 'engine', 'classical', 'device'):\n"
            "    try:\n"
            "        importlib.import_module('roto_studio.models.' + name)\n"
            "    except ModuleNotFoundError as e:\n"
            "        if not (e.name or '').startswith('roto_studio'): raise\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"


def test_every_module_is_in_a_known_layer():
    names = {m.name.split(".")[1] for m in pkgutil.iter_modules(roto_studio.__path__, "roto_studio.")}
    assert names <= {"core", "models", "workers", "ui", "commands", "cli", "__main__"}
