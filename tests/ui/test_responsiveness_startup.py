"""The GUI thread keeps ticking while propagation and export run; start-up does not import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.ui.conftest import requires_classical
from tests.ui.helpers import click_canvas, wait_frame, wait_masks

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


@requires_classical
def test_gui_ticks_during_propagation_and_export(qtbot, window, tmp_path):
    from bench_gui_responsiveness import GapMeter

    from roto_studio.core.export import ExportOptions
    from tests.ui.conftest import make_sample

    clip = make_sample.make_sample(tmp_path / "r.mp4", frames=24, width=320, height=180)
    window.projects.open_media_path(clip)
    wait_frame(qtbot, window, 0)
    click_canvas(window, 64, 90)
    wait_masks(qtbot, window)
    assert window.shot.project.masks.has(window.shot.current_obj, 0), window.message.text()

    meter = GapMeter()
    meter.start()
    qtbot.wait(500)
    idle = meter.stop()

    meter.start()
    with qtbot.waitSignal(window.jobEnded, timeout=120000) as ended:
        window.jobs.propagate("forward")
        # the artist keeps scrubbing while it runs
        for f in (3, 7, 1, 12):
            qtbot.wait(60)
            window.playback.set_frame(f)
    prop = meter.stop()
    assert ended.args == ["propagate", "succeeded"]
    assert len(meter.gaps) > 20

    meter.start()
    with qtbot.waitSignal(window.jobEnded, timeout=120000) as ended:
        window.jobs.export_to(tmp_path / "out", ExportOptions(format="exr"))
    export = meter.stop()
    assert ended.args == ["export", "succeeded"]
    assert len(list((tmp_path / "out").glob("*.exr"))) == 24
    print(f"longest GUI gap: idle {idle * 1000:.0f} ms, propagating {prop * 1000:.0f} ms, "
          f"exporting {export * 1000:.0f} ms")
    # The work runs off the GUI thread: were it on it, one gap would last the whole job (seconds).
    # The 50 ms target is the benchmark's (bench_gui_responsiveness.py); a timed bound here would
    # only measure how busy the machine is.
    assert prop < 1.0, prop
    assert export < 1.0, export


def test_startup_shows_window_without_importing_torch(tmp_path):
    from tests.ui.conftest import make_sample

    clip = make_sample.make_sample(tmp_path / "s.mp4", frames=6, width=160, height=96)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ROTO_PROJECTS_DIR=str(tmp_path / "p"),
               PYTHONPATH=str(ROOT), ROTO_T0=repr(time.time()))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_startup.py"), "--child", "studio",
                          str(clip)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    assert r["frame"] == 0  # the first frame was on screen
    assert r["torch"] is False  # no model needed yet, so torch is not loaded
    assert r["shown_s"] < 30
