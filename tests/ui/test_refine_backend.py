"""The studio window's refine tools and per-shot choices, driven like an artist: edge settings with
a live final alpha and undo, matting over the range (classical) with undo, clean plate files, the
backend choice saved with the shot, and frames needing attention after a propagation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import make_sample
from tests.ui.helpers import click_canvas, drop_files, key, wait_frame, wait_masks

W, H, N = 160, 96, 12


def disc(frame: int, frames: int = N, w: int = W, h: int = H, pad: float = 0.0) -> np.ndarray:
    """The sample shot's red disc on `frame` as a float mask (pad px larger)."""
    t = frame / (frames - 1)
    cx, cy = w * (0.2 + 0.6 * t), h * (0.5 + 0.15 * np.sin(t * 2 * np.pi))
    r = min(w, h) * 0.16 + pad
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.float32)


def _open(qtbot, window, clip):
    assert drop_files(window, [clip])
    assert window.shot.project is not None, window.message.text()
    wait_frame(qtbot, window, 0)


def _shown_alpha(window):
    layers = window.canvas._layers
    return layers[0][0] if layers else None


def _put_masks(window, frames, pad=0.0):
    p, oid = window.shot.project, window.shot.current_obj
    for f in frames:
        p.masks.set(oid, f, disc(f, pad=pad))
    window.shot.project_changed()
    return oid


def test_edge_settings_show_final_alpha_live_and_undo(qtbot, window, clip):
    _open(qtbot, window, clip)
    p = window.shot.project
    oid = _put_masks(window, [0])
    wait_frame(qtbot, window, 0)
    stored = p.masks.get(oid, 0)
    assert np.array_equal(_shown_alpha(window), stored)
    edges = window.edges
    assert edges.isEnabled() and edges.spins["grow"].value() == 0

    # grow 6 px: the object's refine settings change and the canvas shows the grown matte
    edges.spins["grow"].setValue(6)
    assert p.object(oid).refine == {"grow": 6}
    qtbot.waitUntil(lambda: (_shown_alpha(window) >= 0.5).sum() > (stored >= 0.5).sum() * 1.3, timeout=5000)
    final = p.final_alpha(oid, 0)
    assert np.array_equal(_shown_alpha(window), final)
    assert not np.array_equal(final, stored)

    # a slider drag (feather) is one undo step with its last value
    n = window.undo.count()
    for v in (5, 20, 40):  # slider ticks are tenths of a pixel
        edges.sliders["feather"].setValue(v)
    assert window.undo.count() == n + 1
    assert p.object(oid).refine == {"grow": 6, "feather": 4.0}
    assert edges.spins["feather"].value() == pytest.approx(4.0)
    qtbot.waitUntil(lambda: 0.05 < float(_shown_alpha(window)[48, 32 + 15 + 6]) < 0.95, timeout=5000)

    # undo twice: settings back to none, the canvas shows the stored mask again, panel follows
    window.undo.undo()
    assert p.object(oid).refine == {"grow": 6}
    assert edges.spins["feather"].value() == 0
    window.undo.undo()
    assert p.object(oid).refine == {}
    assert edges.spins["grow"].value() == 0
    qtbot.waitUntil(lambda: np.array_equal(_shown_alpha(window), stored), timeout=5000)
    window.undo.redo()
    assert p.object(oid).refine == {"grow": 6} and edges.spins["grow"].value() == 6
    # a second object has its own (default) settings
    window.objects_ctl.add_object()
    assert edges.spins["grow"].value() == 0 and p.objects[1].refine == {}


def test_matte_classical_over_range_then_undo(qtbot, window, clip):
    _open(qtbot, window, clip)
    p = window.shot.project
    oid = _put_masks(window, range(N))
    window.playback.set_frame(1)
    key(window, Qt.Key.Key_I)
    window.playback.set_frame(3)
    key(window, Qt.Key.Key_O)
    before = {f: p.masks.get(oid, f) for f in range(N)}
    with qtbot.waitSignal(window.jobEnded, timeout=60000) as ended:
        task = window.jobs.matte(backend="classical")
        assert task is not None and window.progress.isVisible()
    assert ended.args == ["matte", "succeeded"], window.message.text()
    assert "Matted 3 frames" in window.job_label.text()
    for f in range(N):
        a = p.masks.get(oid, f)
        if 1 <= f <= 3:  # soft now: grey values on the edge, still the disc inside
            soft = (a > 0.02) & (a < 0.98)
            assert soft.any() and not np.array_equal(a, before[f])
            assert np.abs(a - before[f]).mean() < 0.05
        else:  # outside the range: untouched
            assert np.array_equal(a, before[f])
    matted = p.masks.get(oid, 2)
    assert window.undo.undoText().startswith("Matte")
    window.undo.undo()
    for f in (1, 2, 3):
        assert np.allclose(p.masks.get(oid, f), before[f], atol=1e-4)
    window.undo.redo()
    assert np.allclose(p.masks.get(oid, 2), matted, atol=1e-4)


def test_clean_plate_writes_frames(qtbot, window, clip, tmp_path):
    _open(qtbot, window, clip)
    oid = _put_masks(window, range(N), pad=2.0)
    window.playback.set_frame(4)
    key(window, Qt.Key.Key_I)
    window.playback.set_frame(6)
    key(window, Qt.Key.Key_O)
    out = tmp_path / "clean"
    with qtbot.waitSignal(window.jobEnded, timeout=60000) as ended:
        assert window.jobs.clean_plate_to(out) is not None
    assert ended.args == ["clean plate", "succeeded"], window.message.text()
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["Object_1_clean.0004.png", "Object_1_clean.0005.png", "Object_1_clean.0006.png"]
    assert "3 clean plate frames" in window.job_label.text()
    img = cv2.cvtColor(cv2.imread(str(out / files[1])), cv2.COLOR_BGR2RGB).astype(np.float32)
    inside = disc(5, pad=-2.0) > 0.5
    red = np.array([210, 50, 40], np.float32)
    # the red disc is gone from the frame: its pixels are background now
    assert np.linalg.norm(img[inside] - red, axis=1).mean() > 100
    assert oid == window.shot.project.objects[0].id


def test_backend_choice_saved_with_the_shot(qtbot, window, clip, tmp_path, settings):
    _open(qtbot, window, clip)
    combo = window.backend_combo
    assert combo.currentData() == "classical"  # the default from Settings
    qtbot.waitUntil(lambda: "classical" in window.backend_label.text(), timeout=5000)

    combo.setCurrentIndex(combo.findData("auto"))
    combo.activated.emit(combo.currentIndex())
    assert window.shot.project.settings["backend"] == "auto"
    assert window.service_ctl.shot_backend() == "auto"
    # auto says what it picked and why (no SAM 2 weights here: the CPU fallback)
    qtbot.waitUntil(lambda: "auto picked classical" in window.backend_label.text(), timeout=10000)
    assert "weights" in window.backend_label.text()

    # the new service answers a click with the chosen backend
    click_canvas(window, 32, 48)
    wait_masks(qtbot, window)
    assert window.shot.project.masks.has(window.shot.current_obj, 0), window.message.text()

    target = tmp_path / "saved" / "shot.roto"
    assert window.projects.save_project_as(target)
    from roto_studio.ui.main_window import MainWindow

    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.ask = lambda *a, **k: False
    assert w2.projects.open_path(target), w2.message.text()
    assert w2.shot.project.settings["backend"] == "auto"
    assert w2.backend_combo.currentData() == "auto"
    qtbot.waitUntil(lambda: "auto picked" in w2.backend_label.text(), timeout=10000)
    w2.close()

    # undo goes back to the default; an unusable choice is explained in plain words
    window.undo.undo()  # the click
    assert window.undo.undoText() == "Backend Auto"
    window.undo.undo()
    assert "backend" not in window.shot.project.settings and combo.currentData() == "classical"
    window.service_ctl.set_backend("cutie")
    assert combo.currentData() == "cutie"
    qtbot.waitUntil(lambda: "cutie" in window.backend_label.text().lower() and "…" not in window.backend_label.text(),
                    timeout=10000)


def _vanishing_clip(path):
    """The sample shot where the disc is gone from frame 6 on (an abrupt change to propagate)."""
    import av

    bg = make_sample._background(W, H)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": "12", "preset": "veryfast"}
        for i in range(N):
            img = make_sample.frame_image(i, N, W, H, bg)
            if i >= 6:
                m = disc(i, pad=1.5) > 0.5
                img[m] = bg[m]
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


def test_attention_marks_after_propagation(qtbot, window, tmp_path):
    from roto_studio.workers.jobs import attention_frames

    clip = _vanishing_clip(tmp_path / "vanish.mp4")
    _open(qtbot, window, clip)
    p, oid = window.shot.project, window.shot.current_obj
    _put_masks(window, [0])
    with qtbot.waitSignal(window.attentionChecked, timeout=60000) as checked:
        with qtbot.waitSignal(window.jobEnded, timeout=60000) as ended:
            key(window, Qt.Key.Key_F)
        assert ended.args == ["propagate", "succeeded"], window.message.text()
    areas = [int((p.masks.get(oid, f) >= 0.5).sum()) for f in range(N)]
    expected = attention_frames(p.masks, oid, range(1, N), list(range(N)))
    assert checked.args[0] == {oid: expected}
    assert expected, areas  # the disc vanishing is an abrupt change
    assert 5 <= expected[0] <= 7, (expected, areas)
    assert window.timeline.attention == set(expected)
    # A jumps to the first mark, Shift+A back
    window.playback.set_frame(0)
    key(window, Qt.Key.Key_A)
    assert window.shot.frame == expected[0]
    key(window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    assert window.shot.frame == expected[0]  # nothing before the first mark: stays
    # undoing the propagation removes its marks from the timeline
    window.undo.undo()
    assert window.timeline.attention == set()


def test_attention_rule():
    from roto_studio.workers.jobs import attention_frames

    class Store:
        def __init__(self, areas):
            self.areas = areas

        def get(self, _oid, f):
            if self.areas.get(f) is None:
                return None
            a = np.zeros(100, np.float32)
            a[: self.areas[f]] = 1.0
            return a

    numbers = list(range(10))
    # steady, a 50% drop at 4, back at 5 (+100%), empty at 8 after non-empty
    s = Store({0: 50, 1: 50, 2: 52, 3: 50, 4: 25, 5: 50, 6: 55, 7: 60, 8: 0, 9: 0})
    assert attention_frames(s, "o", range(1, 10), numbers) == [4, 5, 8]
    # a backward run ending at a keyframe: the written frame next to it is the one marked
    s2 = Store({0: 10, 1: 50, 2: 50})
    assert attention_frames(s2, "o", [1, 0], numbers[:3]) == [0]
    assert attention_frames(s2, "o", [1], numbers[:3]) == [1]
