"""The shot's frame rate in the window: Edit > Shot settings, undoable, saved with the project,
used when the project is opened again."""

from __future__ import annotations

from fractions import Fraction

from tests.ui.helpers import drop_files, wait_frame


def test_frame_rate_is_a_shot_setting(qtbot, window, clip, tmp_path):
    from roto_studio.ui.dialogs import ShotSettingsDialog

    assert drop_files(window, [clip]) and window.shot.project is not None
    wait_frame(qtbot, window, 0)
    media, project = window.shot.media, window.shot.project
    files_rate = media.fps
    assert media.fps_source == "stream"
    assert window.actions_by_name["shot_settings"].isEnabled()

    d = ShotSettingsDialog(media, None)
    qtbot.addWidget(d)
    assert d.value() == ""  # first entry: the files' own rate
    assert "From the files" in d.fps.currentText()
    d.fps.setCurrentIndex(d.fps.findData("25"))
    assert d.value() == "25"
    d.fps.setEditText("23.976")
    assert d.value() == "23.976"

    assert window.projects.set_fps(d.value())
    assert media.fps == Fraction(24000, 1001) and media.fps_source == "set"
    assert project.settings["fps"] == "24000/1001"
    assert window.undo.undoText() == "Frame rate 23.976"
    window.undo.undo()
    assert media.fps == files_rate and media.fps_source == "stream"
    window.undo.redo()
    assert media.fps == Fraction(24000, 1001)
    assert not window.projects.set_fps("fast")  # a bad rate: one line, nothing changes
    assert "frame rate" in window.message.text()
    assert media.fps == Fraction(24000, 1001)

    assert window.projects.save_project_as(tmp_path / "saved.roto")
    assert window.projects.open_project(tmp_path / "saved.roto")
    wait_frame(qtbot, window, 0)
    assert window.shot.media.fps == Fraction(24000, 1001) and window.shot.media.fps_source == "set"
    d = ShotSettingsDialog(window.shot.media, window.shot.project.settings.get("fps"))
    qtbot.addWidget(d)
    assert d.value() == "23.976"
