"""Soft alpha per object per frame, stored as compressed 16-bit PNG files in the project folder.

Layout: <folder>/<obj_id>/<frame>.png (frame may be negative). Every write is atomic, so a
killed process leaves either the old mask or the new one. Memory use is bounded by an LRU cache.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from roto_studio.core.atomic import atomic_path, remove_stale_temps
from roto_studio.core.errors import ProjectError

# No PNG row filter: 2-3x faster to encode than the adaptive filters, files about as small.
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]


def to_alpha(mask: np.ndarray) -> np.ndarray:
    """Any mask (bool, uint8, uint16, float) -> float32 HxW alpha in 0..1."""
    a = np.asarray(mask)
    if a.ndim == 3:
        a = a[..., -1] if a.shape[2] in (2, 4) else a[..., 0]
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    out = np.clip(a.astype(np.float32, copy=False), 0.0, 1.0)
    nan = np.isnan(out)
    if nan.any():
        out[nan] = 0.0
    return out


class MaskStore:
    def __init__(self, folder: str | os.PathLike[str], cache_bytes: int = 256 * 2**20):
        self.folder = Path(folder)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, int], np.ndarray | None] = OrderedDict()
        self._cached = 0
        self._lock = threading.RLock()
        self._writes = 0  # counts writes, so a read that raced one is not cached

    # -- paths
    def object_folder(self, obj_id: str) -> Path:
        """The folder of one object's masks (the id is checked: no path tricks)."""
        if not obj_id or "/" in obj_id or "\\" in obj_id or obj_id in (".", ".."):
            raise ProjectError(f"invalid object id {obj_id!r}")
        return self.folder / obj_id

    def path(self, obj_id: str, frame: int) -> Path:
        """The file of one mask (which may not exist yet)."""
        return self.object_folder(obj_id) / f"{int(frame)}.png"

    # -- cache
    def _remember(self, key: tuple[str, int], alpha: np.ndarray | None) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cached -= old.nbytes
        self._cache[key] = alpha
        if alpha is not None:
            self._cached += alpha.nbytes
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            if dropped is not None:
                self._cached -= dropped.nbytes

    # -- API
    def get(self, obj_id: str, frame: int) -> np.ndarray | None:
        key = (obj_id, int(frame))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                a = self._cache[key]
                return None if a is None else a.copy()
        with self._lock:
            writes = self._writes
        path = self.path(obj_id, frame)
        data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.exists() else None
        alpha = None if data is None else to_alpha(data)
        with self._lock:
            if writes == self._writes:  # a write while reading may have made this stale
                self._remember(key, alpha)
        return None if alpha is None else alpha.copy()

    def set(self, obj_id: str, frame: int, alpha: np.ndarray) -> None:
        a = to_alpha(alpha)
        if a.ndim != 2:
            raise ProjectError(f"a mask must be 2-D, got shape {a.shape}")
        d = self.object_folder(obj_id)
        d.mkdir(parents=True, exist_ok=True)
        data = (a * 65535.0 + 0.5).astype(np.uint16)
        # atomic rename without fsync: masks are many and can be redone; the project file is synced
        with atomic_path(self.path(obj_id, frame), fsync=False) as tmp:
            if not cv2.imwrite(str(tmp), data, _PNG_PARAMS):
                raise OSError(f"could not write mask {tmp}")
        # Only refresh an entry that is already cached: a long propagation writes thousands of
        # masks nobody is looking at, and caching them all would grow memory with the shot.
        key = (obj_id, int(frame))
        with self._lock:
            self._writes += 1
            if key in self._cache:
                self._remember(key, data * np.float32(1 / 65535))

    def delete(self, obj_id: str, frame: int) -> None:
        try:
            self.path(obj_id, frame).unlink()
        except FileNotFoundError:
            pass
        with self._lock:
            self._writes += 1
            self._remember((obj_id, int(frame)), None)

    def has(self, obj_id: str, frame: int) -> bool:
        with self._lock:
            key = (obj_id, int(frame))
            if key in self._cache:
                return self._cache[key] is not None
        return self.path(obj_id, frame).exists()

    def frames(self, obj_id: str) -> list[int]:
        d = self.object_folder(obj_id)
        if not d.is_dir():
            return []
        out = []
        for p in d.iterdir():
            if p.suffix == ".png" and not p.name.startswith("."):
                try:
                    out.append(int(p.stem))
                except ValueError:
                    pass
        return sorted(out)

    def objects(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def remove_object(self, obj_id: str) -> None:
        d = self.object_folder(obj_id)
        if d.exists():
            shutil.rmtree(d)
        with self._lock:
            self._writes += 1
            for key in [k for k in self._cache if k[0] == obj_id]:
                self._remember(key, None)
                del self._cache[key]

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cached = 0

    def cleanup(self) -> int:
        """Remove temp files a killed writer left behind."""
        return sum(remove_stale_temps(self.folder / o) for o in self.objects())
