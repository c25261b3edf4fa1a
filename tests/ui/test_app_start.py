"""`roto-studio` with no file opens the sample shot: launched as a user would (a fresh process),
made to quit once the first frame is on the canvas (ROTO_SMOKE_EXIT, as packaging/smoke.py does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_window_opens_the_sample_shot_and_quits_cleanly(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ROTO_SMOKE_EXIT="60",
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "roto_studio"], capture_output=True, text=True, env=env,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "roto-studio: frame 0 shown" in out.stdout
    assert list((tmp_path / "cache").rglob("sample_shot.mp4"))  # made on first start
