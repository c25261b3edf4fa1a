"""The window's model server child is started with the right program: `python -m roto_studio`
from a Python install, the bundle's `roto-studio` program from a PyInstaller bundle (there
sys.executable is the bundle's own program, which knows no `-m`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from roto_studio.client.local import roto_studio_command


def test_python_install_runs_the_module():
    assert roto_studio_command() == [sys.executable, "-m", "roto_studio"]
    assert roto_studio_command("/opt/py/bin/python") == ["/opt/py/bin/python", "-m", "roto_studio"]


def test_bundle_runs_its_command_line_program(monkeypatch, tmp_path):
    gui = tmp_path / "roto-studio" / ("roto-studio-gui.exe" if os.name == "nt" else "roto-studio-gui")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(gui))
    cli = Path(roto_studio_command()[0])
    assert cli.parent == gui.parent
    assert cli.name == ("roto-studio.exe" if os.name == "nt" else "roto-studio")
