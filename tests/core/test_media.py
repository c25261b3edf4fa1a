"""Media layer: frame-exact video access, VFR, precision, sequences, EXR, errors, info CLI."""

from __future__ import annotations

import json
import random
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from roto_studio.core.errors import MediaError
from roto_studio.core.media import open_media, sequence_pattern_for

try:
    from . import media_gen as gen
except ImportError:  # tests/core is not a package: pytest puts it on sys.path
    import media_gen as gen

W, H = 192, 128  # wide enough for the 10 index blocks


def plain_decode(path) -> list[np.ndarray]:
    """Reference: a plain sequential PyAV decode (untagged: BT.601 limited range, accurate rounding)."""
    from av.video.reformatter import Interpolation

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24", src_colorspace="ITU601", dst_colorspace="ITU601",
                             src_color_range="MPEG", dst_color_range="JPEG",
                             interpolation=Interpolation.BILINEAR | Interpolation.ACCURATE_RND)
                for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """Long-GOP H.264 (keyint 250, 3 B-frames) in mp4, with its plain sequential decode."""
    path = gen.write_video(tmp_path_factory.mktemp("v") / "long_gop.mp4", frames=280, width=W,
                           height=H, gop=250, bframes=3)
    return path, plain_decode(path)


@pytest.fixture(scope="module")
def open_gop(tmp_path_factory):
    """Open-GOP H.264 with B-frames in mkv at 24000/1001 (coarse 1 ms timestamps)."""
    path = gen.write_video(tmp_path_factory.mktemp("v") / "open_gop.mkv", frames=90, width=W, height=H,
                           rate=Fraction(24000, 1001), gop=30, bframes=3,
                           options={"x264-params": "open-gop=1"})
    return path, plain_decode(path)


def test_long_gop_file_really_has_b_frames_and_long_gop(long_gop):
    path, _ = long_gop
    with av.open(str(path)) as c:
        packets = [(p.pts, p.dts, p.is_keyframe) for p in c.demux(video=0) if p.size]
    assert any(pts != dts for pts, dts, _ in packets)  # reordered: B-frames present
    keys = [i for i, (_, _, k) in enumerate(packets) if k]
    assert keys[:2] == [0, 250]


@pytest.mark.parametrize("skip_nonref", [True, False])
def test_long_gop_random_access_equals_sequential_decode(long_gop, skip_nonref):
    path, reference = long_gop
    assert len(reference) == 280
    assert [gen.frame_index(f) for f in reference] == list(range(280))
    frames = [0, 1, 2, 3, 248, 249, 250, 251, 252, 253, 279, 278, 125, 124, 0, 279]
    rng = random.Random(7)
    frames += rng.sample(range(280), 30)
    with open_media(path, cache_bytes=0) as media:
        media._backend.skip_nonref = skip_nonref
        assert media.kind == "video" and media.frame_count == 280
        assert (media.first_frame, media.last_frame) == (0, 279)
        assert media.frame_numbers == list(range(280))
        for n in frames:
            image = media.read(n)
            assert image.shape == (H, W, 3) and image.dtype == np.uint8
            assert gen.frame_index(image) == n
            assert np.array_equal(image, reference[n]), f"frame {n} differs from the sequential decode"


def test_jumps_then_steps_forward_and_back(long_gop):
    """Scrubbing: jump anywhere, step forward a few frames, step back a few frames."""
    path, reference = long_gop
    rng = random.Random(11)
    with open_media(path, cache_bytes=0) as media:
        for start in [251, 130, 7] + rng.sample(range(20, 260), 4):
            for n in list(range(start, start + 6)) + list(range(start + 4, max(-1, start - 15), -1)):
                assert np.array_equal(media.read(n), reference[n]), (start, n)


def test_open_gop_every_frame_in_random_order(open_gop):
    path, reference = open_gop
    order = list(range(len(reference)))
    random.Random(3).shuffle(order)
    with open_media(path, cache_bytes=0) as media:
        assert media.fps == Fraction(24000, 1001)
        assert media.variable_frame_rate is False
        assert media.info()["fps"] == "24000/1001"
        for n in order:
            assert np.array_equal(media.read(n), reference[n]), n


def test_sequential_reads_do_not_seek_and_backward_jumps_do(open_gop):
    path, reference = open_gop
    with open_media(path, cache_bytes=0) as media:
        backend = media._backend
        seeks = backend.seeks
        for n in range(len(reference)):
            media.read(n)
        assert backend.seeks == seeks  # playing forward keeps the decoder position
        assert backend.decoded <= len(reference) + 8
        media.read(5)
        assert backend.seeks == seeks + 1
        # a jump forward past the next keyframe seeks instead of decoding everything between
        decoded = backend.decoded
        media.read(80)
        assert backend.decoded - decoded < 60


def test_threads_reading_at_once_get_the_right_frames(open_gop):
    path, reference = open_gop
    errors = []
    with open_media(path, cache_bytes=8 * 1024 * 1024) as media:
        def worker(seed):
            rng = random.Random(seed)
            for _ in range(25):
                n = rng.randrange(len(reference))
                if not np.array_equal(media.read(n), reference[n]):
                    errors.append(n)

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_cache_is_bounded_and_read_only(open_gop):
    path, _ = open_gop
    frame_bytes = W * H * 3
    with open_media(path, cache_bytes=frame_bytes * 5) as media:
        for n in range(20):
            media.read(n)
        assert len(media.cache) == 5 and media.cache.nbytes <= frame_bytes * 5
        a = media.read(19)
        assert media.read(19) is a  # served from the cache
        with pytest.raises(ValueError):
            a[0, 0, 0] = 1


def test_variable_frame_rate_detected_from_timestamps(tmp_path):
    pts = [0, 40, 80, 120, 200, 240, 280, 400, 440, 480]
    for ext in ("mp4", "mkv"):
        path = gen.write_video(tmp_path / f"vfr.{ext}", frames=10, width=W, height=H, pts=pts,
                               time_base=Fraction(1, 1000), rate=Fraction(25), bframes=0)
        with open_media(path) as media:
            assert media.variable_frame_rate is True, ext
            assert media.frame_count == 10
            assert gen.frame_index(media.read(7)) == 7
    cfr = gen.write_video(tmp_path / "cfr.mkv", frames=20, width=W, height=H, rate=Fraction(30000, 1001),
                          bframes=0)
    with open_media(cfr) as media:
        assert media.variable_frame_rate is False
        assert media.fps == Fraction(30000, 1001)


def test_ten_bit_lossless_source_keeps_its_precision(tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 1024, (H, W, 3), dtype=np.uint16) for _ in range(3)]
    path = tmp_path / "ten.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "gbrp10le"
        for f in frames:
            for p in stream.encode(av.VideoFrame.from_ndarray(f, format="gbrp10le")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    with open_media(path) as media:
        assert media.pixel_format == "gbrp10le" and media.bit_depth == 10
        for i in (2, 0, 1):
            full = media.read_full(i)
            assert full.dtype == np.uint16 and full.shape == (H, W, 3)
            assert np.array_equal(full >> 6, frames[i])  # every 10-bit code survives
            assert int(full.max()) > 65000  # scaled to the full 16-bit range
        assert media.read(1).dtype == np.uint8


@pytest.mark.parametrize("codec,pix_fmt,depth,channels", [
    ("prores_ks", "yuv422p10le", 10, 3),
    ("prores_ks", "yuva444p10le", 12, 4),  # ProRes 4444 decodes as 12-bit with alpha
])
def test_high_bit_depth_codecs_report_depth_and_return_uint16(tmp_path, codec, pix_fmt, depth, channels):
    path = gen.write_video(tmp_path / f"{pix_fmt}.mov", frames=3, width=W, height=H, codec=codec,
                           pix_fmt=pix_fmt)
    with open_media(path) as media:
        assert media.bit_depth == depth
        full = media.read_full(1)
        assert full.dtype == np.uint16 and full.shape == (H, W, channels)
        assert len(np.unique(full[..., :3])) > 1024  # finer than 8-bit steps
        # the 8-bit view agrees with the 16-bit one
        assert np.abs(media.read(1).astype(int) - np.round(full[..., :3] / 257)).max() <= 1
        assert gen.frame_index(media.read(1)) == 1


# image sequences ---------------------------------------------------------------------------

def test_sequence_with_gaps_keeps_plate_numbers_and_reports_gaps(tmp_path):
    numbers = [1001, 1002, 1003, 1006, 1007, 1010]
    gen.write_sequence(tmp_path, frames=numbers, width=W, height=H)
    with open_media(tmp_path / "plate.####.png") as media:
        assert media.kind == "sequence"
        assert media.frame_numbers == numbers
        assert (media.first_frame, media.last_frame, media.frame_count) == (1001, 1010, 6)
        assert media.missing_frames == [1004, 1005, 1008, 1009]
        for n in numbers:
            assert gen.frame_index(media.read(n)) == n
        with pytest.raises(MediaError, match=r"frame 1004 is missing.*1004-1005, 1008-1009"):
            media.read(1004)
        with pytest.raises(MediaError, match="outside"):
            media.read(1011)
        info = media.info()
        assert info["missing_frames"] == [1004, 1005, 1008, 1009]


@pytest.mark.parametrize("spec", ["plate.####.png", "plate.%04d.png", "plate.@@@@.png", "plate.$F4.png", ""])
def test_sequence_patterns_and_folder_open_the_same_frames(tmp_path, spec):
    gen.write_sequence(tmp_path, frames=range(1001, 1006), width=W, height=H)
    (tmp_path / "notes.txt").write_text("not part of the shot")
    with open_media(tmp_path / spec if spec else tmp_path) as media:
        assert media.frame_numbers == [1001, 1002, 1003, 1004, 1005]
        assert np.array_equal(media.read(1003), gen.make_frame(2, W, H))


def test_unpadded_and_folder_of_plain_numbers(tmp_path):
    for n in (8, 9, 10, 11):
        gen.write_png(tmp_path / f"{n}.png", gen.make_frame(n, W, H))
    with open_media(tmp_path / "%d.png") as media:
        assert media.frame_numbers == [8, 9, 10, 11]
    with open_media(tmp_path) as media:
        assert media.frame_numbers == [8, 9, 10, 11]
        assert gen.frame_index(media.read(10)) == 10


def test_padding_must_match(tmp_path):
    gen.write_sequence(tmp_path, frames=range(1, 4), pad=4)
    with pytest.raises(MediaError, match="no files match.*plate.0001.png"):
        open_media(tmp_path / "plate.%06d.png")
    with pytest.raises(MediaError, match="no files match"):
        open_media(tmp_path / "other.####.png")


def test_single_still_is_a_one_frame_shot(tmp_path):
    paths = gen.write_sequence(tmp_path, frames=range(1001, 1004), width=W, height=H)
    with open_media(paths[1]) as media:
        assert media.kind == "image"
        assert media.frame_numbers == [1002] and media.frame_count == 1
        assert gen.frame_index(media.read(1002)) == 1
    assert sequence_pattern_for(paths[1]) == str(tmp_path / "plate.####.png")
    photo = gen.write_png(tmp_path / "photo.jpg", gen.make_frame(3, W, H))
    with open_media(photo) as media:
        assert media.frame_numbers == [0]
        assert media.read(0).shape == (H, W, 3)
    assert sequence_pattern_for(photo) is None


def test_sixteen_bit_png_sequence_is_exact_and_rgb(tmp_path):
    rng = np.random.default_rng(2)
    frames = {n: rng.integers(0, 65536, (24, 32, 3), dtype=np.uint16) for n in (1, 2)}
    for n, img in frames.items():
        gen.write_png(tmp_path / f"deep.{n:04d}.png", img)
    with open_media(tmp_path / "deep.####.png") as media:
        assert media.bit_depth == 16 and media.pixel_format == "rgb48le"
        full = media.read_full(2)
        assert full.dtype == np.uint16 and np.array_equal(full, frames[2])  # RGB order, exact
        assert np.abs(media.read(2).astype(int) - np.round(frames[2] / 257)).max() <= 1


def test_exr_float_sequence_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(3)
    frames = {n: (rng.random((24, 32, 3)) * 4 - 0.5).astype(np.float32) for n in (1001, 1002, 1003)}
    for n, img in frames.items():
        gen.write_exr(tmp_path / f"plate.{n}.exr", img)
    with open_media(tmp_path / "plate.####.exr") as media:
        assert media.frame_numbers == [1001, 1002, 1003]
        assert media.bit_depth == 32 and media.pixel_format == "rgbf32le"
        full = media.read_full(1002)
        assert full.dtype == np.float32 and np.array_equal(full, frames[1002])
        shown = media.read(1002)
        assert shown.dtype == np.uint8
        # scene-linear 0.5 -> sRGB 188; negatives -> 0, over 1 -> 255
        probe = frames[1002]
        assert np.all(shown[probe <= 0] == 0) and np.all(shown[probe >= 1] == 255)


def test_exr_half_rgba_and_luminance_only(tmp_path):
    rgba = np.random.default_rng(4).random((16, 20, 4)).astype(np.float32)
    gen.write_exr(tmp_path / "a.exr", rgba, half=True)
    with open_media(tmp_path / "a.exr") as media:
        assert media.bit_depth == 16 and media.has_alpha
        full = media.read_full(0)
        assert full.shape == (16, 20, 4) and full.dtype == np.float32
        assert np.array_equal(full, rgba.astype(np.float16).astype(np.float32))
    y = np.linspace(0, 1, 16 * 20, dtype=np.float32).reshape(16, 20)
    gen.write_exr(tmp_path / "y.exr", y)
    with open_media(tmp_path / "y.exr") as media:
        full = media.read_full(0)
        assert full.shape == (16, 20, 3)
        assert np.array_equal(full[..., 0], y) and np.array_equal(full[..., 2], y)


def test_mixed_sizes_name_the_odd_frame(tmp_path):
    gen.write_sequence(tmp_path, frames=range(1, 4), width=64, height=48)
    gen.write_png(tmp_path / "plate.0004.png", np.zeros((10, 12, 3), np.uint8))
    with open_media(tmp_path / "plate.####.png") as media:
        media.read(3)
        with pytest.raises(MediaError, match=r"frame 4 .*12x10.*64x48"):
            media.read(4)


# errors ------------------------------------------------------------------------------------

def test_bad_media_gives_clear_errors(tmp_path, open_gop):
    src, _ = open_gop
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty \(0 bytes\)"):
        open_media(tmp_path / "empty.mp4")
    with pytest.raises(MediaError, match="does not exist"):
        open_media(tmp_path / "missing.mov")
    data = src.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    with open_media(tmp_path / "cut.mkv") as media:  # what is there still reads
        assert 0 < media.frame_count < 90
        media.read(media.last_frame)
    mp4 = gen.write_video(tmp_path / "x.mp4", frames=5, width=W, height=H)
    (tmp_path / "cut.mp4").write_bytes(mp4.read_bytes()[:2000])
    with pytest.raises(MediaError, match="damaged or incomplete"):
        open_media(tmp_path / "cut.mp4")
    gen.write_audio_only(tmp_path / "sound.m4a")
    with pytest.raises(MediaError, match="no video stream"):
        open_media(tmp_path / "sound.m4a")
    at = data.find(b"V_MPEG4/ISO/AVC")
    (tmp_path / "alien.mkv").write_bytes(data[:at] + b"V_ZZZZZ/ISO/ZZZ" + data[at + 15:])
    with pytest.raises(MediaError, match="codec FFmpeg cannot decode"):
        open_media(tmp_path / "alien.mkv")
    (tmp_path / "fake.png").write_text("this is text")
    with pytest.raises(MediaError, match="not an image"):
        open_media(tmp_path / "fake.png")


def test_info_cli_json_and_text(tmp_path, open_gop, capsys):
    from roto_studio.cli import main

    path, _ = open_gop
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("width", "height", "frame_count", "first_frame", "last_frame", "fps",
                "variable_frame_rate", "pixel_format", "bit_depth"):
        assert key in info
    assert (info["width"], info["height"], info["frame_count"]) == (W, H, 90)
    assert info["fps"] == "24000/1001" and info["variable_frame_rate"] is False
    assert info["pixel_format"] == "yuv420p" and info["bit_depth"] == 8
    gen.write_sequence(tmp_path, frames=[1001, 1003])
    assert main(["info", str(tmp_path / "plate.####.png")]) == 0
    out = capsys.readouterr().out
    assert "1001-1003" in out and "missing:       1002" in out
    assert main(["info", str(tmp_path / "nope.mov")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err
