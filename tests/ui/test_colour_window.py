"""Colour in the window: a linear EXR plate is shown through the OCIO view (equal to PyOpenColorIO's
processor applied directly), the model input is that same image, an sRGB plate shows unchanged,
and the colour space / view choices are saved."""

from __future__ import annotations

import numpy as np

from tests.ui.helpers import drop_files, wait_frame


def write_linear_plate(folder, frames=3, height=48, width=64):
    import OpenEXR

    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    plates = []
    for i in range(frames):
        img = (rng.random((height, width, 3)) ** 2.2 * 1.4).astype(np.float32)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                  "chromaticities": OpenEXR.colorInteropIDToChromaticities("lin_ap1_scene")}
        with OpenEXR.File(header, {"RGB": img}) as f:
            f.write(str(folder / f"plate.{1001 + i:04d}.exr"))
        plates.append(img)
    return folder / "plate.####.exr", plates


def ocio_view(img, space, display, view):
    import PyOpenColorIO as ocio

    config = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    cpu = config.getProcessor(space, display, view, ocio.TRANSFORM_DIR_FORWARD).getDefaultCPUProcessor()
    out = img.copy()
    cpu.applyRGB(out.reshape(-1, 3))
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


def test_canvas_and_models_see_the_ocio_view(qtbot, window, tmp_path):
    pattern, plates = write_linear_plate(tmp_path / "plates")
    assert drop_files(window, [pattern])
    wait_frame(qtbot, window, 1001)
    assert window.colour_combo.currentText() == "ACEScg"
    assert "lin_ap1_scene" in window.colour_combo.toolTip()
    want = ocio_view(plates[0], "ACEScg", "sRGB - Display", "Un-tone-mapped")
    np.testing.assert_array_equal(window.canvas.image, want)

    # View > Display / view: ACES 2.0 SDR; the canvas and the engine's frames follow
    act = window.colour.view_actions[("sRGB - Display", "ACES 2.0 - SDR 100 nits (Rec.709)")]
    act.trigger()
    qtbot.waitUntil(lambda: window.playback.reader.idle() and window.canvas.image is not None
                    and not np.array_equal(window.canvas.image, want), timeout=10000)
    aces = ocio_view(plates[0], "ACEScg", "sRGB - Display", "ACES 2.0 - SDR 100 nits (Rec.709)")
    np.testing.assert_array_equal(window.canvas.image, aces)
    from roto_studio.models.engine import Engine

    engine = Engine.local(window.shot.project, backend="classical")
    np.testing.assert_array_equal(engine.media.read(1001), aces)  # the models' input
    assert window.settings.value("colour/view") == "ACES 2.0 - SDR 100 nits (Rec.709)"

    # the input colour space combo: the project remembers it, the engine follows
    assert window.colour.set_space("Linear Rec.709 (sRGB)")
    assert window.shot.project.settings["colorspace"] == "Linear Rec.709 (sRGB)"
    other = ocio_view(plates[0], "Linear Rec.709 (sRGB)", "sRGB - Display", "ACES 2.0 - SDR 100 nits (Rec.709)")
    np.testing.assert_array_equal(engine.media.read(1001), other)
    qtbot.waitUntil(lambda: window.playback.reader.idle() and np.array_equal(window.canvas.image, other), timeout=10000)
    engine.close()


def test_srgb_plate_shows_unchanged(qtbot, window, clip):
    from roto_studio.core.media import open_media

    assert drop_files(window, [clip])
    wait_frame(qtbot, window, 0)
    assert window.colour_combo.currentText() == "sRGB Encoded Rec.709 (sRGB)"
    with open_media(clip) as media:
        raw = media._backend.to_array(media._backend.decode(0), False)
    np.testing.assert_array_equal(window.canvas.image, raw)
