"""The export dialog applies the CLI's cut-out rule (core.export.options.cutout_mode): a premultiplied
PNG or ProRes cut-out is refused with the same one-line reason, and Export is disabled."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_export_dialog_refuses_premultiplied_png_and_prores(qtbot, tmp_path):
    import roto_studio.ui  # noqa: F401 - the PySide6 guard before any Qt call
    from roto_studio.core.project import create_project
    from roto_studio.ui.dialogs import ExportDialog

    project = create_project(tmp_path / "shot.roto", tmp_path / "plate.####.png")
    project.add_object("hero")
    d = ExportDialog(project, (1001, 1010), str(tmp_path / "out"))
    qtbot.addWidget(d)
    export = d.buttons.buttons()[0]
    d.rgba.setCurrentIndex(d.rgba.findData("premultiplied"))
    assert d.example.text() == "hero.1001.exr" and export.isEnabled()  # EXR: premultiplied is its convention
    for fmt, why in (("png16", "PNG stores straight alpha"), ("png8", "PNG stores straight alpha"),
                     ("prores", "ProRes movies carry no premultiplied flag")):
        d.format.setCurrentIndex(d.format.findData(fmt))
        assert why in d.example.text() and not export.isEnabled(), fmt
    d.rgba.setCurrentIndex(d.rgba.findData("straight"))  # changing the cut-out re-checks
    assert d.example.text() == "hero.mov" and export.isEnabled()
    assert d.options().rgba == "straight"
