"""A thread-safe LRU cache of decoded frames, bounded by bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

import numpy as np


class FrameCache:
    """Keeps the most recently used arrays until their total size passes `max_bytes`.

    Arrays are stored read-only: they are shared by everyone who reads the same frame.
    An array larger than the whole budget is simply not kept.
    """

    def __init__(self, max_bytes: int = 512 * 1024 * 1024):
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: np.ndarray) -> np.ndarray:
        """Store `value` (made read-only) and return it."""
        value.flags.writeable = False
        size = value.nbytes
        if size > self.max_bytes:
            return value
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
