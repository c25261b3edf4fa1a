"""An artist's first day, the tools in sight (issue 24), through the real window: the tool bar
and the brush ring, the wheel zooming about the cursor, a canvas that keeps its place, status
messages that stay out of the read-out, per-object tracks on the timeline (clicking one selects
it), Propagate all, leak flags with their reasons, the clean-plate view and its settings, Track
through the shot with SAM 3 (random weights), and the export dialog's colour space and float EXR."""

from __future__ import annotations

import shutil
import subprocess

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QHelpEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from tests.ui.conftest import requires_classical
from tests.ui.helpers import click_canvas, drop_files, key, wait_frame, wait_job, wait_masks

W, H, N = 160, 96, 12


def _open(qtbot, window, path, first=0):
    assert drop_files(window, [path])
    assert window.shot.project is not None, window.message.text()
    wait_frame(qtbot, window, first)


def _disc_centre(i, frames=N):
    t = i / (frames - 1)
    return W * (0.2 + 0.6 * t), H * (0.5 + 0.15 * np.sin(t * 2 * np.pi))


def _when_modal(fill):
    """Run fill(dialog) on the next modal dialog (the window's exec() waits for it)."""
    def poll():
        d = QApplication.activeModalWidget()
        if d is None:
            QTimer.singleShot(20, poll)
            return
        fill(d)
    QTimer.singleShot(20, poll)


# ---------------------------------------------------------------------------------- tools

def test_tool_bar_shows_the_active_tool_and_the_brush_ring_its_size(qtbot, window, clip):
    w = window
    _open(qtbot, w, clip)
    bar = w.tool_bar
    assert bar.active_tool() == "click" and w.canvas.tool == "click"
    cursors = {}
    for k, tool in ((Qt.Key.Key_E, "brush"), (Qt.Key.Key_W, "box"), (Qt.Key.Key_H, "pan"), (Qt.Key.Key_Q, "click")):
        key(w, k)
        assert w.canvas.tool == tool and bar.active_tool() == tool
        assert bar.tool_actions[tool].isChecked()
        assert sum(a.isChecked() for a in bar.tool_actions.values()) == 1
        cursors[tool] = w.canvas.viewport().cursor().shape()
    assert cursors["pan"] == Qt.CursorShape.OpenHandCursor and cursors["box"] == Qt.CursorShape.CrossCursor
    assert len(set(cursors.values())) == 4  # a cursor per tool
    bar.widgetForAction(bar.tool_actions["brush"]).click()  # the tool bar button itself
    assert w.canvas.tool == "brush" and "Brush" in w.tool_label.text()

    # the ring follows the cursor and has the brush's radius, in frame pixels
    vp = w.canvas.viewport()
    QTest.mouseMove(vp, w.canvas.mapFromScene(QPointF(60, 40)))
    qtbot.waitUntil(w.brush_ring.visible)
    r = w.canvas.brush_radius
    rect = w.brush_ring.rect()
    assert rect.center().x() == pytest.approx(60, abs=1) and rect.center().y() == pytest.approx(40, abs=1)
    assert rect.width() == pytest.approx(2 * r)
    key(w, Qt.Key.Key_BracketRight)
    assert w.brush_ring.rect().width() == pytest.approx(2 * r * 1.25)
    assert f"{r * 1.25:.0f} px" in bar.brush_label.text()
    key(w, Qt.Key.Key_Q)
    assert not w.brush_ring.visible()  # no ring, no painting by accident


def test_wheel_zooms_about_the_cursor(qtbot, window, clip):
    w = window
    _open(qtbot, w, clip)
    c = w.canvas
    c.zoom_by(2.0)  # magnified: the frame is larger than the view both ways
    at = QPointF(c.viewport().width() * 0.75, c.viewport().height() * 0.3)
    before = c.mapToScene(at.toPoint())
    z0 = c.zoom()
    for _ in range(3):
        ev = QWheelEvent(at, c.viewport().mapToGlobal(at), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(c.viewport(), ev)
    assert c.zoom() == pytest.approx(z0 * 1.25 ** 3)
    after = c.mapToScene(at.toPoint())
    assert abs(after.x() - before.x()) <= 1.0 and abs(after.y() - before.y()) <= 1.0


def test_canvas_keeps_its_place_and_status_stays_out_of_the_read_out(qtbot, window, clip):
    w = window
    _open(qtbot, w, clip)
    c = w.canvas
    # the docks scroll: a laptop screen (768 px less a task bar) holds the window, and a label
    # in a dock that wraps to more lines never makes the window taller
    assert w.minimumSizeHint().height() <= 700 and w.height() == 600
    place = (c.geometry(), c.mapFromScene(QPointF(50, 40)))
    w.service_ctl.label.setText("Backend: " + "a long reason why this backend cannot run here " * 8)
    qtbot.wait(30)
    assert (c.geometry(), c.mapFromScene(QPointF(50, 40))) == place
    w.shot.say("the model server stopped; it is restarting: press Ctrl+R to resume. " * 3)
    qtbot.wait(50)
    assert w.message.isVisible() and w.message.y() == 0
    assert (c.geometry(), c.mapFromScene(QPointF(50, 40))) == place
    seen = []
    w.shot.jobStarted.connect(lambda _k: QTimer.singleShot(0, lambda: seen.append(
        (w.progress.isVisible(), c.geometry(), c.mapFromScene(QPointF(50, 40))))))
    from roto_studio.core.export import ExportOptions

    w.jobs.export_to(str(w.shot.project.folder / "out"), ExportOptions(format="png8"))
    qtbot.waitUntil(lambda: bool(seen))
    wait_job(qtbot, w)
    assert seen[0] == (True, *place)
    w.message.setVisible(False)
    qtbot.wait(30)
    assert (c.geometry(), c.mapFromScene(QPointF(50, 40))) == place

    # a long status message is elided before the coordinate read-out and the colour box
    QTest.mouseMove(c.viewport(), c.mapFromScene(QPointF(30, 30)))
    w.shot.status("Propagating Object 1 forward (2 other objects not propagated: Ctrl+Shift+F runs all) " * 4)
    line, readout = w.status_line, w.pixel_label
    assert line.text() != line.full and line.text().endswith("…") and line.toolTip() == line.full
    assert line.geometry().right() < readout.geometry().left()
    x, y = (float(v) for v in readout.text().split()[1:4:2])
    assert abs(x - 30) <= 0.5 and abs(y - 30) <= 0.5, readout.text()
    combo = w.colour_combo
    assert combo.width() >= combo.fontMetrics().horizontalAdvance(combo.currentText()) + 10


# ---------------------------------------------------------------------------------- tracks

@requires_classical
def test_propagate_all_and_a_track_per_object(qtbot, window, clip):
    w = window
    _open(qtbot, w, clip)
    click_canvas(w, *_disc_centre(0))
    wait_masks(qtbot, w)
    first = w.shot.current_obj
    key(w, Qt.Key.Key_N)
    click_canvas(w, W * 0.75, H * 0.25)  # the blue square
    wait_masks(qtbot, w)
    second = w.shot.current_obj
    assert first != second and w.shot.project.masks.has(second, 0)
    acts = w.actions_by_name
    assert acts["prop_forward"].text() == f"Propagate {w.shot.project.object(second).name} forward"
    assert "2 of 2" in acts["prop_all"].text()
    steps = w.undo.count()
    with qtbot.waitSignal(w.jobEnded, timeout=120000) as ended:
        key(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ended.args == ["propagate", "succeeded"], w.message.text()
    for oid in (first, second):
        assert w.shot.project.masks.frames(oid) == list(range(N))
    assert "Object 1" in w.job_label.text() and "Object 2" in w.job_label.text()

    tracks = w.timeline_column.tracks
    qtbot.waitUntil(lambda: len(tracks.rows) == 2 and all(r["done"] == [(0, N - 1)] for r in tracks.rows))
    rows = {r["id"]: r for r in tracks.rows}
    assert rows[first]["keys"] == [0] and rows[first]["done"] == [(0, N - 1)]
    assert tracks.height() == 4 * 13 + 2  # room for four tracks whatever the count: nothing moves
    # clicking the first object's track selects it and goes to that frame
    QTest.mouseClick(tracks, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(int(w.timeline.x_of(5)), int(tracks.row_y(first))))
    assert w.shot.current_obj == first
    wait_frame(qtbot, w, 5)
    # one undo takes back both objects' propagation
    assert w.undo.count() == steps + 1
    w.undo.undo()
    assert w.shot.project.masks.frames(first) == [0] and w.shot.project.masks.frames(second) == [0]


def test_thumbnail_strip_fills_in_from_a_thread(qtbot, window, clip):
    w = window
    _open(qtbot, w, clip)
    strip = w.timeline_column.thumbs
    slots = strip.slots()
    assert 1 < len(slots) <= N
    qtbot.waitUntil(lambda: all(f in strip.cache for _x, _w, f in strip.slots()), timeout=20000)
    pm = strip.cache[slots[0][2]]
    assert pm.height() == strip.HEIGHT - 4 and pm.width() < 200  # small
    img = pm.toImage().convertToFormat(pm.toImage().Format.Format_RGB888)
    got = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, :img.width() * 3]
    want = cv2.resize(w.shot.media.read(slots[0][2]), (img.width(), img.height()), interpolation=cv2.INTER_AREA)
    assert np.abs(got.reshape(want.shape).astype(int) - want).mean() < 3


# ---------------------------------------------------------------------------------- leak flags

def _leaking_clip(folder):
    """A red disc moving right; from frame 1009 a darker red reflection grows under it."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    bg = np.clip(np.array([70, 110, 90], np.float32) + rng.normal(0, 10, (108, 192, 3)), 0, 255)
    yy, xx = np.mgrid[0:108, 0:192]
    for i in range(16):
        img = bg.copy()
        cx = 40 + 5 * i
        d = (xx - cx) ** 2 + (yy - 40) ** 2 <= 16 ** 2
        img[d] = (200, 50, 45)
        if i >= 9:
            k = min(i - 8, 4)
            img[(((xx - cx) / 15) ** 2 + ((yy - (56 + 3 * k)) / (3 * k + 1)) ** 2 <= 1) & ~d] = (150, 45, 45)
        cv2.imwrite(str(folder / f"p.{1000 + i}.png"), cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2BGR))
    return folder


@requires_classical
def test_a_leak_onto_the_reflection_gets_red_marks_that_say_why(qtbot, window, tmp_path):
    from roto_studio.ops.leak_check import leak_frames
    from roto_studio.workers.jobs import attention_frames

    w = window
    _open(qtbot, w, _leaking_clip(tmp_path / "leak"), first=1000)
    click_canvas(w, 40, 40)
    wait_masks(qtbot, w)
    p, oid = w.shot.project, w.shot.current_obj
    with qtbot.waitSignal(w.attentionChecked, timeout=120000) as checked:
        key(w, Qt.Key.Key_F)
    numbers = list(range(1000, 1016))
    areas = attention_frames(p.masks, oid, numbers[1:], numbers)
    leaks = leak_frames(p.masks, w.shot.media, oid, numbers[1:], numbers, [1000])
    assert leaks and min(leaks) >= 1009, leaks  # the tracker took in the reflection...
    assert set(leaks) - set(areas)  # ...slowly: the area rule alone misses frames
    assert checked.args[0] == {oid: sorted(set(areas) | set(leaks))}
    assert w.timeline.attention == set(areas) | set(leaks)
    # the reason is in the tooltip, on the object's track and on the scrub bar
    f = min(leaks)
    tracks = w.timeline_column.tracks
    qtbot.waitUntil(lambda: bool(tracks.rows and tracks.rows[0]["flagged"]))
    pos = QPoint(int(w.timeline.x_of(f)), int(tracks.row_y(oid)))
    QApplication.sendEvent(tracks, QHelpEvent(QEvent.Type.ToolTip, pos, tracks.mapToGlobal(pos)))
    assert "outside the object's outline on its key frame" in QToolTip.text()
    pos = QPoint(int(w.timeline.x_of(f)), 20)
    QApplication.sendEvent(w.timeline, QHelpEvent(QEvent.Type.ToolTip, pos, w.timeline.mapToGlobal(pos)))
    assert f"frame {f}" in QToolTip.text() and "leaking" in QToolTip.text()
    assert p.settings["attention_why"][oid][str(f)] == leaks[f]  # saved with the project


# ---------------------------------------------------------------------------------- clean plate

@requires_classical
def test_clean_plate_settings_and_view(qtbot, window, clip, tmp_path):
    from roto_studio.ui.cleanplate_view import read_plate_file

    w = window
    _open(qtbot, w, clip)
    click_canvas(w, *_disc_centre(0))
    wait_masks(qtbot, w)
    w.timeline.set_range(0, 3)
    out = tmp_path / "plate"

    def fill(d):
        d.backend.setCurrentIndex(d.backend.findData("opencv"))
        assert not d.seed.isEnabled()  # OpenCV has no seed or prompt
        d.backend.setCurrentIndex(d.backend.findData("auto"))
        d.prompt.setText("grass")
        d.seed.setValue(7)
        d.backend.setCurrentIndex(d.backend.findData("opencv"))
        d.folder.setText(str(out))
        d.accept()

    _when_modal(fill)
    with qtbot.waitSignal(w.jobEnded, timeout=120000) as ended:
        w.actions_by_name["clean_plate"].trigger()
    assert ended.args == ["clean plate", "succeeded"], w.message.text()
    saved = w.shot.project.settings["cleanplate"]
    assert (saved["backend"], saved["prompt"], saved["seed"]) == ("opencv", "grass", 7)  # as the CLI reads them
    files = sorted(out.glob("*_clean.*.png"))
    assert len(files) == 4
    # shown in the canvas at once: the plate without the disc, no masks over it
    act = w.actions_by_name["clean_plate_view"]
    qtbot.waitUntil(lambda: act.isChecked())
    w.playback.set_frame(0)
    wait_frame(qtbot, w, 0)
    plate = read_plate_file(files[0])
    np.testing.assert_array_equal(w.canvas.image, plate)
    assert not w.canvas.overlay_item.isVisible()
    x, y = _disc_centre(0)
    assert w.canvas.image[int(y), int(x), 0] < 180  # the red disc is gone
    w.activateWindow()  # the dialog had the keyboard
    qtbot.waitUntil(w.isActiveWindow)
    key(w, Qt.Key.Key_V, Qt.KeyboardModifier.ShiftModifier)
    wait_frame(qtbot, w, 0)
    assert not act.isChecked()
    np.testing.assert_array_equal(w.canvas.image, w.shot.media.read(0))


@requires_classical
def test_clean_plate_view_without_a_plate_offers_to_render_it(qtbot, window, clip):
    w = window
    _open(qtbot, w, clip)
    click_canvas(w, *_disc_centre(0))
    wait_masks(qtbot, w)
    w.shot.project.settings["cleanplate"] = {"backend": "opencv"}
    w.timeline.set_range(0, 1)
    asked = []
    w.ask = lambda q, t="": asked.append(q) or True
    with qtbot.waitSignal(w.jobEnded, timeout=120000):
        key(w, Qt.Key.Key_V, Qt.KeyboardModifier.ShiftModifier)
    assert asked and "No clean plate of Object 1 yet" in asked[0]
    assert w.actions_by_name["clean_plate_view"].isChecked()


# ---------------------------------------------------------------------------------- track through the shot

def test_track_through_the_shot_makes_objects_in_one_undo(qtbot, window, clip, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("ROTO_TEXT_RANDOM_WEIGHTS", "sam3")
    w = window
    _open(qtbot, w, clip)
    before = [o.id for o in w.shot.project.objects]
    w.timeline.set_range(0, 3)  # a few frames keep the random-weight model quick
    w.find_bar.score.setValue(0.0)
    w.find_bar.track.setChecked(True)
    QTest.keyClicks(w.find_bar.field, "person")
    with qtbot.waitSignal(w.jobEnded, timeout=300000) as ended:
        QTest.keyClick(w.find_bar.field, Qt.Key.Key_Return)
    assert ended.args == ["track", "succeeded"], w.message.text()
    new = [o for o in w.shot.project.objects if o.id not in before]
    assert new, w.message.text()
    assert [o.name for o in new] == [f"person {i + 1}" for i in range(len(new))]
    masks = {o.id: w.shot.project.masks.frames(o.id) for o in new}
    assert max(len(v) for v in masks.values()) > 1  # followed through the shot, not one frame
    assert max(max(v) for v in masks.values()) == 3  # to the end of the range
    for o in new:
        assert w.shot.project.prompts[o.id][masks[o.id][0]].has_mask  # its first frame is a keyframe
    assert "Tracked" in w.job_label.text()
    saved = {(o.id, f): w.shot.project.masks.get(o.id, f) for o in new for f in masks[o.id]}
    w.undo.undo()
    assert [o.id for o in w.shot.project.objects] == before
    assert not any(w.shot.project.masks.frames(o.id) for o in new)
    w.undo.redo()
    assert {o.id for o in w.shot.project.objects} == set(before) | {o.id for o in new}
    for (oid, f), a in saved.items():
        np.testing.assert_allclose(w.shot.project.masks.get(oid, f), a, atol=1 / 65535)


# ---------------------------------------------------------------------------------- export

@requires_classical
@pytest.mark.skipif(shutil.which("exrheader") is None, reason="exrheader not installed (apt install openexr)")
def test_export_dialog_writes_float_exr_in_the_chosen_colour_space(qtbot, window, clip, tmp_path):
    w = window
    _open(qtbot, w, clip)
    click_canvas(w, *_disc_centre(0))
    wait_masks(qtbot, w)
    out = tmp_path / "exports"
    chosen = []

    def fill(d):
        d.format.setCurrentIndex(d.format.findData("exr"))
        assert d.precision.isEnabled() and not d.out_space.isEnabled()  # alpha only: no RGB to convert
        d.rgba.setCurrentIndex(d.rgba.findData("straight"))
        assert d.out_space.isEnabled()
        names = [d.out_space.itemText(i) for i in range(1, d.out_space.count())]
        name = next(n for n in names if "linear" in n.lower() and "709" in n)
        d.out_space.setCurrentIndex(d.out_space.findData(name))
        d.precision.setCurrentIndex(d.precision.findData("float"))
        d.first.setValue(0)
        d.last.setValue(0)
        d.out.setText(str(out))
        chosen.append(name)
        d.accept()

    _when_modal(fill)
    with qtbot.waitSignal(w.jobEnded, timeout=60000) as ended:
        w.actions_by_name["export"].trigger()
    assert ended.args == ["export", "succeeded"], w.message.text()
    files = sorted(out.glob("*.exr"))
    assert len(files) == 1
    head = subprocess.run(["exrheader", str(files[0])], capture_output=True, text=True, check=True).stdout
    assert "32-bit floating-point" in head and "16-bit floating-point" not in head
    assert chosen[0] in head  # the colorSpace attribute names the chosen space
