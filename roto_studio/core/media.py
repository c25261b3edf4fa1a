"""Media: videos (PyAV), image sequences and single stills, read frame-exactly by frame number.

open_media(path) accepts
- a video file (mp4, mov, mkv, ... anything FFmpeg decodes); frames are numbered 0..n-1;
- an image sequence given as a pattern: `plate.####.exr`, `plate.@@@@.exr`, `plate.%04d.exr`
  (`#`/`@` = one digit each, `%d` = unpadded), keeping the plate's own numbers (1001...);
- a folder of numbered images (the one sequence in it);
- a single image file: a one-frame shot. Its frame number comes from the name when the name ends
  in a frame number (`plate.1001.exr` -> 1001, `00042.png` -> 42), else 0. Siblings are not
  pulled in silently: give the pattern or the folder to open the whole sequence
  (`sequence_pattern_for(path)` finds that pattern so a UI can offer it).

Frames come back as HxWx3 uint8 RGB from read() (cached, read-only arrays: copy before editing)
and in their native precision from read_full() (uint8, uint16 for 10/12/16-bit, float32 for
half/float EXR; 3 or 4 channels). Float (EXR) frames are scene-linear: read() shows them through
the sRGB curve, read_full() returns the raw values.

Sequences: gaps are listed in missing_frames (reading one raises MediaError naming the gaps); a
frame of another size raises MediaError when read; a frame of another bit depth reads for display
but read_full() refuses it when the sequence is deeper (exports would mix precisions).
Videos: one demux pass at open builds the pts table; a read seeks to the keyframe the frame needs
and decodes forward (skipping unreferenced frames), playing forward never re-seeks, and the last
few decoded frames are kept so stepping back is instant. A file cut short opens with what it has
and says so in `warnings`.
"""

from __future__ import annotations

import errno
import operator
import os
import re
import struct
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from roto_studio.core.errors import MediaError
from roto_studio.core.framecache import FrameCache

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".webp"}
MAX_SIDE = 16384  # pixels a side
MAX_PIXELS = 1 << 27  # 134 megapixels (16384 x 8192)
MIN_SIDE = 2
DEFAULT_SEQUENCE_FPS = Fraction(24)
MiB = 1024 * 1024

__all__ = ["Media", "open_media", "parse_pattern", "sequence_pattern_for", "SequencePattern",
           "IMAGE_EXTENSIONS", "MAX_SIDE", "MAX_PIXELS"]


# ---------------------------------------------------------------------------------------------
# helpers

def _name(path) -> str:
    return str(path)


def _check_size(width: int, height: int, where) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise MediaError(
            f"{_name(where)} has a {width}x{height} frame, larger than Roto Studio handles "
            f"(at most {MAX_SIDE} pixels a side and {MAX_PIXELS // 1_000_000} megapixels); "
            f"check the file or scale the plate down.")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise MediaError(
            f"{_name(where)} has a {width}x{height} frame, too small to rotoscope "
            f"(at least {MIN_SIDE}x{MIN_SIDE} pixels); check the file.")


def _stat(path: Path):
    """os.stat with plain-language errors (missing, broken link, link loop, permission)."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MediaError(f"{path} is a symbolic link that loops back on itself; "
                             f"point it at the real file.") from None
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                raise MediaError(f"{path} is a symbolic link to a file that does not exist; "
                                 f"fix the link or choose the real file.") from None
            raise MediaError(f"{path} does not exist; check the path.") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise MediaError(f"{path} cannot be read (permission denied); "
                             f"check its permissions.") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise MediaError(f"the path {str(path)[:80]}... is too long; "
                             f"move the media to a shorter path.") from None
        raise MediaError(f"{path} cannot be opened ({exc.strerror}); check the path.") from None


def _read_bytes(path: Path, count: int | None = None, offset: int = 0) -> bytes:
    try:
        with open(path, "rb") as fh:
            if offset:
                fh.seek(offset)
            return fh.read() if count is None else fh.read(count)
    except OSError as exc:
        _stat(path)  # raises the plain message when it applies
        raise MediaError(f"{path} cannot be read ({exc.strerror or exc}); "
                         f"check the file and its permissions.") from None


def _ranges(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10' (shortened when long)."""
    numbers = sorted(numbers)
    parts: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    if len(parts) > 8:
        parts = parts[:8] + [f"... ({len(numbers)} frames in all)"]
    return ", ".join(parts)


def _fraction_str(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


# ---------------------------------------------------------------------------------------------
# colour conversions

def _srgb_lut() -> np.ndarray:
    """uint8 sRGB code for every float16 bit pattern (scene-linear -> display)."""
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    halves = np.nan_to_num(halves, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    encoded = np.where(halves <= 0.0031308, halves * 12.92, 1.055 * np.power(halves, 1 / 2.4) - 0.055)
    return np.round(encoded * 255).astype(np.uint8)


_SRGB_LUT: np.ndarray | None = None


def to_display_uint8(image: np.ndarray) -> np.ndarray:
    """Native frame (uint8/uint16/float, 3 or 4 channels) -> HxWx3 uint8 RGB."""
    global _SRGB_LUT
    rgb = image[..., :3]
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if rgb.dtype == np.uint16:
        return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if _SRGB_LUT is None:
        _SRGB_LUT = _srgb_lut()
    half = np.ascontiguousarray(rgb, dtype=np.float16)
    return _SRGB_LUT[half.view(np.uint16)]


def _pixel_format_name(channels: int, kind: str) -> str:
    """Names in FFmpeg's style for image frames. kind: u8, u16, f16, f32, u32."""
    table = {
        "u8": {1: "gray", 2: "ya8", 3: "rgb24", 4: "rgba"},
        "u16": {1: "gray16le", 2: "ya16le", 3: "rgb48le", 4: "rgba64le"},
        "f16": {1: "grayf16le", 2: "yaf16le", 3: "rgbf16le", 4: "rgbaf16le"},
        "f32": {1: "grayf32le", 2: "yaf32le", 3: "rgbf32le", 4: "rgbaf32le"},
        "u32": {1: "gray32", 2: "ya32", 3: "rgb96", 4: "rgba128"},
    }
    return table[kind].get(channels, f"{kind}x{channels}")


_BITS = {"u8": 8, "u16": 16, "f16": 16, "f32": 32, "u32": 32}


# ---------------------------------------------------------------------------------------------
# image files

def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return "bigtiff"
    if head.startswith(b"\x76\x2f\x31\x01"):
        return "exr"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _png_header(path: Path, head: bytes):
    if len(head) < 26 or head[12:16] != b"IHDR":
        raise MediaError(f"{path} is a damaged PNG (no image header); re-render or replace it.")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg_header(path: Path):
    data = _read_bytes(path, 1 << 20)
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # padding
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    raise MediaError(f"{path} is a damaged JPEG (no frame header found); re-render or replace it.")


def _tiff_header(path: Path, head: bytes):
    order = "<" if head[:2] == b"II" else ">"
    data = _read_bytes(path, 1 << 16)
    try:
        (ifd,) = struct.unpack(order + "I", data[4:8])
        if ifd + 2 > len(data):
            data = _read_bytes(path, 1 << 16, offset=ifd)
            base = ifd
        else:
            base = 0
        (count,) = struct.unpack(order + "H", data[ifd - base:ifd - base + 2])
        width = height = None
        for i in range(count):
            entry = data[ifd - base + 2 + 12 * i: ifd - base + 14 + 12 * i]
            if len(entry) < 12:
                break
            tag, typ = struct.unpack(order + "HH", entry[:4])
            if tag in (256, 257):
                value = struct.unpack(order + ("H" if typ == 3 else "I"), entry[8:10] if typ == 3 else entry[8:12])[0]
                if tag == 256:
                    width = value
                else:
                    height = value
        if width is not None and height is not None:
            return width, height
    except struct.error:
        pass
    raise MediaError(f"{path} is a damaged TIFF (no readable image header); re-render or replace it.")


def _exr_open(path: Path, header_only: bool):
    import OpenEXR

    try:
        return OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
    except Exception:  # OpenEXR raises RuntimeError with its own wording
        raise MediaError(f"{path} is a damaged or incomplete EXR file; re-render or replace it.") from None


def _exr_windows(path: Path, header: dict):
    try:
        (dx0, dy0), (dx1, dy1) = [tuple(int(v) for v in corner) for corner in header["dataWindow"]]
        display = header.get("displayWindow", header["dataWindow"])
        (x0, y0), (x1, y1) = [tuple(int(v) for v in corner) for corner in display]
    except Exception:
        raise MediaError(f"{path} is a damaged EXR file (bad data window); re-render or replace it.") from None
    return (dx0, dy0, dx1, dy1), (x0, y0, x1, y1)


def _exr_fps(path: Path) -> Fraction | None:
    try:
        header = _exr_open(path, True).header()
        rate = header.get("framesPerSecond")
        if rate is None:
            return None
        value = Fraction(int(rate.n), int(rate.d)) if hasattr(rate, "n") else Fraction(rate)
        return value if value > 0 else None
    except Exception:
        return None


def _read_exr(path: Path):
    """-> (HxWxC float32 array, kind 'f16'|'f32'|'u32', channels in file)."""
    head = _exr_open(path, True)
    header = head.header()
    (dx0, dy0, dx1, dy1), (x0, y0, x1, y1) = _exr_windows(path, header)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    _check_size(width, height, path)
    dwidth, dheight = dx1 - dx0 + 1, dy1 - dy0 + 1
    if dwidth > 0 and dheight > 0:
        _check_size(max(dwidth, MIN_SIDE), max(dheight, MIN_SIDE), path)
    full = _exr_open(path, False)
    try:
        channels = {name: ch.pixels for name, ch in full.channels().items()}
    except Exception:
        raise MediaError(f"{path} is a damaged EXR file (its pixels cannot be read); re-render or replace it.") from None
    # the plain layer first (R, G, B), else the first layer that has R, G, B (e.g. 'rgba.R')
    names = list(channels)
    layers = [""] + sorted({n.rsplit(".", 1)[0] + "." for n in names if "." in n})
    picked = None
    for prefix in layers:
        if all(prefix + c in channels for c in "RGB"):
            picked = [prefix + c for c in "RGB"] + ([prefix + "A"] if prefix + "A" in channels else [])
            break
        if prefix + "Y" in channels:
            picked = [prefix + "Y"] * 3 + ([prefix + "A"] if prefix + "A" in channels else [])
            break
    if picked is None:
        raise MediaError(f"{path} has no RGB or Y channels (it has {', '.join(names[:8]) or 'none'}); "
                         f"write the plate with R, G, B channels.")
    arrays = [channels[n] for n in picked]
    dtype = arrays[0].dtype
    kind = "f16" if dtype == np.float16 else "u32" if dtype == np.uint32 else "f32"
    for a in arrays:
        if a.ndim != 2 or a.shape != (dheight, dwidth):
            raise MediaError(f"{path} uses subsampled or odd-sized channels, which are not supported; "
                             f"write the plate as full-resolution RGB.")
    data = np.stack([a.astype(np.float32, copy=False) for a in arrays], axis=-1)
    in_file = 1 if picked[0] == picked[1] else 3
    in_file += 1 if len(picked) == 4 else 0
    if (dx0, dy0, dx1, dy1) == (x0, y0, x1, y1):
        return data, kind, in_file, (width, height)
    # place the data window inside the display window (the plate); overscan is cropped
    canvas = np.zeros((height, width, data.shape[2]), np.float32)
    sx0, sy0 = max(dx0, x0), max(dy0, y0)
    sx1, sy1 = min(dx1, x1), min(dy1, y1)
    if sx1 >= sx0 and sy1 >= sy0:
        canvas[sy0 - y0:sy1 - y0 + 1, sx0 - x0:sx1 - x0 + 1] = \
            data[sy0 - dy0:sy1 - dy0 + 1, sx0 - dx0:sx1 - dx0 + 1]
    return canvas, kind, in_file, (width, height)


def read_image(path) -> tuple[np.ndarray, str, int]:
    """Read one image file natively -> (HxWx3/4 array, sample kind, channels in the file).

    uint8 / uint16 / float32 arrays in RGB(A) order. Raises MediaError for anything wrong.
    """
    import cv2

    path = Path(path)
    st = _stat(path)
    if os.path.isdir(path):
        raise MediaError(f"{path} is a folder, not an image; choose an image file.")
    if st.st_size == 0:
        raise MediaError(f"{path} is empty (0 bytes); re-render or replace it.")
    head = _read_bytes(path, 64)
    kind = _sniff(head)
    ext = path.suffix.lower().lstrip(".") or "image"
    if kind is None:
        raise MediaError(f"{path} is not an image (its contents are not {ext.upper()} data); "
                         f"replace it with the real frame or remove it.")
    if kind == "exr":
        return _read_exr(path)[:3]
    if kind == "bigtiff":
        raise MediaError(f"{path} is a BigTIFF, which is not supported; save the plate as TIFF, PNG or EXR.")
    if kind == "png":
        _check_size(*_png_header(path, head), path)
    elif kind == "jpeg":
        _check_size(*_jpeg_header(path), path)
    elif kind == "tiff":
        _check_size(*_tiff_header(path, head), path)
    data = np.frombuffer(_read_bytes(path), np.uint8)
    if kind == "jpeg" and b"\xff\xd9" not in data[-4096:].tobytes():
        raise MediaError(f"{path} is an incomplete JPEG (the file stops before the end of the image); "
                         f"re-render or replace it.")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise MediaError(f"{path} is a damaged {kind.upper()} image (it cannot be decoded); "
                         f"re-render or replace it.")
    if image.ndim == 2:
        channels = 1
        image = np.repeat(image[..., None], 3, axis=2)
    else:
        channels = image.shape[2]
        if channels == 1:
            image = np.repeat(image, 3, axis=2)
        elif channels == 2:  # grey + alpha
            image = np.concatenate([np.repeat(image[..., :1], 3, axis=2), image[..., 1:2]], axis=2)
        elif channels == 3:
            image = image[..., ::-1]
        elif channels == 4:
            image = image[..., [2, 1, 0, 3]]
        else:
            raise MediaError(f"{path} has {channels} channels, which is not supported; "
                             f"save it as RGB or RGBA.")
    image = np.ascontiguousarray(image)
    if image.dtype == np.uint8:
        sample = "u8"
    elif image.dtype == np.uint16:
        sample = "u16"
    elif image.dtype in (np.float32, np.float64, np.float16):
        image = image.astype(np.float32, copy=False)
        sample = "f32"
    else:
        raise MediaError(f"{path} uses {image.dtype} samples, which are not supported; "
                         f"save it as 8 or 16-bit integer or float.")
    _check_size(image.shape[1], image.shape[0], path)
    return image, sample, channels


# ---------------------------------------------------------------------------------------------
# sequence patterns

class SequencePattern:
    """A parsed sequence pattern: folder / prefix + frame number (padded) + suffix."""

    def __init__(self, folder: Path, prefix: str, padding: int, suffix: str):
        self.folder, self.prefix, self.padding, self.suffix = Path(folder), prefix, padding, suffix

    @property
    def text(self) -> str:
        return str(self.folder / f"{self.prefix}{'#' * max(1, self.padding)}{self.suffix}")

    def filename(self, frame: int) -> str:
        return f"{self.prefix}{frame:0{self.padding}d}{self.suffix}"

    def match(self, name: str) -> int | None:
        """Frame number of file `name` under this pattern, or None."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        digits = name[len(self.prefix):len(name) - len(self.suffix)]
        if not digits.isdigit() or not digits.isascii():
            return None
        if len(digits) < self.padding:
            return None
        if len(digits) > self.padding and digits.startswith("0") and len(digits) > 1:
            return None  # more zero-padding than the pattern asks for: another sequence
        return int(digits)

    def __repr__(self) -> str:
        return f"SequencePattern({self.text!r})"


_TOKEN = re.compile(r"#+|@+|%0?(\d*)d|\$F(\d*)")


def parse_pattern(path) -> SequencePattern | None:
    """`plate.####.exr`, `plate.@@@@.exr`, `plate.%04d.exr`, `plate.$F4.exr` -> SequencePattern.

    Returns None when the name holds no frame token. Raises MediaError for a malformed one.
    """
    text = os.fspath(path)
    folder, name = os.path.split(text)
    tokens = list(_TOKEN.finditer(name))
    if not tokens:
        return None
    if len(tokens) > 1:
        raise MediaError(f"the pattern {name!r} has {len(tokens)} frame-number parts; "
                         f"use one, e.g. plate.####.exr.")
    token = tokens[0]
    raw = token.group(0)
    if raw[0] in "#@":
        padding = len(raw)
    else:
        digits = token.group(1) if raw.startswith("%") else token.group(2)
        padding = int(digits) if digits else 1
        if padding < 1 or padding > 12:
            raise MediaError(f"the pattern {name!r} asks for {padding}-digit frame numbers; "
                             f"use 1 to 12 digits, e.g. %04d.")
    if padding > 12:
        raise MediaError(f"the pattern {name!r} asks for {padding}-digit frame numbers; "
                         f"use 1 to 12 digits, e.g. ####.")
    prefix, suffix = name[:token.start()], name[token.end():]
    if "%" in prefix + suffix:
        raise MediaError(f"the pattern {name!r} holds a '%' that is not a frame number (%04d); "
                         f"rename the files or escape it.")
    return SequencePattern(Path(folder or "."), prefix, padding, suffix)


_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)(?P<suffix>\.[^.\d][^.]*)$")


def _list_dir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError as exc:
        _stat(folder)
        raise MediaError(f"the folder {folder} cannot be listed ({exc.strerror}); "
                         f"check its permissions.") from None


def _groups_in_folder(folder: Path) -> dict[tuple[str, str], dict[int, str]]:
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for name in _list_dir(folder):
        m = _NUMBERED.match(name)
        if not m or m.group("suffix").lower() not in IMAGE_EXTENSIONS or name.startswith("."):
            continue
        groups.setdefault((m.group("prefix"), m.group("suffix")), {})[int(m.group("digits"))] = name
    return groups


def _pattern_from_group(folder: Path, prefix: str, suffix: str, files: dict[int, str]) -> SequencePattern:
    lengths = {len(name) - len(prefix) - len(suffix) for name in files.values()}
    padding = min(lengths) if len(lengths) == 1 else 1
    if len(lengths) > 1:
        # padded numbers that grew a digit (0998, 0999, 1000) keep the smallest padding
        padded = [len(n) - len(prefix) - len(suffix) for f, n in files.items()
                  if n[len(prefix)] == "0"]
        padding = max(padded) if padded else 1
    return SequencePattern(folder, prefix, padding, suffix)


def sequence_pattern_for(path) -> str | None:
    """For one file of a numbered sequence (`plate.1001.exr`), the sequence's pattern
    (`.../plate.####.exr`) when sibling frames exist; else None. Lets a UI offer the whole shot."""
    path = Path(path)
    m = _NUMBERED.match(path.name)
    if not m or path.suffix.lower() not in IMAGE_EXTENSIONS:
        return None
    prefix, suffix = m.group("prefix"), m.group("suffix")
    files = _groups_in_folder(path.parent).get((prefix, suffix), {})
    if len(files) < 2:
        return None
    return _pattern_from_group(path.parent, prefix, suffix, files).text


def _still_frame_number(path: Path) -> int:
    """`plate.1001.exr`, `plate_1001.exr`, `1001.exr` -> 1001; anything else -> 0."""
    m = re.search(r"(?:^|[._])(\d{1,9})$", path.stem)
    return int(m.group(1)) if m else 0


# ---------------------------------------------------------------------------------------------
# backends

class _ImageFrames:
    """Frames from image files: {frame number: path}."""

    kind = "sequence"

    def __init__(self, files: dict[int, Path], label: str, kind: str = "sequence"):
        self.files = dict(sorted(files.items()))
        self.label = label
        self.kind = kind
        first = next(iter(self.files))
        image, sample, channels = read_image(self.files[first])
        self.first = first
        self.height, self.width = image.shape[:2]
        self.sample, self.file_channels, self.out_channels = sample, channels, image.shape[2]
        self.first_image = image
        self.pixel_format = _pixel_format_name(channels, sample)
        self.bit_depth = _BITS[sample]
        fps = _exr_fps(self.files[first]) if self.files[first].suffix.lower() == ".exr" else None
        self.fps = fps or DEFAULT_SEQUENCE_FPS

    def read_native(self, frame: int, full: bool = True) -> np.ndarray:
        """The frame as stored. A frame whose bit depth differs from the sequence's is fine for
        display (full=False) but refused for full precision (exports would mix precisions)."""
        if frame == self.first and self.first_image is not None:
            image, self.first_image = self.first_image, None
            return image
        path = self.files[frame]
        image, sample, channels = read_image(path)
        height, width = image.shape[:2]
        if (width, height) != (self.width, self.height):
            raise MediaError(
                f"frame {frame} ({path.name}) is {width}x{height} but the sequence is "
                f"{self.width}x{self.height} (frame {self.first}); re-render it at the plate size.")
        if sample != self.sample and full:
            raise MediaError(
                f"frame {frame} ({path.name}) is {_BITS[sample]}-bit {'float' if sample[0] == 'f' else 'integer'} "
                f"but the sequence is {self.bit_depth}-bit {'float' if self.sample[0] == 'f' else 'integer'} "
                f"(frame {self.first}); re-render it with the same bit depth.")
        if image.shape[2] != self.out_channels:
            # RGB among RGBA frames (or the reverse): keep the sequence's channel count
            if self.out_channels == 3:
                image = image[..., :3]
            else:
                one = 1.0 if sample[0] == "f" else np.iinfo(image.dtype).max
                image = np.concatenate([image, np.full(image.shape[:2] + (1,), one, image.dtype)], axis=2)
        return image

    def close(self) -> None:
        self.first_image = None


class _VideoFrames:
    """Frames of a video file through PyAV, with a pts table for exact seeking."""

    kind = "video"

    def __init__(self, path: Path):
        import av

        self.path = path
        self._av = av
        self.container = self._open()
        try:
            self._setup()
        except BaseException:
            self.container.close()
            raise

    def _open(self):
        av = self._av
        try:
            return av.open(str(self.path), mode="r", metadata_errors="ignore")
        except av.error.FileNotFoundError:
            _stat(self.path)
            raise MediaError(f"{self.path} does not exist; check the path.") from None
        except av.error.PermissionError:
            raise MediaError(f"{self.path} cannot be read (permission denied); check its permissions.") from None
        except (av.error.InvalidDataError, av.error.EOFError, av.error.PatchWelcomeError,
                av.error.DecoderNotFoundError, av.error.DemuxerNotFoundError):
            raise MediaError(f"{self.path} is not a video or image FFmpeg can read, or it is damaged "
                             f"or incomplete (e.g. a truncated copy); check the file or re-export it.") from None
        except av.error.FFmpegError:
            raise MediaError(f"{self.path} cannot be opened: FFmpeg rejected its header (the file may be "
                             f"damaged, truncated or claim an impossible frame size); re-export it.") from None
        except (OSError, UnicodeError, ValueError) as exc:
            raise MediaError(f"{self.path} cannot be opened as video ({exc}); check the file.") from None

    def _setup(self) -> None:
        av = self._av
        container = self.container
        if not container.streams.video:
            others = sorted({s.type for s in container.streams})
            raise MediaError(f"{self.path} has no video stream"
                             f"{' (only ' + ', '.join(others) + ')' if others else ''}; "
                             f"choose a file with picture in it.")
        stream = container.streams.video[0]
        self.stream = stream
        ctx = stream.codec_context
        codec_name = None
        try:
            codec_name = ctx.codec.name if ctx is not None else None
        except Exception:
            codec_name = None
        if ctx is None or not codec_name or codec_name == "none":
            tag = ""
            try:
                tag = stream.codec_tag or ""
            except Exception:
                pass
            raise MediaError(f"{self.path} uses a video codec FFmpeg cannot decode"
                             f"{' (' + tag + ')' if tag.strip() else ''}; "
                             f"transcode it (e.g. to ProRes or H.264) or export an image sequence.")
        self.codec = codec_name
        self.width, self.height = int(ctx.width or 0), int(ctx.height or 0)
        if self.width <= 0 or self.height <= 0:
            raise MediaError(f"{self.path} has a video stream without a frame size; "
                             f"the file is damaged, re-export it.")
        _check_size(self.width, self.height, self.path)
        pix = ctx.pix_fmt
        self.pixel_format = pix or "unknown"
        self.bit_depth, self.has_alpha, self.is_float = 8, False, False
        try:
            fmt = av.video.format.VideoFormat(pix)
            self.bit_depth = max(c.bits for c in fmt.components)
            self.has_alpha = any(c.is_alpha for c in fmt.components)
            self.is_float = "f32" in pix or "f16" in pix
        except Exception:
            pass
        ctx.thread_type = "AUTO"
        self._build_index()

    def _build_index(self) -> None:
        av = self._av
        stream = self.stream
        rows = []  # (pts, dts, key) in decode order
        try:
            for packet in self.container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                rows.append((packet.pts, packet.dts, bool(packet.is_keyframe)))
        except av.error.FFmpegError:
            pass  # damaged tail: keep what was read; frames past it report clearly when read
        if not rows:
            raise MediaError(f"{self.path} has a video stream with no frames; the file is empty "
                             f"or damaged, re-export it.")
        pts = [r[0] for r in rows]
        self.positional = any(p is None for p in pts) or len(set(pts)) != len(pts)
        if self.positional and all(r[1] is not None for r in rows) and not stream.codec_context.has_b_frames \
                and len({r[1] for r in rows}) == len(rows):
            pts = [r[1] for r in rows]  # no pts but dts in display order
            self.positional = False
        self.frame_count = len(rows)
        self.time_base = stream.time_base or Fraction(1, 1)
        if self.positional:
            # no usable timestamps: frames are counted in decode order; seeking means decoding
            # from the start (correct, slower). Rare (raw elementary streams, some AVIs).
            self.pts = list(range(len(rows)))
            self.frame_of_pts = {}
            self.seek_ts = [None] * len(rows)
            self.fps = Fraction(stream.average_rate or stream.guessed_rate or 24)
            self.variable_frame_rate = False
            self.start_frame_of = [0] * len(rows)
            self.key_frames = [0]
        else:
            order = sorted(range(len(rows)), key=lambda i: pts[i])
            self.pts = [pts[i] for i in order]
            self.frame_of_pts = {p: n for n, p in enumerate(self.pts)}
            # For every frame: the decode-order keyframe to start from. A frame shown before its
            # GOP's keyframe (open GOP leading frame) starts from the keyframe before.
            key_positions = [i for i, r in enumerate(rows) if r[2]] or [0]
            start_for_decode_pos = []
            k = -1
            keys_seen: list[int] = []
            for i, r in enumerate(rows):
                if r[2] or not keys_seen:
                    keys_seen.append(i)
                k = keys_seen[-1]
                if pts[i] < pts[k] and len(keys_seen) > 1:
                    k = keys_seen[-2]
                start_for_decode_pos.append(k)
            self.start_frame_of = [0] * len(rows)
            self.seek_ts = [None] * len(rows)
            for n, i in enumerate(order):
                kpos = start_for_decode_pos[i]
                self.start_frame_of[n] = self.frame_of_pts[pts[kpos]]
                kd = rows[kpos][1]
                self.seek_ts[n] = (pts[kpos], kd if kd is not None else pts[kpos])
            self.key_frames = sorted(self.frame_of_pts[pts[i]] for i in key_positions)
            self.fps, self.variable_frame_rate = self._rates()
        self.warnings = self._truncation_warnings(len(rows))
        self._decoder = None
        self._last = None  # frame number the decoder produced last
        self._last_frame = None  # and that frame, when it was the one asked for
        self.seeks = 0  # statistics: seeks done and frames decoded
        self.decoded = 0
        self.skip_nonref = True  # decode-only-what-is-needed when seeking (see _frames)
        self._skip_until = None
        self._skip_used = False
        frame_bytes = self.width * self.height * (6 if self.bit_depth > 8 else 3)
        self._recent: OrderedDict = OrderedDict()
        self._recent_max = int(max(2, min(12, (96 * MiB) // max(1, frame_bytes))))

    def _truncation_warnings(self, found: int) -> list[str]:
        """A file cut short still opens (its frames are usable) but says so."""
        stream = self.stream
        declared = int(stream.frames or 0)
        if declared > found:
            return [f"the file seems cut short: its header lists {declared} frames but only "
                    f"{found} are there"]
        if self.positional or found < 2 or not self.container.duration:
            return []
        seconds = float(self.container.duration) / 1_000_000
        frame_time = float((Fraction(self.pts[-1] - self.pts[0]) * self.time_base) / (found - 1))
        present = frame_time * found
        if seconds - present > max(2 * frame_time, 0.25):
            return [f"the file seems cut short: its header says {seconds:.2f} s but frames stop "
                    f"at {present:.2f} s"]
        return []

    def _rates(self) -> tuple[Fraction, bool]:
        stream = self.stream
        tb = self.time_base
        deltas = np.diff(np.asarray(self.pts, dtype=np.int64))
        vfr = False
        if len(deltas) >= 2:
            median = float(np.median(deltas))
            # timestamps are rounded to the time base: a constant rate stays within one tick
            vfr = bool(np.any(np.abs(deltas - median) > 1.0 + 1e-9)) and median > 0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate:
            rate = Fraction(rate)
        if not rate or rate <= 0:
            if len(deltas) and float(np.median(deltas)) > 0:
                rate = Fraction(1) / (Fraction(int(np.median(deltas))) * Fraction(tb))
            else:
                rate = Fraction(24)
        if not vfr and len(deltas):
            # the stream's guess can be off for coarse time bases; check it against the pts
            nominal = Fraction(1) / (Fraction(float(np.median(deltas))).limit_denominator(1000) * Fraction(tb))
            guessed = stream.guessed_rate and Fraction(stream.guessed_rate)
            for candidate in (rate, guessed):
                if candidate and abs(float(candidate) - float(nominal)) / float(nominal) < 0.02:
                    return candidate, False
            return nominal.limit_denominator(1001 * 1000), False
        return rate, vfr

    # decoding ------------------------------------------------------------------------------

    def _frames(self):
        """Decoded frames from the current position. After a seek with skip_to, frames nobody
        references (non-reference B-frames) are not decoded until the target's packet: that
        halves the work of reaching a frame deep inside a long GOP, with identical results."""
        ctx = self.stream.codec_context
        for packet in self.container.demux(self.stream):
            if self._skip_until is not None and (packet.pts == self._skip_until or packet.size == 0):
                self._skip_until = None
                ctx.skip_frame = "DEFAULT"
            for frame in packet.decode():
                yield frame

    def _fresh_decoder(self):
        if self._decoder is not None:
            try:
                self._decoder.close()
            except Exception:
                pass
        self._decoder = self._frames()
        self._last = None
        self._last_frame = None

    def _seek(self, ts: int | None, skip_to: int | None = None) -> None:
        av = self._av
        self.seeks += 1
        try:
            if ts is None:
                self.container.seek(0, backward=True, any_frame=False)
            else:
                self.container.seek(int(ts), backward=True, any_frame=False, stream=self.stream)
        except av.error.FFmpegError:
            # some files cannot seek: reopen and decode from the start
            self.container.close()
            self.container = self._open()
            self.stream = self.container.streams.video[0]
            self.stream.codec_context.thread_type = "AUTO"
        self._skip_until = skip_to
        self._skip_used = skip_to is not None
        try:
            self.stream.codec_context.skip_frame = "NONREF" if skip_to is not None else "DEFAULT"
        except Exception:
            self._skip_until, self._skip_used = None, False
        self._fresh_decoder()

    def _next_frame(self, target: int):
        """Next decoded frame with its frame number (None at the end of the file)."""
        av = self._av
        try:
            frame = next(self._decoder)
        except StopIteration:
            return None, None
        except (av.error.FFmpegError, MemoryError):
            raise MediaError(f"frame {target} of {self.path} cannot be decoded: the file is damaged "
                             f"around this frame; re-export it.") from None
        self.decoded += 1
        if self.positional:
            number = 0 if self._last is None else self._last + 1
        else:
            number = self.frame_of_pts.get(frame.pts)
            if number is None and frame.pts is not None:
                # a pts the index did not list: place it between its neighbours (never equal to one)
                number = int(np.searchsorted(self.pts, frame.pts)) - 0.5
        if isinstance(number, int):
            self._remember(number, frame)
        return frame, number

    def _remember(self, number: int, frame) -> None:
        """Keep the last few decoded frames: stepping back a frame or two needs no new decode."""
        recent = self._recent
        recent[number] = frame
        recent.move_to_end(number)
        while len(recent) > self._recent_max:
            recent.popitem(last=False)

    def _plans(self, target: int, skip: bool):
        """Where to start decoding from, most likely first: the frame's keyframe (skipping
        unreferenced frames), the keyframe's dts, the keyframe before, the start of the file."""
        if self.positional:
            return [(None, None)]
        pts_ts, dts_ts = self.seek_ts[target]
        plans = [(pts_ts, self.pts[target] if skip else None), (pts_ts, None), (dts_ts - 1, None)]
        earlier = [k for k in self.key_frames if k < self.start_frame_of[target]]
        if earlier:
            plans.append((self.seek_ts[earlier[-1]][0], None))
        plans.append((None, None))
        return plans

    def decode(self, target: int):
        """The av.VideoFrame for frame number `target`."""
        frame = self._recent.get(target)
        if frame is not None:
            return frame
        # keep decoding forward when that is cheaper than seeking (playback, scrubbing forward)
        forward = (self._decoder is not None and self._last is not None and self._last < target
                   and (self.positional or self.start_frame_of[target] <= self._last + 1))
        plans = self._plans(target, skip=self.skip_nonref)
        if forward:
            plans.insert(0, "forward")
        for plan in plans:
            if plan != "forward":
                self._seek(plan[0], plan[1])
            first = True
            while True:
                frame, number = self._next_frame(target)
                if frame is None:
                    self._last = None
                    raise MediaError(f"frame {target} of {self.path} cannot be decoded: the file ends "
                                     f"early or is damaged there; re-export it.")
                if number is None:
                    continue
                if first and plan != "forward" and number > target:
                    break  # the seek landed after the target: start further back
                first = False
                self._last = number
                self._last_frame = None
                if number == target:
                    self._last_frame = frame
                    return frame
                if number > target:
                    if self._skip_used:
                        break  # skipped frames were needed after all: again without skipping
                    self._last = None
                    raise MediaError(f"frame {target} of {self.path} cannot be decoded: the file is "
                                     f"damaged around this frame; re-export it.")
        self._last = None
        raise MediaError(f"frame {target} of {self.path} cannot be reached by seeking; "
                         f"the file's index is damaged, re-export it.")

    def to_array(self, frame, full: bool) -> np.ndarray:
        fmt = "rgb24"
        if full:
            if self.is_float:
                fmt = "gbrapf32le" if self.has_alpha else "gbrpf32le"
            elif self.bit_depth > 8:
                fmt = "rgba64le" if self.has_alpha else "rgb48le"
            elif self.has_alpha:
                fmt = "rgba"
        kwargs = {}
        # untagged HD video is BT.709 in practice; swscale would assume BT.601
        if frame.colorspace in (2, None) and "yuv" in self.pixel_format and self.height > 576:
            kwargs["src_colorspace"] = "ITU709"
            kwargs["dst_colorspace"] = "ITU709"
        try:
            return frame.to_ndarray(format=fmt, **kwargs)
        except Exception as exc:  # conversion problems are reported as media problems
            raise MediaError(f"a frame of {self.path} cannot be converted to RGB ({exc}); "
                             f"re-export the video in a common pixel format.") from None

    def close(self) -> None:
        self._recent.clear()
        self._last_frame = None
        try:
            if self._decoder is not None:
                self._decoder.close()
        except Exception:
            pass
        self._decoder = None
        try:
            self.container.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# Media

class Media:
    """One shot: frames addressed by frame number (plate numbers for sequences, 0.. for video).

    Thread-safe: reads from several threads are serialised around the decoder; the frame
    cache is shared.
    """

    def __init__(self, path, backend, frame_numbers: list[int], missing: list[int],
                 cache_bytes: int, pattern: str | None = None):
        self.path = str(path)
        self._backend = backend
        self.kind = backend.kind
        self.width = int(backend.width)
        self.height = int(backend.height)
        self.frame_numbers = list(frame_numbers)
        self._frame_set = set(self.frame_numbers)
        self.frame_count = len(self.frame_numbers)
        self.first_frame = self.frame_numbers[0]
        self.last_frame = self.frame_numbers[-1]
        self.missing_frames = list(missing)
        self.fps = Fraction(backend.fps)
        self.variable_frame_rate = bool(getattr(backend, "variable_frame_rate", False))
        self.pixel_format = backend.pixel_format
        self.bit_depth = int(backend.bit_depth)
        self.pattern = pattern
        self.warnings = list(getattr(backend, "warnings", []))
        self.cache = FrameCache(cache_bytes)
        self._lock = threading.RLock()
        self._closed = False

    # frame access ------------------------------------------------------------------------

    def _check_frame(self, frame) -> int:
        try:
            frame = operator.index(frame)
        except TypeError:
            if isinstance(frame, float) and frame.is_integer():
                frame = int(frame)
            else:
                raise MediaError(f"{frame!r} is not a frame number; use a whole number.") from None
        if self._closed:
            raise MediaError(f"{self.path} was closed; open it again to read frames.")
        if frame in self._frame_set:
            return frame
        if self.first_frame <= frame <= self.last_frame:
            raise MediaError(
                f"frame {frame} is missing from {self.path} (missing frames: "
                f"{_ranges(self.missing_frames)}); render the missing frames or work on the others.")
        raise MediaError(f"frame {frame} is outside {self.path}, which has frames "
                         f"{self.first_frame}-{self.last_frame}; choose a frame in that range.")

    def _decode(self, frame: int, full: bool) -> np.ndarray:
        with self._lock:
            if self._closed:
                raise MediaError(f"{self.path} was closed; open it again to read frames.")
            backend = self._backend
            if isinstance(backend, _VideoFrames):
                av_frame = backend.decode(frame)
                if full or backend.bit_depth <= 8:
                    return backend.to_array(av_frame, full)
                # deep sources: the 8-bit view is made from the deep one, so both agree
                return to_display_uint8(backend.to_array(av_frame, True))
            image = backend.read_native(frame, full)
            return image if full else to_display_uint8(image)

    def read(self, frame: int) -> np.ndarray:
        """HxWx3 uint8 RGB (cached; the array is read-only, copy it to edit)."""
        frame = self._check_frame(frame)
        key = ("rgb", frame)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        image = self._decode(frame, full=False)
        return self.cache.put(key, image)

    def read_full(self, frame: int) -> np.ndarray:
        """Native precision: uint8, uint16 (10/12/16-bit, full range) or float32; HxWx3 or HxWx4.

        Not cached (exports read each frame once); 8-bit RGB sources share read()'s cache.
        """
        frame = self._check_frame(frame)
        if self.bit_depth <= 8 and not self._has_alpha():
            return self.read(frame)
        image = self._decode(frame, full=True)
        image.flags.writeable = False
        return image

    def _has_alpha(self) -> bool:
        backend = self._backend
        if isinstance(backend, _VideoFrames):
            return backend.has_alpha
        return backend.out_channels == 4

    @property
    def has_alpha(self) -> bool:
        return self._has_alpha()

    def __getitem__(self, frame: int) -> np.ndarray:
        return self.read(frame)

    def __len__(self) -> int:
        return self.frame_count

    # description -------------------------------------------------------------------------

    def info(self) -> dict:
        data = {
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "fps": _fraction_str(self.fps),
            "variable_frame_rate": self.variable_frame_rate,
            "pixel_format": self.pixel_format,
            "bit_depth": self.bit_depth,
            "kind": self.kind,
            "path": self.path,
            "missing_frames": list(self.missing_frames),
            "has_alpha": self._has_alpha(),
            "warnings": list(self.warnings),
        }
        if self.pattern:
            data["pattern"] = self.pattern
        backend = self._backend
        if isinstance(backend, _VideoFrames):
            data["codec"] = backend.codec
            data["keyframes"] = len(getattr(backend, "key_frames", []))
            if backend.positional:
                data["note"] = "no usable timestamps; frames are counted in decode order"
        return data

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._backend.close()
                self.cache.clear()

    def __enter__(self) -> "Media":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"Media({self.path!r}, {self.kind}, {self.width}x{self.height}, "
                f"frames {self.first_frame}-{self.last_frame}, {_fraction_str(self.fps)} fps)")


# ---------------------------------------------------------------------------------------------
# opening

def _missing(numbers: list[int]) -> list[int]:
    present = set(numbers)
    return [n for n in range(numbers[0], numbers[-1] + 1) if n not in present]


def _open_sequence(pattern: SequencePattern, cache_bytes: int, shown: str) -> Media:
    folder = pattern.folder
    if not folder.exists() and not os.path.islink(folder):
        raise MediaError(f"the folder of {shown} ({folder}) does not exist; check the path.")
    _stat(folder)
    if not folder.is_dir():
        raise MediaError(f"{folder} is not a folder; check the sequence path {shown}.")
    files: dict[int, Path] = {}
    for name in _list_dir(folder):
        number = pattern.match(name)
        if number is not None:
            files[number] = folder / name
    if not files:
        near = [n for n in _list_dir(folder) if n.startswith(pattern.prefix) and n.endswith(pattern.suffix)]
        hint = f" (found e.g. {sorted(near)[0]}: check the number of digits)" if near else ""
        raise MediaError(f"no files match {shown}{hint}; check the name, the padding and the extension.")
    numbers = sorted(files)
    backend = _ImageFrames({n: files[n] for n in numbers}, pattern.text)
    return Media(pattern.text, backend, numbers, _missing(numbers), cache_bytes, pattern=pattern.text)


def _open_folder(folder: Path, cache_bytes: int) -> Media:
    groups = _groups_in_folder(folder)
    if not groups:
        videos = [n for n in _list_dir(folder) if not n.startswith(".")
                  and Path(n).suffix.lower() in {".mp4", ".mov", ".mkv", ".avi", ".mxf", ".webm", ".m4v"}]
        hint = f" (it has the video {videos[0]}: open that file)" if len(videos) == 1 else ""
        raise MediaError(f"the folder {folder} has no numbered images{hint}; choose a folder "
                         f"holding a sequence like plate.1001.exr, or the video file itself.")
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if len(ranked) > 1 and len(ranked[1][1]) > 1:
        names = ", ".join(_pattern_from_group(folder, p, s, f).text.split(os.sep)[-1]
                          for (p, s), f in ranked[:4])
        raise MediaError(f"the folder {folder} holds several sequences ({names}); "
                         f"open one by its pattern, e.g. {os.path.join(str(folder), names.split(', ')[0])}.")
    (prefix, suffix), files = ranked[0]
    pattern = _pattern_from_group(folder, prefix, suffix, files)
    numbers = sorted(files)
    backend = _ImageFrames({n: folder / files[n] for n in numbers}, pattern.text)
    return Media(pattern.text, backend, numbers, _missing(numbers), cache_bytes, pattern=pattern.text)


def open_media(path, cache_bytes: int = 512 * MiB) -> Media:
    """Open a video, an image sequence (pattern or folder) or a single still. See module doc."""
    if path is None or (isinstance(path, str) and not path.strip()):
        raise MediaError("no media path was given; choose a video, an image sequence or an image.")
    try:
        text = os.fspath(path)
    except TypeError:
        raise MediaError(f"{path!r} is not a file path; choose a video, an image sequence or an image.") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\x00" in text:
        raise MediaError("the media path contains a NUL character; check the path.")
    text = os.path.expanduser(text)
    p = Path(text)
    if not os.path.lexists(p):
        pattern = parse_pattern(text)
        if pattern is not None:
            return _open_sequence(pattern, cache_bytes, text)
    st = _stat(p)
    import stat as stat_mod

    if stat_mod.S_ISDIR(st.st_mode):
        return _open_folder(p, cache_bytes)
    if not stat_mod.S_ISREG(st.st_mode):
        raise MediaError(f"{p} is not a regular file (a device, pipe or socket); choose a media file.")
    if st.st_size == 0:
        raise MediaError(f"{p} is empty (0 bytes); the copy or render did not finish, get the file again.")
    head = _read_bytes(p, 64)
    ext = p.suffix.lower()
    if _sniff(head) is not None or ext in IMAGE_EXTENSIONS:
        # a still (or a non-image wearing an image extension: read_image says so)
        backend = _ImageFrames({_still_frame_number(p): p}, str(p), kind="image")
        number = next(iter(backend.files))
        return Media(p, backend, [number], [], cache_bytes)
    backend = _VideoFrames(p)
    media = Media(p, backend, list(range(backend.frame_count)), [], cache_bytes)
    try:
        media.read(0)  # a file that cannot give its first frame is reported now, not later
    except MediaError:
        media.close()
        raise
    return media
