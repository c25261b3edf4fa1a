"""The undo history is bounded: 200 propagation runs on the sample shot (CPU fallback, through the
window's keys) keep the undo payloads in memory under the limit, older ones go to a file in the
project folder, and undoing back through all of them restores the masks exactly."""

from __future__ import annotations

import numpy as np
import psutil
from PySide6.QtCore import Qt

from tests.ui.conftest import requires_classical
from tests.ui.helpers import drag_canvas, drop_files, key, wait_frame, wait_masks

RUNS = 200
EPOCHS = 4  # a brush stroke on frame 0 before each quarter, so the runs' masks differ
LIMIT_MB = 0.25
SPAN = (1, 2, 3)  # frames each run writes (out point at 3)


def masks_of(p, obj):
    return {f: p.masks.get(obj, f) for f in SPAN}


def same(a, b):
    return all((a[f] is None) == (b[f] is None) and (a[f] is None or np.array_equal(a[f], b[f]))
               for f in SPAN)


@requires_classical
def test_200_propagation_runs_keep_undo_memory_bounded(qtbot, window, clip, settings):
    settings.setValue("undo/memory_mb", LIMIT_MB)
    assert drop_files(window, [clip]) and window.shot.project is not None
    wait_frame(qtbot, window, 0)
    p, shot = window.shot.project, window.shot
    obj = p.objects[0].id
    store = shot.undo_payloads
    assert store.limit == int(LIMIT_MB * 2**20)
    key(window, Qt.Key.Key_W)  # a box on the disc
    drag_canvas(window, 14, 30, 52, 66)
    wait_masks(qtbot, window)
    window.timeline.set_range(0, SPAN[-1])
    key(window, Qt.Key.Key_E)  # brush strokes change frame 0 between quarters
    window.canvas.set_brush_radius(5)

    proc = psutil.Process()
    states = []  # the span's masks before each quarter's first run
    first_step = {}  # undo index of each quarter's first run
    peak_memory = 0
    rss_warm = None
    for i in range(RUNS):
        if i % (RUNS // EPOCHS) == 0:
            e = i // (RUNS // EPOCHS)
            drag_canvas(window, 60 + 20 * e, 10, 70 + 20 * e, 80)
            states.append(masks_of(p, obj))
            first_step[e] = shot.undo.count()
        with qtbot.waitSignal(window.jobEnded, timeout=60000) as ended:
            key(window, Qt.Key.Key_F)
        assert ended.args == ["propagate", "succeeded"], window.message.text()
        peak_memory = max(peak_memory, store.memory_bytes)
        if i == 19:
            rss_warm = proc.memory_info().rss
    rss_growth = proc.memory_info().rss - rss_warm
    final = masks_of(p, obj)
    held = store.memory_bytes + store.disk_bytes
    print(f"\nundo payloads after {RUNS} runs: {store.memory_bytes} B in memory (peak {peak_memory}, "
          f"limit {store.limit}), {store.disk_bytes} B in {store.spilled} files on disk; "
          f"RSS growth runs 20-{RUNS}: {rss_growth / 2**20:.1f} MiB")

    assert peak_memory <= store.limit
    assert held > 4 * store.limit  # the limit really mattered
    assert store.spilled > 0 and store.dropped == 0
    files = list((p.folder / "cache" / "undo").rglob("*.bin"))
    assert len(files) == len(store._paths) > 0  # in the project folder
    assert rss_growth < 64 * 2**20
    assert not same(states[1], states[2])  # the quarters' masks differ, so the checks below bite

    # undo back through every run: each quarter's start comes back exactly, read from disk
    for e in reversed(range(EPOCHS)):
        while shot.undo.index() > first_step[e]:
            shot.undo.undo()
        if e > 0:
            assert same(masks_of(p, obj), states[e]), f"quarter {e}"
        shot.undo.undo()  # the brush stroke before this quarter
    assert all(p.masks.get(obj, f) is None for f in SPAN)  # before the first run: no masks
    # and redo forward again to the end
    while shot.undo.canRedo():
        shot.undo.redo()
    assert same(masks_of(p, obj), final)
    wait_masks(qtbot, window)
