"""The window's shapes: the outline view draws fitted shapes and points on every frame (keys on
the timeline, the point count in the Edges panel, computed off the GUI thread), the tolerance and
point budget change them, and File > Export shapes... writes a file Silhouette's XML parser reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from PySide6.QtWidgets import QDialogButtonBox

from tests.shapes.shot import FIRST, make_shapes_shot
from tests.ui.helpers import wait_frame


def _points(window):
    return sum(len(item.path().toSubpathPolygons()) for item in window.shapes.overlay.items[1:3])


def test_outline_view_and_export_shapes(qtbot, window, tmp_path):
    shot = make_shapes_shot(tmp_path, frames=6)
    assert window.projects.open_project(shot)
    wait_frame(qtbot, window, FIRST)
    shapes = window.shapes
    assert shapes.overlay.items == []  # off until asked for

    window.actions_by_name["shapes_view"].trigger()  # View > Shapes
    assert shapes.on and window.actions_by_name["shapes_view"].isChecked()
    assert shapes.job is not None  # fitting runs in a worker thread, the window stays live
    qtbot.waitUntil(lambda: shapes.doc is not None and not shapes.job.is_running(), timeout=30000)
    assert shapes.overlay.items and shapes.points > 0
    first = shapes.points
    on_frame = [k for o in shapes.doc.objects for _, k in o.at(FIRST)]
    assert len(on_frame) == 2  # the ring's outline and its hole (the box comes later)
    assert _points(window) == first == sum(len(k) for k in on_frame)  # a marker per anchor of every shape
    curves = sum(len(item.path().toSubpathPolygons()) for item in shapes.overlay.items[0::3])
    assert curves == len(on_frame)
    text = window.findChild(type(shapes.panel.count), "shapes_count").text()
    assert f"{first} points" in text and "ring" in text and "box" in text
    assert FIRST in window.timeline.shape_keys

    # the box appears on the fourth frame: more points there
    window.playback.set_frame(FIRST + 4)
    wait_frame(qtbot, window, FIRST + 4)
    assert shapes.points > first

    # a looser tolerance in the Edges panel: fewer points, computed again
    old = shapes.doc
    shapes.panel.tolerance.setValue(4.0)
    qtbot.waitUntil(lambda: shapes.doc is not old and not shapes.job.is_running(), timeout=30000)
    assert window.shot.project.settings["shapes"]["tolerance"] == 4.0
    assert shapes.points < first + 12

    # the key tolerance is saved with the others and computes the shapes again
    old = shapes.doc
    shapes.panel.key_tolerance.setValue(3.0)
    qtbot.waitUntil(lambda: shapes.doc is not old and not shapes.job.is_running(), timeout=30000)
    assert window.shot.project.settings["shapes"]["key_tolerance"] == 3.0

    # File > Export shapes...
    window.actions_by_name["export_shapes"].trigger()
    dialog = shapes.dialog
    assert dialog is not None and dialog.isVisible()
    dialog.format.setCurrentIndex(dialog.format.findData("silhouette"))
    dialog.out.setText(str(tmp_path / "exported" / "shot"))
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: (tmp_path / "exported" / "shot.fxs").exists()
                    and not shapes.export_job.is_running(), timeout=30000)
    root = ET.parse(tmp_path / "exported" / "shot.fxs").getroot()
    assert root.tag == "Silhouette" and [layer.get("label") for layer in root.findall("Layer")] == ["ring", "box"]
    qtbot.waitUntil(lambda: "Exported shapes" in window.message.text(), timeout=5000)

    # off again: nothing drawn
    window.actions_by_name["shapes_view"].trigger()
    assert not shapes.on and shapes.overlay.items == []
