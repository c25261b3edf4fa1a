"""The server's model manager: several models sharing one device under a memory budget.

Models load lazily on first use (get(key, loader)). Each loaded model is accounted by the bytes
of its parameters and buffers (the same accounting on the CPU as on a GPU). When loading a model
would take the total over the budget, the least recently used models that are not pinned (a
propagation in progress pins its model) are unloaded first; listeners hear of each unload so
sessions built on that model drop it. A model larger than the whole budget is refused with a
message. Only the model thread calls get(); status() may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from roto_studio.core.errors import ModelError


class OverBudget(ModelError):
    """A model cannot fit in the memory budget even after unloading everything unpinned."""


def model_bytes(obj) -> int:
    """Bytes of a torch module's parameters and buffers (0 for objects without torch parts)."""
    seen: set[int] = set()
    total = 0
    for module in _modules(obj):
        for t in list(module.parameters()) + list(module.buffers()):
            if id(t) in seen:
                continue
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def _modules(obj, depth: int = 0):
    if obj is None or depth > 2:
        return
    if hasattr(obj, "parameters") and hasattr(obj, "buffers") and callable(obj.parameters):
        yield obj
        return
    for name in ("model", "network", "pipe", "unet", "vae", "text_encoder"):
        child = getattr(obj, name, None)
        if child is not None and child is not obj:
            yield from _modules(child, depth + 1)


@dataclass
class Entry:
    key: str
    value: Any
    bytes: int
    loaded_at: float
    last_used: float
    pins: int = 0
    uses: int = 0


class ModelManager:
    def __init__(self, budget_bytes: int | None, device: str = "cpu"):
        self.budget = int(budget_bytes) if budget_bytes else None
        self.device = device
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # last measured size per key (estimate for a reload)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str], None]] = []
        self.unloads = 0

    def on_unload(self, fn: Callable[[str], None]) -> None:
        self._listeners.append(fn)

    @property
    def used(self) -> int:
        with self._lock:
            return sum(e.bytes for e in self._entries.values())

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def get(self, key: str, loader: Callable[[], Any], estimate: int | None = None) -> Any:
        """The model for `key`, loading it (after making room) when it is not loaded."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.last_used = time.time()
                entry.uses += 1
                self._entries.move_to_end(key)
                return entry.value
            guess = self._sizes.get(key, estimate or 0)
        if guess:
            self._make_room(guess, key)
        value = loader()
        size = model_bytes(value)
        with self._lock:
            self._sizes[key] = size
            now = time.time()
            self._entries[key] = Entry(key, value, size, now, now, uses=1)
        try:
            self._make_room(0, key)
        except OverBudget:
            self.unload(key)
            raise
        return value

    def pin(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key].pins += 1

    def unpin(self, key: str) -> None:
        with self._lock:
            if key in self._entries and self._entries[key].pins > 0:
                self._entries[key].pins -= 1

    def _make_room(self, extra: int, keep: str) -> None:
        """Unload least recently used, unpinned models until `extra` more bytes fit; when even
        unloading all of them would not be enough, unload nothing and raise OverBudget."""
        if self.budget is None:
            return
        with self._lock:
            victims = [e.key for e in self._entries.values() if e.pins == 0 and e.key != keep]
            freeable = sum(self._entries[k].bytes for k in victims)
            if self.used + extra - freeable > self.budget:
                need = self._entries[keep].bytes if keep in self._entries else extra
                raise OverBudget(
                    f"model {keep} needs {_gb(need)} but the memory budget is {_gb(self.budget)} "
                    f"({_gb(self.used - freeable)} held by models in use); raise --gpu-memory-budget "
                    "or wait for the running jobs.")
        for key in victims:
            if self.used + extra <= self.budget:
                return
            self.unload(key)

    def unload(self, key: str) -> bool:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.unloads += 1
        for fn in list(self._listeners):
            try:
                fn(key)
            except Exception:  # noqa: BLE001 - a listener must not stop the unload
                pass
        del entry
        from roto_studio.models.device import free_memory

        free_memory(self.device)
        return True

    def unload_all(self) -> None:
        for key in self.loaded():
            self.unload(key)

    def status(self) -> list[dict]:
        with self._lock:
            return [{"key": e.key, "bytes": e.bytes, "loaded_at": e.loaded_at, "last_used": e.last_used,
                     "pinned": e.pins > 0, "uses": e.uses} for e in reversed(self._entries.values())]


def _gb(n: int | None) -> str:
    return "unlimited" if n is None else f"{n / 2**30:.2f} GB"
