"""Sequence patterns: `plate.####.exr`, `%04d`, `@@@@`, `$F4` parsed into SequencePattern, numbered
files grouped into sequences in a folder, and the frame number of a lone still."""

from __future__ import annotations

import os
import re
from pathlib import Path

from roto_studio.core.errors import MediaError
from roto_studio.core.media.files import IMAGE_EXTENSIONS, stat_file

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


def parse_pattern(path: str | os.PathLike[str]) -> SequencePattern | None:
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


def list_folder(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError as exc:
        stat_file(folder)
        raise MediaError(f"the folder {folder} cannot be listed ({exc.strerror}); "
                         f"check its permissions.") from None


def groups_in_folder(folder: Path) -> dict[tuple[str, str], dict[int, str]]:
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for name in list_folder(folder):
        m = _NUMBERED.match(name)
        if not m or m.group("suffix").lower() not in IMAGE_EXTENSIONS or name.startswith("."):
            continue
        groups.setdefault((m.group("prefix"), m.group("suffix")), {})[int(m.group("digits"))] = name
    return groups


def pattern_from_group(folder: Path, prefix: str, suffix: str, files: dict[int, str]) -> SequencePattern:
    lengths = {len(name) - len(prefix) - len(suffix) for name in files.values()}
    padding = min(lengths) if len(lengths) == 1 else 1
    if len(lengths) > 1:
        # padded numbers that grew a digit (0998, 0999, 1000) keep the smallest padding
        padded = [len(n) - len(prefix) - len(suffix) for f, n in files.items()
                  if n[len(prefix)] == "0"]
        padding = max(padded) if padded else 1
    return SequencePattern(folder, prefix, padding, suffix)


def sequence_pattern_for(path: str | os.PathLike[str]) -> str | None:
    """For one file of a numbered sequence (`plate.1001.exr`), the sequence's pattern
    (`.../plate.####.exr`) when sibling frames exist; else None. Lets a UI offer the whole shot."""
    path = Path(path)
    m = _NUMBERED.match(path.name)
    if not m or path.suffix.lower() not in IMAGE_EXTENSIONS:
        return None
    prefix, suffix = m.group("prefix"), m.group("suffix")
    files = groups_in_folder(path.parent).get((prefix, suffix), {})
    if len(files) < 2:
        return None
    return pattern_from_group(path.parent, prefix, suffix, files).text


def still_frame_number(path: Path) -> int:
    """`plate.1001.exr`, `plate_1001.exr`, `1001.exr` -> 1001; anything else -> 0."""
    m = re.search(r"(?:^|[._])(\d{1,9})$", path.stem)
    return int(m.group(1)) if m else 0

