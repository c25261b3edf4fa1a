"""The studio window driven like an artist: drop, click, mask, objects, propagate, cancel, undo,
save, reopen, export."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import requires_classical
from tests.ui.helpers import click_canvas, drag_canvas, drop_files, key, wait_frame, wait_masks


def _disc_centre(frame: int, frames: int = 12, w: int = 160, h: int = 96):
    t = frame / (frames - 1)
    return w * (0.2 + 0.6 * t), h * (0.5 + 0.15 * np.sin(t * 2 * np.pi))


def _open(qtbot, window, clip):
    assert drop_files(window, [clip])  # the window accepts the drag
    assert window.shot.project is not None, window.message.text()
    wait_frame(qtbot, window, 0)
    assert window.canvas.image.shape == (96, 160, 3)


@requires_classical
def test_artist_flow_click_propagate_undo_save_reopen_export(qtbot, window, clip, tmp_path, settings):
    _open(qtbot, window, clip)
    p = window.shot.project
    assert len(p.objects) == 1  # a first object is ready
    obj = p.objects[0].id
    assert not window.canvas.overlay_item.isVisible()

    # click on the disc: a mask appears (the GUI thread does not wait for it)
    x, y = _disc_centre(0)
    t0 = time.perf_counter()
    click_canvas(window, x, y)
    assert time.perf_counter() - t0 < 0.5
    assert window.canvas.markers() == [(pytest.approx(x, abs=1), pytest.approx(y, abs=1), 1)]
    wait_masks(qtbot, window)
    qtbot.waitUntil(lambda: window.canvas.overlay_item.isVisible(), timeout=5000)
    alpha = p.masks.get(obj, 0)
    assert alpha is not None and alpha[int(y), int(x)] > 0.5
    assert alpha[5, 150] < 0.5  # far corner stays background
    overlay = window.canvas.overlay_item.pixmap().toImage()
    assert overlay.pixelColor(int(x), int(y)).alpha() > 0

    # exclude with a right click adds a red marker; undo removes it again
    click_canvas(window, 150, 90, Qt.MouseButton.RightButton)
    assert [m[2] for m in window.canvas.markers()] == [1, 0]
    wait_masks(qtbot, window)
    window.undo.undo()
    wait_masks(qtbot, window)
    assert [m[2] for m in window.canvas.markers()] == [1]
    assert np.allclose(p.masks.get(obj, 0), alpha, atol=1e-4)

    # add a second object (N), then select the first with the number key
    key(window, Qt.Key.Key_N)
    assert [o.name for o in p.objects] == ["Object 1", "Object 2"]
    assert window.shot.current_obj == p.objects[1].id
    key(window, Qt.Key.Key_1)
    assert window.shot.current_obj == obj

    # propagate forward with the CPU fallback (F): progress, then masks on the following frames
    with qtbot.waitSignal(window.jobEnded, timeout=60000) as ended:
        key(window, Qt.Key.Key_F)
        assert window.shot.job_running() and window.progress.isVisible()
    assert ended.args == ["propagate", "succeeded"]
    assert p.masks.frames(obj) == list(range(12))
    assert "fps" in window.job_label.text() or "Propagated" in window.job_label.text()
    x5, y5 = _disc_centre(5)
    assert p.masks.get(obj, 5)[int(y5), int(x5)] > 0.5  # it followed the disc
    prop = {f: p.masks.get(obj, f) for f in range(12)}

    # undo the propagation: the masks it added are gone; redo brings them back
    assert window.undo.undoText().startswith("Propagate")
    window.undo.undo()
    assert p.masks.frames(obj) == [0]
    window.undo.redo()
    assert p.masks.frames(obj) == list(range(12))
    assert np.allclose(p.masks.get(obj, 7), prop[7], atol=1e-4)

    # the timeline can be scrubbed and shows the frame
    key(window, Qt.Key.Key_Right)
    wait_frame(qtbot, window, 1)
    key(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    wait_frame(qtbot, window, 11)
    key(window, Qt.Key.Key_Home)
    wait_frame(qtbot, window, 0)
    key(window, Qt.Key.Key_End)
    wait_frame(qtbot, window, 11)

    # rename + recolour through undoable commands
    window.objects_ctl.change_object(obj, "name", "disc")
    window.objects_ctl.change_object(obj, "color", (10, 200, 30))

    # save as, reopen in a fresh window: same state
    target = tmp_path / "saved" / "shot.roto"
    assert window.projects.save_project_as(target)
    assert window.undo.isClean()
    from roto_studio.ui.main_window import MainWindow

    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.ask = lambda *a, **k: False
    assert w2.projects.open_path(target), w2.message.text()
    p2 = w2.shot.project
    assert [(o.name, o.color) for o in p2.objects] == [("disc", (10, 200, 30)), ("Object 2", p.objects[1].color)]
    assert p2.prompts[obj][0].points == p.prompts[obj][0].points
    assert p2.masks.frames(obj) == list(range(12))
    assert np.allclose(p2.masks.get(obj, 4), prop[4], atol=1e-4)
    assert w2.shot.frame == 11  # the frame being looked at is remembered
    assert str(target) in w2.projects.recent_files()

    # export 16-bit PNG through the worker and read the files back
    from roto_studio.core.export import ExportOptions

    out = tmp_path / "export"
    with qtbot.waitSignal(w2.jobEnded, timeout=60000) as ended:
        w2.jobs.export_to(out, ExportOptions(format="png16", objects=[obj]))
    assert ended.args == ["export", "succeeded"]
    files = sorted(out.glob("*.png"))
    assert len(files) == 12
    back = cv2.imread(str(files[3]), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape[:2] == (96, 160)
    assert np.abs(back.astype(np.float32) / 65535 - prop[3]).max() < 1e-3
    w2.close()


@requires_classical
def test_cancel_keeps_finished_frames(qtbot, window, tmp_path):
    from tests.ui.conftest import make_sample

    clip = make_sample.make_sample(tmp_path / "long.mp4", frames=40, width=160, height=96)
    _open(qtbot, window, clip)
    p, obj = window.shot.project, window.shot.project.objects[0].id
    x, y = 32, 48
    click_canvas(window, x, y)
    wait_masks(qtbot, window)
    assert p.masks.has(obj, 0)
    with qtbot.waitSignal(window.jobEnded, timeout=60000) as ended:
        window.jobs.propagate("forward")
        qtbot.waitUntil(lambda: window.shot.job.done >= 2, timeout=30000)
        key(window, Qt.Key.Key_Escape)
    assert ended.args == ["propagate", "cancelled"]
    frames = p.masks.frames(obj)
    assert 3 <= len(frames) < 40  # the start frame + those finished before the cancel
    assert frames == list(range(len(frames)))
    assert "kept" in window.job_label.text()
    # the finished frames are whole masks, and undo removes exactly them
    assert all(p.masks.get(obj, f) is not None for f in frames)
    window.undo.undo()
    assert p.masks.frames(obj) == [0]


@requires_classical
def test_box_brush_and_object_edits_undo(qtbot, window, clip):
    _open(qtbot, window, clip)
    p = window.shot.project
    obj = p.objects[0].id
    key(window, Qt.Key.Key_W)  # box tool
    assert window.canvas.tool == "box"
    drag_canvas(window, 14, 30, 52, 66)
    wait_masks(qtbot, window)
    assert p.prompts[obj][0].box is not None
    box_alpha = p.masks.get(obj, 0)
    assert box_alpha is not None and box_alpha[48, 32] > 0.5

    key(window, Qt.Key.Key_E)  # brush: paint a stroke far from the disc
    assert window.canvas.tool == "brush"
    r0 = window.canvas.brush_radius
    key(window, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_radius > r0
    window.canvas.set_brush_radius(4)
    drag_canvas(window, 120, 20, 140, 20)
    a = p.masks.get(obj, 0)
    assert a[20, 130] == 1.0
    drag_canvas(window, 120, 20, 140, 20, button=Qt.MouseButton.RightButton)  # right drag erases
    assert p.masks.get(obj, 0)[20, 130] == 0.0
    window.undo.undo()
    assert p.masks.get(obj, 0)[20, 130] == 1.0
    window.undo.undo()
    assert np.allclose(p.masks.get(obj, 0), box_alpha, atol=1e-4)

    # object panel edits are undoable; delete restores masks on undo
    window.objects_ctl.add_object()
    o2 = p.objects[1].id
    window.objects_ctl.change_object(o2, "visible", False)
    assert not p.object(o2).visible
    window.objects.moveRequested.emit(o2, -1)
    assert [o.id for o in p.objects] == [o2, obj]
    window.objects_ctl.delete_object(obj)
    assert [o.id for o in p.objects] == [o2] and not p.masks.has(obj, 0)
    window.undo.undo()
    assert p.masks.has(obj, 0) and [o.id for o in p.objects] == [o2, obj]
    window.undo.undo()
    window.undo.undo()
    assert p.object(o2).visible and [o.id for o in p.objects] == [obj, o2]

    # a locked object refuses edits with a plain message
    window.objects_ctl.select_object(obj)
    window.objects_ctl.change_object(obj, "locked", True)
    key(window, Qt.Key.Key_Q)
    click_canvas(window, 30, 40)
    assert "locked" in window.message.text()
    assert window.prompting.pending_requests() == 0


@requires_classical
def test_view_modes_zoom_and_timeline_marks(qtbot, window, clip):
    _open(qtbot, window, clip)
    p, obj = window.shot.project, window.shot.project.objects[0].id
    click_canvas(window, 32, 48)
    wait_masks(qtbot, window)
    wait_frame(qtbot, window, 0)
    c = window.canvas
    for mode in ("matte", "cutout", "outline", "overlay"):
        key(window, Qt.Key.Key_V)
        assert c.view_mode == mode and c.overlay_item.isVisible()
    c.set_view_mode("matte")
    img = c.overlay_item.pixmap().toImage()
    assert img.pixelColor(32, 48).red() > 200 and img.pixelColor(150, 5).red() < 30
    c.set_view_mode("overlay")
    fit = c.zoom()
    key(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert c.zoom() == pytest.approx(1.0)
    c.zoom_by(8)
    assert c.zoom() == pytest.approx(8.0)  # enough to place a click on a hair
    key(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert c.zoom() == pytest.approx(fit, rel=0.05)
    assert window.timeline.prompted == {0}
    assert window.timeline.done == [(0, 0)]
    # in / out
    window.playback.set_frame(3)
    key(window, Qt.Key.Key_I)
    window.playback.set_frame(8)
    key(window, Qt.Key.Key_O)
    assert window.timeline.frame_range() == (3, 8)
    key(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert p.locked[obj] == [(3, 8)]
    assert window.timeline.locked == [(3, 8)]
    # scrubbing the timeline with the mouse shows that frame
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    QTest.mouseClick(window.timeline, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(int(window.timeline.x_of(6)), 25))
    wait_frame(qtbot, window, 6)
    # playback runs and stops
    key(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.shot.frame != 6, timeout=5000)
    key(window, Qt.Key.Key_K)
    assert not window.playback.play_timer.isActive()


def test_bad_drop_shows_plain_message(qtbot, window, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    drop_files(window, [bad])
    assert window.shot.project is None
    assert window.message.isVisible()
    text = window.message.text()
    assert text and "Traceback" not in text and "\n" not in text


def test_crash_recovery_offers_autosave(qtbot, window, clip, settings):
    _open(qtbot, window, clip)
    folder = window.shot.project.folder
    window.shot.project.settings["saved_by_user"] = True
    assert window.projects.save_project()
    window.objects_ctl.change_object(window.shot.project.objects[0].id, "name", "after save")
    window.projects.autosave()
    assert (folder / "autosave.json").exists()
    from roto_studio.ui.main_window import MainWindow

    asked = []
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.ask = lambda q, *a: asked.append(q) or True
    assert w2.projects.open_project(folder)
    assert asked and "autosave" in asked[0].lower()
    assert w2.shot.project.objects[0].name == "after save"
    w3 = MainWindow(settings)
    qtbot.addWidget(w3)
    w3.ask = lambda q, *a: False
    assert w3.projects.open_project(folder)
    assert w3.shot.project.objects[0].name == "Object 1"
    w2.close()
    w3.close()


def test_layout_and_settings_remembered(qtbot, settings, clip):
    from roto_studio.ui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.resize(700, 500)
    w.prompting.set_view_mode("outline")
    w.opacity.setValue(70)
    w.close()
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    assert w2.canvas.view_mode == "outline" and w2.opacity.value() == 70
    assert (w2.width(), w2.height()) == (700, 500)
    w2.close()


def test_dialogs(qtbot, window, clip):
    from roto_studio.ui.dialogs import SHORTCUTS, ExportDialog, SettingsDialog, shortcuts_markdown

    _open(qtbot, window, clip)
    key(window, Qt.Key.Key_F1)
    d = window._shortcuts
    assert d.isVisible() and d.table.rowCount() == len(SHORTCUTS)
    d.close()
    assert "| F / B / Shift+F |" in shortcuts_markdown()
    e = ExportDialog(window.shot.project, (0, 11), "")
    qtbot.addWidget(e)
    assert e.example.text() == "Object_1.0000.exr"
    e.start.setValue(1001)
    assert e.example.text() == "Object_1.1001.exr"
    e.pattern.setText("{object}_v01.%05d")
    e.format.setCurrentIndex(e.format.findData("png16"))
    assert e.example.text() == "Object_1_v01.01001.png"
    e.pattern.setText("no_frame_token")
    assert "frame" in e.example.text() and not e.buttons.buttons()[0].isEnabled()
    opts = e.options()
    assert opts.format == "png16" and opts.start_frame == 1001 and opts.frame_range == (0, 11)
    s = SettingsDialog(window.shot.model_settings())
    qtbot.addWidget(s)
    assert s.rows and "CPU fallback" in s.fallback.text()  # no weights on this machine
    assert s.values()["backend"] == "classical"


@pytest.mark.slow
def test_propagate_with_random_weight_sam2(qtbot, settings, tmp_path, monkeypatch):
    """The real SAM 2 code path (shipped config, seeded random weights, 256 px) behind the window."""
    pytest.importorskip("sam2")
    monkeypatch.setenv("ROTO_SAM2_RANDOM_WEIGHTS", "tiny@256")
    monkeypatch.setenv("ROTO_DEVICE", "cpu")
    from roto_studio.ui.main_window import MainWindow
    from tests.ui.conftest import make_sample

    clip = make_sample.make_sample(tmp_path / "sam.mp4", frames=4, width=160, height=96)
    settings.setValue("models/backend", "sam2")
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    assert w.projects.open_media_path(clip)
    wait_frame(qtbot, w, 0)
    click_canvas(w, 32, 48)
    wait_masks(qtbot, w, timeout=120000)
    obj = w.shot.current_obj
    assert w.shot.project.masks.has(obj, 0), w.message.text()
    assert "sam2" in w.backend_label.text()
    with qtbot.waitSignal(w.jobEnded, timeout=180000) as ended:
        key(w, Qt.Key.Key_F)
    assert ended.args == ["propagate", "succeeded"]
    assert w.shot.project.masks.frames(obj) == [0, 1, 2, 3]
    a = w.shot.project.masks.get(obj, 2)
    assert a.shape == (96, 160) and 0.0 <= a.min() and a.max() <= 1.0
    w.undo.undo()
    assert w.shot.project.masks.frames(obj) == [0]
    w.close()
