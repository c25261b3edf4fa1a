"""Hostile media: a corpus generated here (nothing committed) of broken, odd and malicious inputs.

Each case either opens and reads (the ones an artist should be able to use) or gives a MediaError
whose message is one line saying what is wrong and what to do: never another exception, never a
hang, and the input files are left as they were.
"""

from __future__ import annotations

import os
import signal
import struct
import zlib
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from roto_studio.core.errors import MediaError
from roto_studio.core.media import open_media

try:
    from . import media_gen as gen
except ImportError:  # tests/core is not a package: pytest puts it on sys.path
    import media_gen as gen

W, H = 160, 96


# ------------------------------------------------------------------------------ corpus makers

def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def png_with_header(path: Path, width: int, height: int, payload: bytes = b"") -> Path:
    """A PNG signature + IHDR claiming width x height, then (little or no) data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + payload)
    return path


def jpeg_with_header(path: Path, width: int, height: int) -> Path:
    """A real small JPEG whose frame header (SOF) is patched to claim width x height."""
    data = bytearray(gen.write_png(path, gen.make_frame(1, 32, 16)).read_bytes())
    pos = data.find(b"\xff\xc0")
    data[pos + 5:pos + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def exr_with_window(path: Path, width: int, height: int) -> Path:
    """A small EXR whose data and display windows are patched to width x height."""
    gen.write_exr(path, np.zeros((4, 4, 3), np.float32))
    data = bytearray(path.read_bytes())
    for name in (b"dataWindow\x00box2i\x00", b"displayWindow\x00box2i\x00"):
        pos = data.find(name) + len(name) + 4  # skip the attribute size
        data[pos:pos + 16] = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    path.write_bytes(bytes(data))
    return path


def y4m(path: Path, width: int, height: int, frames: int = 1) -> Path:
    frame = b"FRAME\n" + bytes(max(0, width * height * 3 // 2)) if width * height < 1 << 20 else b"FRAME\n"
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F24:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path


def video(d: Path, name="clip.mkv", frames=24, **kw) -> Path:
    return gen.write_video(d / name, frames=frames, width=W, height=H, **kw)


def truncated(d: Path, name: str, keep: float) -> Path:
    src = video(d, "src" + Path(name).suffix)
    data = src.read_bytes()
    out = d / name
    out.write_bytes(data[: int(len(data) * keep)])
    src.unlink()
    return out


def garbage_inside(d: Path) -> Path:
    path = video(d, "noisy.mkv", frames=30)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(5)
    start = len(data) // 3
    data[start:start + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def unknown_codec_mkv(d: Path) -> Path:
    path = video(d, "alien.mkv", frames=6)
    data = path.read_bytes()
    assert b"V_MPEG4/ISO/AVC" in data
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/QQQ"))
    return path


def unknown_fourcc_avi(d: Path) -> Path:
    path = video(d, "alien.avi", frames=6, codec="mpeg4", bframes=0)
    data = bytearray(path.read_bytes())
    for tag in (b"FMP4", b"fmp4", b"mp4v", b"MP4V", b"DIVX", b"XVID"):
        data = data.replace(tag, b"QQ9Z")
    path.write_bytes(bytes(data))
    return path


def sequence(d: Path, frames, name="plate", **kw) -> Path:
    gen.write_sequence(d, name=name, frames=frames, width=W, height=H, **kw)
    return d / f"{name}.####.png"


def mixed_sizes(d: Path) -> Path:
    pattern = sequence(d, range(1, 4))
    gen.write_png(d / "plate.0004.png", gen.make_frame(4, W * 2, H * 2))
    return pattern


def mixed_depths(d: Path) -> Path:
    pattern = sequence(d, range(1, 4))
    gen.write_png(d / "plate.0004.png", gen.make_frame(4, W, H).astype(np.uint16) * 257)
    return pattern


def mixed_depths_deep(d: Path) -> Path:
    """16-bit frames with one 8-bit frame: exports at full precision must not mix them."""
    for n in (1, 2, 3):
        gen.write_png(d / f"plate.{n:04d}.png", gen.make_frame(n, W, H).astype(np.uint16) * 257)
    gen.write_png(d / "plate.0004.png", gen.make_frame(4, W, H))
    return d / "plate.####.png"


def text_as(d: Path, name: str) -> Path:
    path = d / name
    path.write_text("this is a text file, not media\n" * 10)
    return path


def symlink_loop(d: Path) -> Path:
    (d / "a.mov").symlink_to(d / "b.mov")
    (d / "b.mov").symlink_to(d / "a.mov")
    return d / "a.mov"


def broken_link(d: Path) -> Path:
    (d / "gone.mp4").symlink_to(d / "never-existed.mp4")
    return d / "gone.mp4"


def fifo(d: Path) -> Path:
    path = d / "pipe.mp4"
    os.mkfifo(path)
    return path


def exr_without_rgb(d: Path) -> Path:
    import OpenEXR

    path = d / "depth.exr"
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"Z": np.zeros((8, 8), np.float32)}).write(str(path))
    return path


def cut_file(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def two_sequences(d: Path) -> Path:
    sequence(d, range(1, 4), name="plate")
    sequence(d, range(1, 4), name="matte")
    return d


def unicode_dir(d: Path) -> Path:
    folder = d / "Plätze und Räume 東京" / "shot 01"
    folder.mkdir(parents=True)
    return folder


# name, maker(tmp) -> path, expectation:
#   "open": open_media raises MediaError matching `match`
#   "read": opens; reading frame `frame` (full=False/True) raises MediaError matching `match`
#   "ok": opens and every frame reads
CASES = [
    ("zero-byte mp4", lambda d: (d / "e.mp4").write_bytes(b"") or d / "e.mp4", "open", r"empty \(0 bytes\)"),
    ("zero-byte mov", lambda d: (d / "e.mov").write_bytes(b"") or d / "e.mov", "open", "empty"),
    ("zero-byte png", lambda d: (d / "e.png").write_bytes(b"") or d / "e.png", "open", "empty"),
    ("truncated mp4 (moov lost)", lambda d: truncated(d, "cut.mp4", 0.5), "open", "damaged or incomplete"),
    ("mp4 cut inside its header", lambda d: truncated(d, "tiny.mp4", 0.02), "open", "damaged or incomplete"),
    ("random bytes named .mov", lambda d: write(d / "r.mov", np.random.default_rng(1).bytes(5000)),
     "open", "not a video"),
    ("text named .mp4", lambda d: text_as(d, "notes.mp4"), "open", "not a video"),
    ("audio only, no video stream", lambda d: gen.write_audio_only(d / "sound.m4a"), "open", "no video stream"),
    ("unknown codec (mkv)", unknown_codec_mkv, "open", "codec FFmpeg cannot decode"),
    ("unknown codec (avi fourcc)", unknown_fourcc_avi, "open", "codec FFmpeg cannot decode"),
    ("1x1 video", lambda d: y4m(d / "dot.y4m", 1, 1, frames=2), "open", "1x1 frame, too small"),
    ("16k x 16k video header", lambda d: y4m(d / "huge.y4m", 16384, 16384), "open", "FFmpeg rejected|larger than"),
    ("16000 x 10000 video header", lambda d: y4m(d / "big.y4m", 16000, 10000), "open", "16000x10000 frame, larger"),
    ("1x1 png", lambda d: gen.write_png(d / "dot.png", np.zeros((1, 1, 3), np.uint8)), "open", "too small"),
    ("16k x 16k png header", lambda d: png_with_header(d / "huge.png", 16384, 16384, b"\0" * 64), "open",
     "16384x16384 frame, larger"),
    ("100k x 100k png header", lambda d: png_with_header(d / "huger.png", 100000, 100000), "open", "larger than"),
    ("png header 1x1 with junk after", lambda d: png_with_header(d / "one.png", 1, 1, b"\1" * 4000), "open", "too small"),
    ("60000 x 60000 jpeg header", lambda d: jpeg_with_header(d / "huge.jpg", 60000, 60000), "open", "larger than"),
    ("16k x 16k exr header", lambda d: exr_with_window(d / "huge.exr", 16384, 16384), "open", "larger than"),
    ("text named .png", lambda d: text_as(d, "frame.png"), "open", "not an image"),
    ("text named .jpg", lambda d: text_as(d, "frame.jpg"), "open", "not an image"),
    ("text named .exr", lambda d: text_as(d, "frame.exr"), "open", "not an image"),
    ("text named .tif", lambda d: text_as(d, "frame.tif"), "open", "not an image"),
    ("png cut in half", lambda d: cut_file(gen.write_png(d / "half.png", gen.make_frame(1, W, H)), 0.5), "open",
     "damaged PNG"),
    ("jpeg cut in half", lambda d: cut_file(gen.write_png(d / "half.jpg", gen.make_frame(1, W, H)), 0.5), "open",
     "incomplete JPEG"),
    ("exr cut in half", lambda d: cut_file(gen.write_exr(d / "half.exr", np.ones((H, W, 3), np.float32)), 0.5),
     "open", "damaged .*EXR"),
    ("exr without RGB channels", exr_without_rgb, "open", "no RGB or Y channels"),
    ("missing file", lambda d: d / "nope.mov", "open", "does not exist"),
    ("missing non-ASCII file", lambda d: d / "Übung 東京.mov", "open", "does not exist"),
    ("symlink loop", symlink_loop, "open", "loops back on itself"),
    ("broken symlink", broken_link, "open", "link to a file that does not exist"),
    ("fifo named .mp4 (would hang a reader)", fifo, "open", "not a regular file"),
    ("character device", lambda d: Path("/dev/zero"), "open", "not a regular file"),
    ("empty folder", lambda d: (d / "empty").mkdir() or d / "empty", "open", "no numbered images"),
    ("folder with two sequences", two_sequences, "open", "several sequences"),
    ("pattern matching nothing", lambda d: d / "none.####.exr", "open", "no files match"),
    ("pattern with two frame numbers", lambda d: d / "a.####.%04d.png", "open", "frame-number parts"),
    ("pattern in a missing folder", lambda d: d / "nowhere" / "plate.####.png", "open", "does not exist"),
    ("sequence with gaps", lambda d: sequence(d, [1, 2, 5, 6]), "read", (3, False, r"frame 3 is missing.*3-4")),
    ("sequence with mixed sizes", mixed_sizes, "read", (4, False, r"320x192 but the sequence is 160x96")),
    ("sequence with mixed bit depths (full precision)", mixed_depths_deep, "read",
     (4, True, "8-bit integer but the sequence is 16-bit")),
    ("sequence with a text file among the frames", lambda d: text_as(d, "plate.0003.png") and sequence(d, [1, 2, 4]),
     "read", (3, False, "plate.0003.png is not an image")),
    ("sequence with an empty frame", lambda d: (d / "plate.0002.png").write_bytes(b"") or sequence(d, [1, 3]),
     "read", (2, False, "empty")),
    ("garbage inside a video", garbage_inside, "any", None),
    ("truncated mkv (usable part opens)", lambda d: truncated(d, "cut.mkv", 0.5), "ok", None),
    ("sequence with mixed bit depths (display)", mixed_depths, "ok", None),
    ("video in a path with spaces and non-ASCII", lambda d: video(unicode_dir(d), "clip é 東京.mp4", frames=4),
     "ok", None),
    ("sequence in a path with spaces and non-ASCII", lambda d: sequence(unicode_dir(d), range(1001, 1004)), "ok", None),
    ("folder in a path with spaces and non-ASCII", lambda d: sequence(unicode_dir(d), range(1, 4)).parent, "ok", None),
]


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def snapshot(folder: Path) -> dict:
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = Path(root, f)
            if p.is_file() and not p.is_symlink():
                out[str(p)] = p.read_bytes()
    return out


def check_message(exc: MediaError, match: str | None):
    text = str(exc)
    assert text and "\n" not in text, f"not one line: {text!r}"
    assert ";" in text, f"says what is wrong but not what to do: {text!r}"
    assert "Traceback" not in text and "av.error" not in text
    if match:
        assert __import__("re").search(match, text), f"{text!r} does not match {match!r}"


def run_case(tmp: Path, maker, expect, detail):
    path = maker(tmp)
    before = snapshot(tmp)
    with time_limit(30):
        if expect == "open":
            with pytest.raises(MediaError) as info:
                open_media(path)
            check_message(info.value, detail)
        elif expect == "read":
            frame, full, match = detail
            with open_media(path) as media:
                with pytest.raises(MediaError) as info:
                    (media.read_full if full else media.read)(frame)
                check_message(info.value, match)
                others = [n for n in media.frame_numbers if n != frame][:3]
                for n in others:  # the good frames still read
                    assert media.read(n).shape == (media.height, media.width, 3)
        elif expect == "ok":
            with open_media(path) as media:
                for n in media.frame_numbers:
                    image = media.read(n)
                    assert image.shape == (media.height, media.width, 3) and image.dtype == np.uint8
        else:  # "any": opening and reading every frame works or fails with MediaError only
            try:
                with open_media(path) as media:
                    for n in media.frame_numbers:
                        try:
                            media.read(n)
                        except MediaError as exc:
                            check_message(exc, None)
            except MediaError as exc:
                check_message(exc, None)
    assert snapshot(tmp) == before, "the input files were changed"


@pytest.mark.parametrize("name,maker,expect,detail", CASES, ids=[c[0] for c in CASES])
def test_hostile_media(tmp_path, name, maker, expect, detail):
    run_case(tmp_path, maker, expect, detail)


def test_corpus_is_large_enough_and_all_handled(tmp_path, capsys):
    """Runs the whole corpus once more and prints handled / tried (issue 6)."""
    handled = 0
    failures = []
    for i, (name, maker, expect, detail) in enumerate(CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        try:
            run_case(folder, maker, expect, detail)
            handled += 1
        except BaseException as exc:  # noqa: BLE001 - collect every failure for the summary
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    with capsys.disabled():
        print(f"\nhostile media inputs: handled {handled} / tried {len(CASES)}")
    assert len(CASES) >= 30
    assert not failures, failures


def test_cli_info_gives_one_line_and_exit_2_for_hostile_media(tmp_path, capsys):
    from roto_studio.cli import main

    for name, maker in [("empty", lambda d: (d / "e.mp4").write_bytes(b"") or d / "e.mp4"),
                        ("loop", symlink_loop), ("alien", unknown_codec_mkv),
                        ("huge", lambda d: png_with_header(d / "huge.png", 16384, 16384))]:
        folder = tmp_path / name
        folder.mkdir()
        assert main(["info", str(maker(folder))]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("roto-studio: ") and err.count("\n") == 1, err


def test_read_with_a_bad_frame_number_is_a_media_error(tmp_path):
    with open_media(sequence(tmp_path, [1, 2])) as media:
        for bad in ("abc", None, 1.5, [1]):
            with pytest.raises(MediaError):
                media.read(bad)
        assert media.read(2.0).shape == (H, W, 3)
    media.close()
    with pytest.raises(MediaError, match="closed"):
        media.read(1)


def test_vfr_video_with_a_hole_in_its_timestamps_is_flagged(tmp_path):
    path = gen.write_video(tmp_path / "dropped.mp4", frames=6, width=W, height=H, bframes=0,
                           pts=[0, 1, 2, 10, 11, 12], time_base=Fraction(1, 24))
    with open_media(path) as media:
        assert media.variable_frame_rate
        assert [gen.frame_index(media.read(n)) for n in media.frame_numbers] == list(range(6))
