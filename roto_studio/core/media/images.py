"""Image files: format sniffing, header checks (size limits before decoding), the PNG / JPEG / TIFF /
EXR readers (`read_image`) and the frames backend for stills and sequences (`ImageFrames`)."""

from __future__ import annotations

from typing import Any

import os
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from roto_studio.core.errors import MediaError
from roto_studio.core.media.display import BITS, pixel_format_name
from roto_studio.core.media.files import DEFAULT_SEQUENCE_FPS, MIN_SIDE, check_size, read_bytes, stat_file

def sniff_kind(head: bytes) -> str | None:
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


def _png_header(path: Path, head: bytes) -> tuple[int, int]:
    if len(head) < 26 or head[12:16] != b"IHDR":
        raise MediaError(f"{path} is a damaged PNG (no image header); re-render or replace it.")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg_header(path: Path) -> tuple[int, int]:
    data = read_bytes(path, 1 << 20)
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


def _tiff_header(path: Path, head: bytes) -> tuple[int, int]:
    order = "<" if head[:2] == b"II" else ">"
    data = read_bytes(path, 1 << 16)
    try:
        (ifd,) = struct.unpack(order + "I", data[4:8])
        if ifd + 2 > len(data):
            data = read_bytes(path, 1 << 16, offset=ifd)
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


def _exr_open(path: Path, header_only: bool) -> Any:
    import OpenEXR

    try:
        return OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
    except Exception:  # OpenEXR raises RuntimeError with its own wording
        raise MediaError(f"{path} is a damaged or incomplete EXR file; re-render or replace it.") from None


def _exr_windows(path: Path, header: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
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


def _read_exr(path: Path) -> tuple[np.ndarray, str, int, tuple[int, int]]:
    """-> (HxWxC float32 array, kind 'f16'|'f32'|'u32', channels in file)."""
    head = _exr_open(path, True)
    header = head.header()
    (dx0, dy0, dx1, dy1), (x0, y0, x1, y1) = _exr_windows(path, header)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    check_size(width, height, path)
    dwidth, dheight = dx1 - dx0 + 1, dy1 - dy0 + 1
    if dwidth > 0 and dheight > 0:
        check_size(max(dwidth, MIN_SIDE), max(dheight, MIN_SIDE), path)
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


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, str, int]:
    """Read one image file natively -> (HxWx3/4 array, sample kind, channels in the file).

    uint8 / uint16 / float32 arrays in RGB(A) order. Raises MediaError for anything wrong.
    """
    import cv2

    path = Path(path)
    st = stat_file(path)
    if os.path.isdir(path):
        raise MediaError(f"{path} is a folder, not an image; choose an image file.")
    if st.st_size == 0:
        raise MediaError(f"{path} is empty (0 bytes); re-render or replace it.")
    head = read_bytes(path, 64)
    kind = sniff_kind(head)
    ext = path.suffix.lower().lstrip(".") or "image"
    if kind is None:
        raise MediaError(f"{path} is not an image (its contents are not {ext.upper()} data); "
                         f"replace it with the real frame or remove it.")
    if kind == "exr":
        return _read_exr(path)[:3]
    if kind == "bigtiff":
        raise MediaError(f"{path} is a BigTIFF, which is not supported; save the plate as TIFF, PNG or EXR.")
    if kind == "png":
        check_size(*_png_header(path, head), path)
    elif kind == "jpeg":
        check_size(*_jpeg_header(path), path)
    elif kind == "tiff":
        check_size(*_tiff_header(path, head), path)
    data = np.frombuffer(read_bytes(path), np.uint8)
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
    check_size(image.shape[1], image.shape[0], path)
    return image, sample, channels



class ImageFrames:
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
        self.first_image: np.ndarray | None = image
        self.pixel_format = pixel_format_name(channels, sample)
        self.bit_depth = BITS[sample]
        fps = _exr_fps(self.files[first]) if self.files[first].suffix.lower() == ".exr" else None
        self.fps = fps or DEFAULT_SEQUENCE_FPS
        self.fps_source = "exr" if fps else "assumed"  # EXR framesPerSecond, else 24 assumed

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
                f"frame {frame} ({path.name}) is {BITS[sample]}-bit {'float' if sample[0] == 'f' else 'integer'} "
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

    def colour_facts(self) -> dict[str, Any]:
        """What the first file says about its colour (for the colour-space guess)."""
        path = self.files[self.first]
        suffix = path.suffix.lower().lstrip(".")
        kind = {"tif": "tiff", "jpg": "jpeg", "jpe": "jpeg"}.get(suffix, suffix)
        facts = {"kind": kind, "float": self.sample[0] == "f", "bit_depth": self.bit_depth}
        if kind == "exr":
            try:
                header = _exr_open(path, True).header()
            except Exception:
                header = {}
            if header.get("chromaticities") is not None:
                facts["exr_chromaticities"] = tuple(float(c) for c in header["chromaticities"])
            if isinstance(header.get("colorInteropID"), str):
                facts["exr_interop_id"] = header["colorInteropID"]
        return facts

    def close(self) -> None:
        self.first_image = None

