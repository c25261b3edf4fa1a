"""`roto-studio` argument handling through the real entry point (`python -m roto_studio`):
unknown words, --help anywhere, and the window refusing cleanly where there is no display."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from roto_studio.cli import known_commands

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, env_update=None, drop=(), cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    for name in drop:
        env.pop(name, None)
    env.update(env_update or {})
    # A window that opened by mistake would block: the timeout turns that into a failure.
    return subprocess.run([sys.executable, "-m", "roto_studio", *args], capture_output=True, text=True,
                          env=env, timeout=60, cwd=cwd)


def test_known_commands_are_the_real_table():
    names = known_commands()
    assert {"info", "segment", "export", "models"} <= set(names)
    assert "render" not in names or (ROOT / "roto_studio" / "commands" / "render.py").exists()


@pytest.mark.parametrize("args", [("rendr", "--help"), ("frobnicate",), ("frobnicate", "a", "b")])
def test_unknown_word_names_commands_and_exits_2(args, tmp_path):
    if args[0] in known_commands():
        pytest.skip(f"{args[0]} is a real command now")
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"unknown command '{args[0]}'" in lines[0]
    for name in known_commands():
        assert name in lines[0]
    assert res.stdout == ""


def test_missing_file_says_it_does_not_exist(tmp_path):
    res = run_cli(str(tmp_path / "nothing.mp4"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [("--help",), ("-h",), ("info", "--help"), ("segment", "x", "-h")])
def test_help_anywhere_prints_help(args):
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: roto-studio")


def test_every_command_has_help_without_a_window():
    for name in known_commands():  # `render --help` among them once render exists
        res = run_cli(name, "--help", drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
        assert res.returncode == 0, (name, res.stderr)
        assert res.stdout.startswith(f"usage: roto-studio {name}"), res.stdout[:80]


def test_help_after_media_prints_help_not_window(tmp_path):
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    res = run_cli(str(image), "--help", drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    assert res.returncode == 0, res.stderr
    assert "usage: roto-studio" in res.stdout
    for name in known_commands():
        assert name in res.stdout


@pytest.mark.skipif(sys.platform.startswith(("win", "darwin")), reason="X11/Wayland only")
@pytest.mark.parametrize("with_file", [False, True])
def test_no_display_one_line_exit_2(tmp_path, with_file):
    args = ()
    if with_file:
        image = tmp_path / "plate.1001.png"
        cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
        args = (str(tmp_path / "plate.####.png"),)  # a pattern counts as something to open
    res = run_cli(*args, drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "no display" in lines[0] and "--help" in lines[0]


@pytest.mark.skipif(sys.platform.startswith(("win", "darwin")), reason="X11/Wayland only")
def test_xcb_without_display_is_refused_too():
    res = run_cli(env_update={"QT_QPA_PLATFORM": "xcb"}, drop=("DISPLAY", "WAYLAND_DISPLAY"))
    assert res.returncode == 2 and "no display" in res.stderr
