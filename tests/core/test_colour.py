"""Colour: video decoding with the stream's own matrix and range, the OCIO view the canvas and the
models see, guessed colour spaces, and exports that keep the plate's colour."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from roto_studio.core import colour
from roto_studio.core.media import open_media

KR_KB = {"601": (0.299, 0.114), "709": (0.2126, 0.0722)}
MATRIX_TAG = {"601": 6, "709": 1}


def bars_and_ramp(width: int = 128, height: int = 64) -> np.ndarray:
    """Eight colour bars over a grey ramp, RGB uint8; flat regions so 4:4:4 keeps every value."""
    img = np.zeros((height, width, 3), np.uint8)
    bars = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
            (255, 0, 255), (255, 0, 0), (0, 0, 255), (16, 128, 200)]
    step = width // len(bars)
    for i, c in enumerate(bars):
        img[: height // 2, i * step:(i + 1) * step] = c
    ramp = np.linspace(0, 255, width).round().astype(np.uint8)
    img[height // 2:] = ramp[None, :, None]
    return img


def rgb_to_yuv_codes(rgb8: np.ndarray, matrix: str, full: bool, bits: int) -> list[np.ndarray]:
    """Y, Cb, Cr integer planes by the textbook formulas (BT.601 / BT.709, limited or full range)."""
    kr, kb = KR_KB[matrix]
    rgb = rgb8.astype(np.float64) / 255
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    pb = (b - y) / (2 * (1 - kb))
    pr = (r - y) / (2 * (1 - kr))
    scale = 1 << (bits - 8)
    top = (1 << bits) - 1
    if full:
        yc, cb, cr = y * top, 128 * scale + pb * top, 128 * scale + pr * top
    else:
        yc, cb, cr = (16 + 219 * y) * scale, (128 + 224 * pb) * scale, (128 + 224 * pr) * scale
    return [np.clip(np.rint(p), 0, top).astype(np.uint16 if bits > 8 else np.uint8) for p in (yc, cb, cr)]


def yuv_codes_to_rgb8(planes, matrix: str, full: bool, bits: int) -> np.ndarray:
    """The exact RGB (0..255, float) that those codes stand for."""
    kr, kb = KR_KB[matrix]
    scale = 1 << (bits - 8)
    top = (1 << bits) - 1
    yc, cb, cr = (p.astype(np.float64) for p in planes)
    if full:
        y, pb, pr = yc / top, (cb - 128 * scale) / top, (cr - 128 * scale) / top
    else:
        y, pb, pr = (yc / scale - 16) / 219, (cb / scale - 128) / 224, (cr / scale - 128) / 224
    r = y + 2 * (1 - kr) * pr
    b = y + 2 * (1 - kb) * pb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1) * 255, 0, 255)


def write_tagged(path, planes, matrix: str | None, full: bool | None, bits: int, frames: int = 2):
    import av

    fmt = "yuv444p10le" if bits > 8 else "yuv444p"
    h, w = planes[0].shape
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, fmt
        cc = stream.codec_context
        if matrix is not None:
            cc.colorspace = MATRIX_TAG[matrix]
            cc.color_primaries = 1 if matrix == "709" else 6
            cc.color_trc = 1 if matrix == "709" else 6
        if full is not None:
            cc.color_range = 2 if full else 1
        for _ in range(frames):
            frame = av.VideoFrame(w, h, fmt)
            for plane, data in zip(frame.planes, planes):
                dtype = np.uint16 if bits > 8 else np.uint8
                line = plane.line_size // np.dtype(dtype).itemsize
                buf = np.frombuffer(plane, dtype=dtype).reshape(h, line)
                buf[:, :w] = data
            if matrix is not None:
                frame.colorspace = MATRIX_TAG[matrix]
            if full is not None:
                frame.color_range = 2 if full else 1
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("matrix", ["601", "709"])
def test_tagged_video_decodes_to_known_rgb(tmp_path, matrix, full, bits):
    rgb = bars_and_ramp()
    planes = rgb_to_yuv_codes(rgb, matrix, full, bits)
    expected = yuv_codes_to_rgb8(planes, matrix, full, bits)
    path = write_tagged(tmp_path / f"bars_{matrix}_{full}_{bits}.mkv", planes, matrix, full, bits)
    with open_media(path) as media:
        shown = media.read(media.first_frame).astype(np.float64)
        assert np.abs(shown - expected).max() <= 1.0, (matrix, full, bits, np.abs(shown - expected).max())
        if bits > 8:
            # 10-bit codes hold the source colours to a quarter of an 8-bit step: the decoded deep
            # frame must give back the generated RGB itself
            deep = media.read_full(media.first_frame)
            assert deep.dtype == np.uint16
            deep8 = deep[..., :3].astype(np.float64) / 65535 * 255
            assert np.abs(deep8 - rgb.astype(np.float64)).max() <= 1.0
        info = media.info()
        assert info["colorspace"] == "sRGB Encoded Rec.709 (sRGB)"
        assert "tagged" in info["colorspace_reason"]


def test_untagged_video_follows_ffmpeg_and_says_so(tmp_path):
    rgb = bars_and_ramp(width=1280, height=720)  # HD: FFmpeg still assumes BT.601 when untagged
    planes = rgb_to_yuv_codes(rgb, "601", False, 8)
    expected = yuv_codes_to_rgb8(planes, "601", False, 8)
    path = write_tagged(tmp_path / "untagged.mkv", planes, None, None, 8, frames=1)
    with open_media(path) as media:
        shown = media.read(media.first_frame).astype(np.float64)
        assert np.abs(shown - expected).max() <= 1.0
        info = media.info()
        assert "untagged" in info["colour_decoding"] and "BT.601" in info["colour_decoding"]


def write_exr_plate(path, rgb: np.ndarray, chromaticities=None):
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if chromaticities is not None:
        header["chromaticities"] = tuple(chromaticities)
    with OpenEXR.File(header, {"RGB": rgb.astype(np.float32)}) as f:
        f.write(str(path))


def linear_plate(height=48, width=64, frames=3):
    rng = np.random.default_rng(7)
    return [(rng.random((height, width, 3)) ** 2.2 * 1.5).astype(np.float32) for _ in range(frames)]


def test_linear_exr_view_equals_ocio_processor(tmp_path):
    import OpenEXR
    import PyOpenColorIO as ocio

    chroma = OpenEXR.colorInteropIDToChromaticities("lin_ap1_scene")
    for i, img in enumerate(linear_plate()):
        write_exr_plate(tmp_path / f"plate.{1001 + i:04d}.exr", img, chroma)
    config = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    for view in ("Un-tone-mapped", "ACES 2.0 - SDR 100 nits (Rec.709)"):
        cpu = config.getProcessor("ACEScg", "sRGB - Display", view,
                                  ocio.TRANSFORM_DIR_FORWARD).getDefaultCPUProcessor()
        with open_media(tmp_path / "plate.####.exr") as media:
            assert media.info()["colorspace"] == "ACEScg"
            assert "lin_ap1_scene" in media.info()["colorspace_reason"]
            media.set_view(colour.DisplayView(colour.load_config(), media.colorspace, "sRGB - Display", view))
            for i in range(3):
                native = media.read_full(1001 + i)[..., :3].astype(np.float32).copy()
                flat = native.reshape(-1, 3)
                cpu.applyRGB(flat)
                want = np.rint(np.clip(native, 0, 1) * 255).astype(np.uint8)
                np.testing.assert_array_equal(media.read(1001 + i), want)


def test_srgb_plate_display_unchanged(tmp_path):
    import cv2

    img = bars_and_ramp()
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"s.{i + 1:04d}.png"), img[..., ::-1])
    with open_media(tmp_path / "s.####.png") as media:
        assert media.colorspace == "sRGB Encoded Rec.709 (sRGB)"
        np.testing.assert_array_equal(media.read(1), img)


def test_colorspace_override_and_info_json(tmp_path):
    for i, img in enumerate(linear_plate(frames=2)):
        write_exr_plate(tmp_path / f"p.{i + 1:04d}.exr", img)
    cmd = [sys.executable, "-m", "roto_studio", "info", str(tmp_path / "p.####.exr"), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["colorspace"] == "Linear Rec.709 (sRGB)"
    assert "no chromaticities" in data["colorspace_reason"]
    out = subprocess.run(cmd + ["--colorspace", "ACEScg"], capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    assert data["colorspace"] == "ACEScg" and "chosen" in data["colorspace_reason"]
    bad = subprocess.run(cmd + ["--colorspace", "Nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Nope" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def _cli(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "roto_studio", *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _project_with_mask(tmp_path, media, frame, height, width, extra=()):
    import cv2

    mask = np.zeros((height, width), np.uint8)
    mask[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    project = tmp_path / "shot.roto"
    _cli("segment", media, "--out", project, "--frame", frame, "--mask", tmp_path / "mask.png",
         "--backend", "classical", "--object", "thing", *extra)
    return project, mask > 0


def test_exr_plate_round_trip_bit_exact_with_colour_tags(tmp_path):
    import OpenEXR

    frames = linear_plate(frames=2)
    chroma = OpenEXR.colorInteropIDToChromaticities("lin_ap1_scene")
    for i, img in enumerate(frames):
        write_exr_plate(tmp_path / f"plate.{1001 + i:04d}.exr", img, chroma)
    project, inside = _project_with_mask(tmp_path, tmp_path / "plate.####.exr", 1001, 48, 64)
    out = tmp_path / "out"
    _cli("export", project, "--out", out, "--format", "exr", "--rgba", "straight", "--exr-float", "--quiet")
    with OpenEXR.File(str(out / "thing.1001.exr"), separate_channels=True) as f:
        chans = {k: np.array(v.pixels) for k, v in f.channels().items()}
    with OpenEXR.File(str(out / "thing.1001.exr")) as f:
        header = dict(f.header())
    rgb = np.dstack([chans["R"], chans["G"], chans["B"]])
    np.testing.assert_array_equal(rgb[inside], frames[0][inside])  # bit-exact, float32
    assert header["colorInteropID"] == "lin_ap1_scene"
    assert np.allclose(header["chromaticities"], chroma)
    assert header["colorSpace"] == "ACEScg"
    # an output space converts the colour (OCIO, as PyOpenColorIO does it) but never the matte
    import PyOpenColorIO as ocio

    conv = tmp_path / "conv"
    _cli("export", project, "--out", conv, "--format", "exr", "--rgba", "straight", "--exr-float",
         "--out-colorspace", "Linear Rec.709 (sRGB)", "--quiet")
    with OpenEXR.File(str(conv / "thing.1001.exr"), separate_channels=True) as f:
        got = {k: np.array(v.pixels) for k, v in f.channels().items()}
    with OpenEXR.File(str(conv / "thing.1001.exr")) as f:
        assert f.header()["colorInteropID"] == "lin_rec709_scene"
    config = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    want = frames[0].copy()
    config.getProcessor("ACEScg", "Linear Rec.709 (sRGB)").getDefaultCPUProcessor().applyRGB(want.reshape(-1, 3))
    np.testing.assert_allclose(np.dstack([got["R"], got["G"], got["B"]]), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got["A"], chans["A"])


def test_png16_plate_round_trip_exact_and_linear_png_note(tmp_path):
    import cv2

    rng = np.random.default_rng(3)
    plate = rng.integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"p.{i + 1:04d}.png"), plate[..., ::-1])
    project, inside = _project_with_mask(tmp_path, tmp_path / "p.####.png", 1, 40, 56)
    out = tmp_path / "out"
    _cli("export", project, "--out", out, "--format", "png16", "--rgba", "straight", "--quiet")
    back = cv2.imread(str(out / "thing.0001.png"), cv2.IMREAD_UNCHANGED)
    back = cv2.cvtColor(back, cv2.COLOR_BGRA2RGBA)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[..., :3][inside], plate[inside])

    lin = tmp_path / "lin"
    lin.mkdir()
    frames = linear_plate(frames=1)
    write_exr_plate(lin / "l.0001.exr", frames[0])
    project, inside = _project_with_mask(lin, lin / "l.####.exr", 1, 48, 64)
    done = _cli("export", project, "--out", lin / "out", "--format", "png16", "--rgba", "straight", "--quiet")
    assert "converted to sRGB Encoded Rec.709 (sRGB)" in done.stderr
    import PyOpenColorIO as ocio

    want = frames[0].copy()
    ocio.Config.CreateFromFile("ocio://studio-config-latest").getProcessor(
        "Linear Rec.709 (sRGB)", "sRGB Encoded Rec.709 (sRGB)").getDefaultCPUProcessor().applyRGB(want.reshape(-1, 3))
    back = cv2.cvtColor(cv2.imread(str(lin / "out" / "thing.0001.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    expect = np.rint(np.clip(want, 0, 1) * 65535).astype(np.int64)
    assert np.abs(back[..., :3].astype(np.int64) - expect).max() <= 1


def test_prores_carries_the_source_colour_tags(tmp_path):
    import av

    rgb = bars_and_ramp(width=64, height=48)
    planes = rgb_to_yuv_codes(rgb, "601", False, 8)
    src = write_tagged(tmp_path / "ntsc.mkv", planes, "601", False, 8, frames=3)
    project, _ = _project_with_mask(tmp_path, src, 0, 48, 64)
    _cli("export", project, "--out", tmp_path / "out", "--format", "prores", "--quiet")
    with av.open(str(src)) as a, av.open(str(tmp_path / "out" / "thing.mov")) as b:
        sa, sb = a.streams.video[0].codec_context, b.streams.video[0].codec_context
        assert (sb.color_primaries, sb.color_trc, sb.colorspace) == (sa.color_primaries, sa.color_trc, sa.colorspace)
        assert (sb.color_primaries, sb.color_trc, sb.colorspace) == (6, 6, 6)
        decoded = next(b.decode(video=0))
    with open_media(tmp_path / "out" / "thing.mov") as movie:
        shown = movie.read(0).astype(np.int64)
    assert np.abs(shown - rgb.astype(np.int64)).max() <= 3  # 10-bit 4:4:4 ProRes, lossy but close
    assert decoded.colorspace == 6


def test_project_keeps_its_ocio_config_and_ocio_env_wins(tmp_path, monkeypatch):
    import PyOpenColorIO as ocio

    from roto_studio.core.project import create_project, load_project

    for i, img in enumerate(linear_plate(frames=1)):
        write_exr_plate(tmp_path / f"p.{i + 1:04d}.exr", img)
    monkeypatch.delenv("OCIO", raising=False)
    project = create_project(tmp_path / "shot.roto", tmp_path / "p.####.exr")
    with project.open_media() as media:
        latest = media.colour_config.name
    assert latest == ocio.ResolveConfigPath("ocio://studio-config-latest")
    assert project.settings["ocio_config"] == latest
    # a project saved by an older OCIO keeps its own (older) built-in config when reopened
    older = "ocio://studio-config-v2.2.0_aces-v1.3_ocio-v2.4"
    project.settings["ocio_config"] = older
    project.save()
    with load_project(project.folder).open_media() as media:
        assert media.colour_config.name == older and media.colorspace == "Linear Rec.709 (sRGB)"
    # $OCIO, when set, is the config, and the project's saved name is not replaced by it
    path = tmp_path / "studio.ocio"
    path.write_text(ocio.Config.CreateFromFile("ocio://studio-config-latest").serialize())
    monkeypatch.setenv("OCIO", str(path))
    reopened = load_project(project.folder)
    with reopened.open_media() as media:
        assert media.colour_config.name == str(path) and media.colour_config.source == "$OCIO"
    assert reopened.settings["ocio_config"] == older
    out = _cli("info", tmp_path / "p.####.exr", "--json")
    assert json.loads(out.stdout)["ocio_config"] == str(path)


def test_a_config_without_the_guessed_space_says_so(tmp_path):
    """A config with no sRGB space (nor a role for one) cannot name a PNG's colour space: the
    user is told to choose one (before, None went on to OCIO: "basic_string: construction from null")."""
    import PyOpenColorIO as ocio

    import cv2

    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((64, 64, 3), np.uint8))
    raw = colour.Config(name="raw", source="$OCIO", ocio=ocio.Config.CreateRaw())
    assert colour.guess_colorspace(raw, {"kind": "png"}).name is None
    with open_media(tmp_path / "still.png") as media:
        with pytest.raises(colour.ColourError, match="choose the input colour space"):
            media.configure_colour(raw)
        media.configure_colour(raw, colorspace="raw", display="sRGB", view="Raw")  # a chosen space works
        assert media.colorspace == "raw"
