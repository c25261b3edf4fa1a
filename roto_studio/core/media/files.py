"""Media file access with plain-language errors, the frame-size limits, and small text helpers
(frame ranges, rates) shared by the readers and the front end."""

from __future__ import annotations

import errno
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from roto_studio.core.errors import MediaError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".webp"}
MAX_SIDE = 16384  # pixels a side
MAX_PIXELS = 1 << 27  # 134 megapixels (16384 x 8192)
MIN_SIDE = 2
DEFAULT_SEQUENCE_FPS = Fraction(24)
MiB = 1024 * 1024


def _name(path: object) -> str:
    return str(path)


def check_size(width: int, height: int, where: object) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise MediaError(
            f"{_name(where)} has a {width}x{height} frame, larger than Roto Studio handles "
            f"(at most {MAX_SIDE} pixels a side and {MAX_PIXELS // 1_000_000} megapixels); "
            f"check the file or scale the plate down.")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise MediaError(
            f"{_name(where)} has a {width}x{height} frame, too small to rotoscope "
            f"(at least {MIN_SIDE}x{MIN_SIDE} pixels); check the file.")


def stat_file(path: Path) -> os.stat_result:
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


def read_bytes(path: Path, count: int | None = None, offset: int = 0) -> bytes:
    try:
        with open(path, "rb") as fh:
            if offset:
                fh.seek(offset)
            return fh.read() if count is None else fh.read(count)
    except OSError as exc:
        stat_file(path)  # raises the plain message when it applies
        raise MediaError(f"{path} cannot be read ({exc.strerror or exc}); "
                         f"check the file and its permissions.") from None


def frame_ranges(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10' (shortened when long)."""
    numbers = sorted(numbers)
    parts: list[str] = []
    start: int | None = None
    prev = 0
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


def fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"

