"""Frame rate per shot (files, assumed, --fps, saved in the project), ProRes timing over a sequence
with gaps (held frames), and EXR cut-outs that keep the plate's precision. Through the CLI."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core.errors import MediaError
from roto_studio.core.framerate import parse_fps
from roto_studio.core.project import load_project
from tests.core.media_gen import frame_index, make_frame, write_exr, write_png, write_video

W, H = 176, 64  # wide enough for make_frame's index blocks


@pytest.mark.parametrize("text, want", [("24", Fraction(24)), ("23.976", Fraction(24000, 1001)),
                                        ("23.98", Fraction(24000, 1001)), ("29.97", Fraction(30000, 1001)),
                                        ("59.94", Fraction(60000, 1001)), ("24000/1001", Fraction(24000, 1001)),
                                        ("12.5", Fraction(25, 2)), (" 25 ", Fraction(25))])
def test_parse_fps(text, want):
    assert parse_fps(text) == want


@pytest.mark.parametrize("text", ["0", "-24", "abc", "1/0", "24/x", "5000", ""])
def test_parse_fps_refuses(text):
    with pytest.raises(MediaError) as err:
        parse_fps(text)
    assert "\n" not in str(err.value)


def exr_with_rate(path, rate):
    import OpenEXR

    rgb = make_frame(0, W, H).astype(np.float32) / 255
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, "framesPerSecond": rate}
    with OpenEXR.File(header, {"RGB": rgb}) as f:
        f.write(str(path))


def info(capsys, *args) -> dict:
    assert main(["info", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_says_where_the_rate_comes_from(tmp_path, capsys):
    (tmp_path / "exr").mkdir()
    for n in (1001, 1002):
        exr_with_rate(tmp_path / "exr" / f"plate.{n}.exr", Fraction(25))
    got = info(capsys, str(tmp_path / "exr" / "plate.####.exr"))
    assert (got["fps"], got["fps_source"]) == ("25/1", "exr")

    (tmp_path / "png").mkdir()
    for n in (1001, 1002):
        write_png(tmp_path / "png" / f"plate.{n}.png", make_frame(n - 1001, W, H))
    png = str(tmp_path / "png" / "plate.####.png")
    got = info(capsys, png)
    assert (got["fps"], got["fps_source"]) == ("24/1", "assumed")
    assert main(["info", png]) == 0
    assert "assumed" in capsys.readouterr().out
    got = info(capsys, png, "--fps", "23.976")
    assert (got["fps"], got["fps_source"]) == ("24000/1001", "set")

    video = write_video(tmp_path / "v.mp4", frames=3, width=W, height=H, rate=Fraction(30))
    got = info(capsys, str(video))
    assert (got["fps"], got["fps_source"]) == ("30/1", "stream")
    assert main(["info", str(video), "--fps", "nope"]) == 2
    assert "frame rate" in capsys.readouterr().err


def read_movie(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate
        frames = list(c.decode(video=0))
        times = [f.pts * f.time_base for f in frames]
        shown = [frame_index(f.to_ndarray(format="rgb24")) for f in frames]
    return rate, times, shown


def test_prores_at_the_shots_rate_with_gap_frames_held(tmp_path, capsys):
    plate = tmp_path / "plate"
    plate.mkdir()
    present = (1001, 1002, 1005, 1006)  # 1003 and 1004 missing
    for n in present:
        write_png(plate / f"plate.{n}.png", make_frame(n - 1001, W, H))
    project = tmp_path / "shot.roto"
    assert main(["segment", str(plate / "plate.####.png"), "--out", str(project), "--frame", "1001",
                 "--box", "20,20,60,50", "--backend", "classical", "--fps", "25"]) == 0
    assert "25 (25), set for this shot" in capsys.readouterr().err
    assert load_project(project).settings["fps"] == "25"

    assert main(["export", str(project), "--out", str(tmp_path / "mov"), "--format", "prores", "--quiet"]) == 0
    rate, times, shown = read_movie(tmp_path / "mov" / "Object_1.mov")
    assert rate == 25
    assert times == [Fraction(i, 25) for i in range(6)]  # 1001..1006: the plate's timing
    assert shown == [0, 1, 1, 1, 4, 5]  # the gap holds frame 1002

    # --fps on export wins for that export (the project keeps its own)
    assert main(["export", str(project), "--out", str(tmp_path / "mov2"), "--format", "prores",
                 "--fps", "23.976", "--quiet"]) == 0
    rate, times, _ = read_movie(tmp_path / "mov2" / "Object_1.mov")
    assert rate == Fraction(24000, 1001)
    assert times == [Fraction(1001 * i, 24000) for i in range(6)]
    assert load_project(project).settings["fps"] == "25"


def exr_channel_types(path) -> dict:
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as f:
        return {k: np.array(v.pixels) for k, v in f.channels().items()}


@pytest.mark.parametrize("kind, rgb_type", [("png16", np.float32), ("png8", np.float16),
                                            ("exr_float", np.float32), ("exr_half", np.float16)])
def test_exr_cutouts_keep_the_plates_precision(tmp_path, capsys, kind, rgb_type):
    plate = tmp_path / "plate"
    plate.mkdir()
    rng = np.random.default_rng(1)
    if kind == "png16":
        img = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
        write_png(plate / "plate.1001.png", img)
        want = img.astype(np.float32) / 65535
    elif kind == "png8":
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        write_png(plate / "plate.1001.png", img)
        want = img.astype(np.float32) / 255
    else:
        img = rng.random((H, W, 3), dtype=np.float32) * 4
        write_exr(plate / "plate.1001.exr", img, half=kind == "exr_half")
        want = img.astype(np.float16).astype(np.float32) if kind == "exr_half" else img
    ext = "exr" if kind.startswith("exr") else "png"
    project = tmp_path / "shot.roto"
    assert main(["segment", str(plate / f"plate.1001.{ext}"), "--out", str(project), "--frame", "1001",
                 "--box", "20,20,60,50", "--backend", "classical"]) == 0
    for extra, alpha_type in (([], np.float16), (["--exr-float"], np.float32)):
        out = tmp_path / f"out{len(extra)}"
        assert main(["export", str(project), "--out", str(out), "--format", "exr", "--rgba", "straight",
                     "--plate-edges", "--quiet", *extra]) == 0, capsys.readouterr().err
        chans = exr_channel_types(out / "Object_1.1001.exr")
        assert chans["A"].dtype == alpha_type
        want_rgb = np.float32 if extra else rgb_type
        assert {chans[c].dtype for c in "RGB"} == {np.dtype(want_rgb)}
        got = np.dstack([chans[c].astype(np.float32) for c in "RGB"])
        if want_rgb == np.float32 or kind != "png16":
            assert np.array_equal(got, want.astype(want_rgb).astype(np.float32))  # no rounding to half
