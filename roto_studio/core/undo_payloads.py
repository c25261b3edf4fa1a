"""Undo payloads: the bytes that undo steps keep (16-bit PNG masks, keyed by (object, frame)),
held under a memory limit.

Beyond the limit the oldest payloads move to files in the project's cache folder
(`NAME.roto/cache/undo/run-<pid>-.../<n>.bin`, a core.spill folder, so a crash's leftovers are
removed at the next start) and are read back when their step is undone or redone: every step keeps
working, only RAM is bounded. A payload whose step is gone (dropped from the undo stack) frees its
memory and its file. If a file cannot be written (disk full, read-only project), the payload is
dropped and `on_drop(message)` is called once so the window can cut the history and say so.

File layout: one JSON line `{"entries": [[key, length], ...]}` (length -1 for None; keys are
strings or lists), then the payload bytes one after another. No pickle.
"""

from __future__ import annotations

import itertools
import json
import os
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, TYPE_CHECKING, Callable

from roto_studio.core.errors import ProjectError, RotoError

if TYPE_CHECKING:
    from roto_studio.core.spill import SpillFolder

MiB = 1024 * 1024
DEFAULT_LIMIT = 256 * MiB
UNDO_DIR = "undo"


def _size(data: dict[Any, Any]) -> int:
    return sum(len(v) for v in data.values() if v is not None) + 64 * len(data)


class Payload:
    """One undo step's bytes: `get()` gives the dict back, from memory or from its file."""

    __slots__ = ("id", "nbytes", "_store", "_data", "_path", "lost", "__weakref__")

    def __init__(self, store: "UndoPayloads | None", ident: int, data: dict[Any, Any]):
        self.id = ident
        self.nbytes = _size(data)
        self._store = store
        self._data: dict[Any, Any] | None = data
        self._path: Path | None = None
        self.lost = False

    @property
    def on_disk(self) -> bool:
        return self._path is not None

    def spill(self, path: Path) -> None:
        """Write the bytes to `path` and let go of them in memory (OSError/RotoError: left as it was)."""
        if self._data is None:  # already on disk, or dropped
            return
        _write(path, self._data)
        self._path, self._data = path, None

    def drop(self) -> None:
        """Forget the bytes: get() then says the step was lost."""
        self._data, self.lost = None, True

    def get(self) -> dict[Any, Any]:
        if self._data is not None:
            return self._data
        if self.lost or self._path is None:
            raise ProjectError("this undo step's data was dropped (it could not be written to disk).")
        return _read(self._path)


def _key_out(key: Any) -> Any:  # keys are strings or (object, frame) tuples
    return list(key) if isinstance(key, tuple) else key


def _key_in(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _write(path: Path, data: dict[Any, Any]) -> None:
    entries = [[_key_out(k), -1 if v is None else len(v)] for k, v in data.items()]
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(json.dumps({"entries": entries}).encode() + b"\n")
        for v in data.values():
            if v is not None:
                f.write(v)
    os.replace(tmp, path)


def _read(path: Path) -> dict[Any, Any]:
    try:
        with open(path, "rb") as f:
            header = json.loads(f.readline())
            out = {}
            for key, length in header["entries"]:
                out[_key_in(key)] = None if length < 0 else f.read(length)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProjectError(f"the undo data in {path} cannot be read ({exc}); "
                           f"this step cannot be undone.") from None
    return out


class UndoPayloads:
    """Keeps at most `limit` bytes of payloads in memory; older ones go to files in `folder`
    (the project folder's cache; None: nowhere to go, so payloads beyond the limit are dropped)."""

    def __init__(self, project_folder: str | os.PathLike[str] | None = None, limit: int = DEFAULT_LIMIT,
                 on_drop: Callable[[str], None] | None = None):
        self.root = Path(project_folder) / "cache" / UNDO_DIR if project_folder else None
        self.limit = max(0, int(limit))
        self.on_drop = on_drop
        self._folder: SpillFolder | None = None  # made on the first spill
        self._ids = itertools.count(1)
        self._memory: OrderedDict[int, weakref.ref[Any]] = OrderedDict()  # oldest first
        self._paths: dict[int, Path] = {}  # payloads on disk
        self.memory_bytes = 0
        self.disk_bytes = 0
        self.spilled = 0  # payloads moved to disk so far
        self.dropped = 0
        self._told = False
        self.closed = False

    def add(self, data: dict[Any, Any]) -> Payload:
        payload = Payload(self, next(self._ids), dict(data))
        self._memory[payload.id] = weakref.ref(payload)
        self.memory_bytes += payload.nbytes
        weakref.finalize(payload, self._forget, payload.id, payload.nbytes)
        self._enforce()
        return payload

    def _forget(self, ident: int, nbytes: int) -> None:
        """A payload's step is gone: free its memory count and its file."""
        if self._memory.pop(ident, None) is not None:
            self.memory_bytes -= nbytes
        path = self._paths.pop(ident, None)
        if path is not None:
            self.disk_bytes -= nbytes
            try:
                path.unlink()
            except OSError:
                pass

    def _enforce(self) -> None:
        while self.memory_bytes > self.limit and self._memory:
            ident, ref = next(iter(self._memory.items()))
            payload = ref()
            self._memory.pop(ident)
            if payload is None:
                continue
            self.memory_bytes -= payload.nbytes
            try:
                path = self._spill_path(ident)
                payload.spill(path)
            except (OSError, RotoError) as exc:
                self._drop(payload, exc)
                continue
            self._paths[ident] = path
            self.disk_bytes += payload.nbytes
            self.spilled += 1

    def set_limit(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self._enforce()

    def _spill_path(self, ident: int) -> Path:
        if self.root is None or self.closed:
            raise OSError("no project folder to keep older undo steps in")
        if self._folder is None:
            from roto_studio.core.spill import SpillFolder

            self._folder = SpillFolder(self.root)
        return self._folder.path / f"{ident}.bin"

    def _drop(self, payload: Payload, exc: Exception) -> None:
        payload.drop()
        self.dropped += 1
        if self.on_drop is not None and not self._told:
            self._told = True
            where = f" in {self.root}" if self.root is not None else ""
            self.on_drop(f"the undo history is over its memory limit and older steps could not be "
                         f"kept{where} ({getattr(exc, 'strerror', None) or exc}); they were dropped.")

    def close(self) -> None:
        """Remove every file (the project closes); payloads still referenced stay readable only
        while in memory."""
        self.closed = True
        if self._folder is not None:
            self._folder.remove()
            self._folder = None
        self._paths.clear()
        self.disk_bytes = 0


def plain(data: dict[Any, Any]) -> Payload:
    """A payload outside any store (no limit): for commands made before a project is open."""
    return Payload(None, 0, dict(data))
