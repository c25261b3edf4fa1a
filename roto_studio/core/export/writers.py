"""Writing export files atomically (hidden temp name, renamed when complete): PNG and EXR frames, the
output-folder check, and the plain-language messages for disk full, permissions and the like."""

from __future__ import annotations

from typing import Any, ContextManager

import errno
import shutil
import tempfile
from pathlib import Path

import numpy as np

from roto_studio.core.atomic import atomic_path as _atomic_path
from roto_studio.core.errors import ExportError, RotoError
# re-exported (`as`): run writes PNGs through writers.encode_png, which tests patch
from roto_studio.core.export.pixels import encode_png as encode_png
from roto_studio.core.exr import write_exr

def atomic_path(final: Path, suffix: str = "") -> ContextManager[Path]:
    """Temp file next to `final`, renamed over it when complete (core.atomic; no fsync per frame:
    the rename alone guarantees no partial file under a final name if the process dies)."""
    return _atomic_path(final, suffix, fsync=False)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_png_file(final: Path, image: np.ndarray) -> None:
    write_bytes_atomic(final, encode_png(image))


def write_exr_file(final: Path, channels: dict[str, Any], precision: str = "half", compression: str = "zip",
                   threads: int = 1, attributes: dict[str, Any] | None = None,
                   channel_precision: dict[str, Any] | None = None) -> None:
    with atomic_path(final, ".exr") as tmp:
        try:
            write_exr(tmp, channels, precision, compression, threads, attributes, channel_precision)
        except RotoError:
            raise
        except OSError:
            raise
        except Exception as exc:  # OpenEXR reports I/O trouble as plain exceptions
            raise _exr_failure(Path(final), tmp, exc) from None


def _exr_failure(final: Path, tmp: Path, exc: Exception) -> OSError:
    """An OSError naming `final` (never the hidden temp file) for an OpenEXR write failure."""
    text = str(exc).replace(str(tmp), str(final)).replace(tmp.name, final.name)
    low = text.lower()
    if "no space" in low or "disk full" in low:
        return OSError(errno.ENOSPC, "No space left on device", str(final))
    if "permission" in low or "read-only" in low:
        return OSError(errno.EACCES, "Permission denied", str(final))
    try:
        if shutil.disk_usage(final.parent).free < 1 << 20:
            return OSError(errno.ENOSPC, "No space left on device", str(final))
    except OSError:
        pass
    return OSError(errno.EIO, f"OpenEXR could not write the file ({text})", str(final))


def os_error_message(exc: OSError, where: Path | str) -> str:
    name = exc.filename or where
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"the disk is full while writing {name}; free some space or choose another folder with --out."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {name} (permission denied); choose a folder you can write to."
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"part of the path {name} is a file, not a folder; choose another output folder."
    if exc.errno == errno.ENOENT:
        return f"the folder for {name} does not exist or was removed; check the output folder."
    return f"writing {name} failed: {exc.strerror or exc}; check the output folder and free disk space."


def check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written there, or raise ExportError."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"the output {folder} is a file, not a folder; choose a folder.")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".roto-write-check-", delete=True) as f:
            f.write(b"x")
            f.flush()
    except OSError as exc:
        raise ExportError(os_error_message(exc, folder)) from None

