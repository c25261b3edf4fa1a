"""Atomic file writes: write a temp file in the same folder, fsync, then rename over the target."""

from __future__ import annotations

from typing import Iterator

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None, fsync: bool = True) -> Iterator[Path]:
    """Yield a temp path next to `target`; on success it replaces `target`, on error it is removed.

    `suffix` keeps the extension writers look at (cv2 picks the codec from it). The rename alone
    survives a killed process; `fsync` also survives a power cut, at some cost per file."""
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    try:
        try:
            yield Path(tmp)
            if fsync:
                _fsync_file(tmp)
            os.replace(tmp, target)
        except OSError as exc:
            if exc.filename is None or os.fsdecode(exc.filename) not in (tmp, Path(tmp).name):
                raise
            # users never see temp names: the same error (same subclass) about the final file
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def _fsync_file(path: str | os.PathLike[str]) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder: str | os.PathLike[str]) -> int:
    """Delete temp files left by a killed writer; returns how many."""
    n = 0
    for p in Path(folder).glob(".*.tmp*"):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n
