"""How frames reach the server: by path under the media roots, or uploaded and cached by hash.

- PathPolicy maps a client's path through --path-map (CLIENT=SERVER prefixes) and allows it only
  when, with symlinks and `..` resolved, it lies under one of the --media-root folders. The check
  is made on the path string (realpath), before anything is opened.
- FrameCache keeps uploaded frames as PNG files in a private temporary folder, named by the
  SHA-256 of their pixels (checked on upload), bounded in bytes (oldest dropped first), with a
  few decoded frames in memory.
- ModelRoots: a request's `model` is a registry name or a folder inside one of the --model-root
  folders (symlinks and `..` resolved), nothing else; the check is made before anything is opened.
- UploadedFrames is the FrameSource of a session whose media the server cannot see: frame numbers
  map to hashes the client registers; reading a frame that is not there yet asks the client for
  it (need callback) and waits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from roto_studio.core import wire
from roto_studio.core.errors import RotoError


class Forbidden(RotoError):
    """A path the server may not read (answered with 403)."""


class NotFound(RotoError):
    """Something named by the request does not exist (answered with 404)."""


class PathPolicy:
    def __init__(self, roots=(), maps=()):
        self.roots = [os.path.realpath(os.path.expanduser(str(r))) for r in roots]
        self.maps = []  # (client prefix, server prefix), longest client prefix first
        for text in maps:
            client, sep, server = str(text).partition("=")
            if not sep or not client or not server:
                raise ValueError(f"--path-map {text!r} is not CLIENT=SERVER.")
            self.maps.append((client.rstrip("/\\") or "/", server.rstrip("/\\") or "/"))
        self.maps.sort(key=lambda m: -len(m[0]))

    @property
    def enabled(self) -> bool:
        return bool(self.roots)

    def map(self, path: str) -> str:
        p = path.replace("\\", "/") if "\\" in path and "/" not in path else path
        for client, server in self.maps:
            c = client.replace("\\", "/") if "\\" in client else client
            if p == c or p.startswith(c.rstrip("/") + "/"):
                return server + p[len(c.rstrip("/")):]
        return p

    def resolve(self, path) -> str:
        """The server path for a client path, or Forbidden (nothing is opened here)."""
        if not isinstance(path, str) or not path or len(path) > 4096 or "\x00" in path:
            raise Forbidden("the media path is empty, too long or not text.")
        if not self.roots:
            raise Forbidden("this server reads no media by path (started without --media-root); upload the frames.")
        mapped = self.map(path)
        if not os.path.isabs(mapped):
            raise Forbidden("the media path must be absolute.")
        real = os.path.realpath(mapped)
        for root in self.roots:
            try:
                if os.path.commonpath([real, root]) == root:
                    return real
            except ValueError:  # different drives
                continue
        raise Forbidden("the media path is outside the server's --media-root folders.")


class ModelRoots:
    def __init__(self, roots=()):
        self.roots = [os.path.realpath(os.path.expanduser(str(r))) for r in roots]

    def resolve(self, model: str | None, names) -> str | None:
        """`model` when it is one of the registry `names`; else the real path of a folder strictly
        inside a model root (absolute, or relative to a root); else WireError (400)."""
        if model is None or model in set(names):
            return model
        if isinstance(model, str) and model and len(model) <= 4096 and "\x00" not in model and self.roots:
            tries = [model] if os.path.isabs(model) else [os.path.join(r, model) for r in self.roots]
            for path in tries:
                real = os.path.realpath(path)
                for root in self.roots:
                    try:
                        inside = real != root and os.path.commonpath([real, root]) == root
                    except ValueError:  # different drives
                        continue
                    if inside and os.path.isdir(real):
                        return real
        where = " or a folder inside the server's --model-root folders" if self.roots else ""
        raise wire.WireError(f"model must be a registry name (GET /v1/weights lists them){where}.")


class FrameCache:
    def __init__(self, limit_bytes: int = 4 * 2**30, folder: str | None = None, decoded: int = 8):
        self.limit = int(limit_bytes)
        self._own = folder is None
        self.folder = Path(folder or tempfile.mkdtemp(prefix="roto-server-frames-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self._index: OrderedDict[str, int] = OrderedDict()
        self._decoded: OrderedDict[str, np.ndarray] = OrderedDict()
        self._keep = max(1, decoded)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.size = 0

    def has(self, digest: str) -> bool:
        with self._lock:
            return digest in self._index

    def missing(self, digests) -> list[str]:
        with self._lock:
            return [d for d in digests if d not in self._index]

    def put(self, digest: str, data: bytes) -> None:
        if not wire.is_hash(digest):
            raise wire.WireError("a frame is named by the 64 hex digits of its SHA-256.")
        image = wire.frame_from_png(data)
        if wire.frame_hash(image) != digest:
            raise wire.WireError("the frame's pixels do not match its hash; upload it again.")
        if self.has(digest):
            return
        tmp = self.folder / f".{digest}.{threading.get_ident()}"
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / digest)
        with self._cond:
            self._index[digest] = len(data)
            self.size += len(data)
            self._decoded[digest] = image
            self._trim()
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake the readers waiting for a frame (new hashes were registered)."""
        with self._cond:
            self._cond.notify_all()

    def _trim(self) -> None:
        while len(self._decoded) > self._keep:
            self._decoded.popitem(last=False)
        while self.size > self.limit and len(self._index) > 1:
            digest, n = self._index.popitem(last=False)
            self.size -= n
            self._decoded.pop(digest, None)
            try:
                (self.folder / digest).unlink()
            except OSError:
                pass

    def get(self, digest: str) -> np.ndarray | None:
        with self._lock:
            if digest not in self._index:
                return None
            self._index.move_to_end(digest)
            image = self._decoded.get(digest)
            if image is not None:
                self._decoded.move_to_end(digest)
                return image
        try:
            data = (self.folder / digest).read_bytes()
        except OSError:
            return None
        image = wire.frame_from_png(data)
        with self._lock:
            self._decoded[digest] = image
            self._trim()
        return image

    def wait(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)


class UploadedFrames:
    """FrameSource of uploaded frames: read(frame) waits (asking through need()) until it is here."""

    def __init__(self, cache: FrameCache, width: int, height: int, numbers, wait_s: float = 60.0):
        self.cache = cache
        self.width, self.height = int(width), int(height)
        self._numbers = list(numbers)
        self._set = set(self._numbers)
        self.hashes: dict[int, str] = {}
        self.wait_s = wait_s
        self.need: Callable[[int], None] | None = None
        self.cancelled: Callable[[], bool] = lambda: False
        self._lock = threading.Lock()

    @property
    def frame_numbers(self):
        return self._numbers

    def register(self, mapping: dict[int, str]) -> None:
        for f, h in mapping.items():
            if f not in self._set:
                raise NotFound(f"frame {f} is not in the session's media.")
            if not wire.is_hash(h):
                raise wire.WireError("frame hashes are 64 hex digits.")
        with self._lock:
            self.hashes.update(mapping)
        self.cache.wake()

    def read(self, frame: int) -> np.ndarray:
        frame = int(frame)
        if frame not in self._set:
            raise NotFound(f"frame {frame} is not in the session's media.")
        deadline = time.monotonic() + self.wait_s
        asked = 0.0
        while True:
            digest = self.hashes.get(frame)
            image = self.cache.get(digest) if digest else None
            if image is not None:
                if image.shape[:2] != (self.height, self.width):
                    raise wire.WireError(f"frame {frame} is {image.shape[1]}x{image.shape[0]}, "
                                         f"not {self.width}x{self.height}.")
                return image
            now = time.monotonic()
            if now > deadline or self.cancelled():
                raise NotFound(f"frame {frame} was not uploaded; upload it and try again.")
            if self.need is not None and now - asked > 2.0:
                asked = now
                self.need(frame)
            self.cache.wait(0.2)
