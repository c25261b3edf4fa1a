"""Spill folders: scratch space on disk for model memory that is set aside during a run (SAM 2's
per-frame memory beyond its attention window).

They live in the project's cache folder (`NAME.roto/cache/sam2-spill/`), or in the user cache
folder (`~/.cache/roto-studio/sam2-spill` on Linux) when there is no project: never in `$TMPDIR`,
which is RAM on many Linux systems. Each run gets `run-<pid>-<random>/` holding `owner.json`
(pid, host, process start). A folder is removed when its run closes; after a crash it is removed
the next time a run starts in the same place (or an engine opens the project), once its process is
gone. `check_free_space` refuses a run the disk cannot hold, naming the folder and the space needed.
"""

from __future__ import annotations

from typing import Any

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from roto_studio.core.errors import ModelError

SPILL_DIR = "sam2-spill"
OWNER_FILE = "owner.json"
MiB = 1024 * 1024
DEFAULT_RESERVE = 512 * MiB  # left free on the disk after a run (ROTO_MIN_FREE_MB overrides)


def spill_root(project_folder: str | os.PathLike[str] | None = None) -> Path:
    """Where spill folders go: the project's cache folder, else the user cache folder."""
    if project_folder:
        return Path(project_folder) / "cache" / SPILL_DIR
    from roto_studio.core.paths import cache_dir

    return cache_dir() / SPILL_DIR


def usable_spill_root(project_folder: str | os.PathLike[str] | None = None) -> Path:
    """spill_root(project_folder) when that folder exists and can be written, else the user
    cache folder's (a project on a read-only share still tracks)."""
    if project_folder and Path(project_folder).is_dir():
        probe = Path(project_folder) / f".roto-write-probe-{os.getpid()}"
        try:
            probe.touch()
            probe.unlink()
            return spill_root(project_folder)
        except OSError:
            pass
    return spill_root(None)


def _process_start(pid: int) -> str | None:
    """A token that changes when a pid is reused (Linux: start time in /proc), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    except OSError:
        return False
    now = _process_start(pid)
    return start is None or now is None or now == start


def _owner(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / OWNER_FILE).read_text())
        return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def clean_stale(root: str | os.PathLike[str]) -> list[Path]:
    """Remove the spill folders under `root` whose process is gone (left by a crash). Folders of
    live processes, and of other machines (a project on a shared disk), are left alone."""
    root = Path(root)
    removed: list[Path] = []
    try:
        children = list(root.iterdir())
    except OSError:
        return removed
    host = socket.gethostname()
    for child in children:
        if not child.name.startswith("run-") or not child.is_dir():
            continue
        owner = _owner(child)
        if owner is None:  # crashed before writing its owner file: the pid is in the name
            try:
                owner = {"pid": int(child.name.split("-")[1]), "host": host, "start": None}
            except (IndexError, ValueError):
                continue
        if owner.get("host", host) != host or _alive(owner["pid"], owner.get("start")):
            continue
        shutil.rmtree(child, ignore_errors=True)
        if not child.exists():
            removed.append(child)
    return removed


class SpillFolder:
    """One run's spill folder under `root` (made now, stale siblings cleaned first)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"cannot create the spill folder {self.root} ({exc.strerror or exc}); "
                             f"choose a project folder you can write to.") from None
        self.removed_stale = clean_stale(self.root)
        pid = os.getpid()
        self.path = Path(tempfile.mkdtemp(prefix=f"run-{pid}-", dir=self.root))
        owner = {"pid": pid, "host": socket.gethostname(), "start": _process_start(pid)}
        (self.path / OWNER_FILE).write_text(json.dumps(owner))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.root.rmdir()  # only when empty; the cache folder itself stays
        except OSError:
            pass


def reserve_bytes() -> int:
    text = os.environ.get("ROTO_MIN_FREE_MB", "").strip()
    try:
        return max(0, int(float(text) * MiB)) if text else DEFAULT_RESERVE
    except ValueError:
        return DEFAULT_RESERVE


def _size(n: float) -> str:
    return f"{n / 1024 ** 3:.1f} GB" if n >= 1024 ** 3 else f"{max(1, round(n / MiB))} MB"


def check_free_space(folder: str | os.PathLike[str], needed: int) -> None:
    """ModelError (one line naming the folder) when `needed` bytes plus the reserve do not fit."""
    folder = Path(folder)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the writes themselves will say if the disk fills up
    want = int(needed) + reserve_bytes()
    if free < want:
        raise ModelError(f"not enough free disk space for SAM 2's spilled memory in {folder}: the run "
                         f"needs about {_size(want)} (including {_size(reserve_bytes())} kept free), "
                         f"{_size(free)} is free; free some space or propagate a shorter range.")
