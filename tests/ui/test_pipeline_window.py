"""The window's File menu: Import masks… stores another tool's 16-bit mask sequence as the current
object's keyframes (one undo step), Conform edit into shots… makes the shot projects."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.ui.helpers import drop_files, wait_frame


def _open(qtbot, window, clip):
    assert drop_files(window, [clip])
    assert window.shot.project is not None, window.message.text()
    wait_frame(qtbot, window, 0)


def test_import_masks_from_the_file_menu(qtbot, window, clip, tmp_path):
    _open(qtbot, window, clip)
    texts = {a.text() for a in window.menus["&File"].actions()}
    assert {"Import masks…", "Conform edit into shots…"} <= texts
    obj = window.shot.current_obj
    masks = tmp_path / "masks"
    masks.mkdir()
    want = {}
    for f in (3, 4, 5):
        a = np.zeros((96, 160), np.uint16)
        a[20:60, 10 * f:10 * f + 40] = 65535
        a[20:60, 10 * f + 40:10 * f + 44] = 30000  # a soft edge
        cv2.imwrite(str(masks / f"m.{f:04d}.png"), a)
        want[f] = a.astype(np.float32) / 65535
    with qtbot.waitSignal(window.pipeline.finished, timeout=30000) as done:
        window.pipeline.import_masks(str(masks))
    assert done.args[0] == "masks" and "Imported 3 masks" in done.args[1]
    p = window.shot.project
    for f, a in want.items():
        np.testing.assert_allclose(p.masks.get(obj, f), a, atol=1 / 65535)
    assert set(p.prompted_frames(obj)) >= {3, 4, 5}
    window.undo.undo()
    assert all(p.masks.get(obj, f) is None for f in want)
    window.undo.redo()
    np.testing.assert_allclose(p.masks.get(obj, 4), want[4], atol=1 / 65535)


def test_conform_from_the_window(qtbot, window, tmp_path):
    otio = pytest.importorskip("opentimelineio")
    from tests.core.media_gen import write_sequence

    write_sequence(tmp_path / "media" / "sh010", "plate", frames=range(1001, 1021), width=32, height=24)
    tc = lambda n: otio.opentime.to_timecode(otio.opentime.RationalTime(n, 24), 24)  # noqa: E731
    edl = tmp_path / "cut.edl"
    edl.write_text(f"TITLE: t\nFCM: NON-DROP FRAME\n\n001  A001     V     C        {tc(1004)} {tc(1010)} "
                   f"{tc(86400)} {tc(86406)}\n* FROM CLIP NAME: sh010\n")
    with qtbot.waitSignal(window.pipeline.finished, timeout=30000) as done:
        window.pipeline.conform_to(str(edl), str(tmp_path / "media"), str(tmp_path / "shots"), handles=2)
    assert "1 shots in cut.edl: 1 placed" in done.args[1]
    from roto_studio.core.project import load_project

    assert load_project(tmp_path / "shots" / "sh010.roto").settings["shot_range"] == [1002, 1011]


def test_export_dialog_offers_cryptomatte(qtbot, window, clip):
    from roto_studio.ui.dialogs import ExportDialog

    _open(qtbot, window, clip)
    d = ExportDialog(window.shot.project, (0, 11), "")
    qtbot.addWidget(d)
    keys = [d.format.itemData(i) for i in range(d.format.count())]
    assert "cryptomatte" in keys
    d.format.setCurrentIndex(keys.index("cryptomatte"))
    assert d.example.text() == f"{window.shot.project.name}.0000.exr"  # one file per frame, every object
    assert d.options().format == "cryptomatte"
