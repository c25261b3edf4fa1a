"""Ahead of the artist: the image embeddings of the frames next to the one being looked at,
computed while the model thread would otherwise wait, so a click there answers at once.

`Ahead(engine).look(frame)` sets the frames to embed (the next `frames` neighbours, nearest
first, after then before: f+1, f-1, f+2, ...); a look at another frame replaces them (a scrub
cancels what was not done yet). `step()` embeds one of them through engine.prefetch (the image
segmenter's bounded embedding cache; on a model server its session's) and says whether any are
left; workers.service calls it between requests, one frame at a time, so a new request waits
for at most one embedding. Only for backends whose clicks need an image embedding (torch ones).
"""

from __future__ import annotations

import threading
from collections import deque


class Ahead:
    def __init__(self, engine, frames: int = 2):
        self.engine = engine
        self.frames = max(0, int(frames))
        self._todo: deque = deque()
        self._lock = threading.Lock()
        self.computed = 0  # frames handed to engine.prefetch (already embedded ones cost a look-up)
        self.busy = False  # a step is running

    def wanted(self) -> bool:
        plan = getattr(self.engine, "plan", None)
        return self.frames > 0 and plan is not None and plan.uses_torch

    def look(self, frame: int) -> None:
        """The artist is on `frame`: embed its neighbours next (what was queued before is dropped)."""
        if not self.wanted():
            return
        numbers = self.engine.media.frame_numbers
        import bisect

        i = bisect.bisect_left(numbers, int(frame))
        order: list[int] = []
        for d in range(1, self.frames + 1):
            for j in (i + d, i - d):
                if 0 <= j < len(numbers) and len(order) < self.frames:
                    order.append(numbers[j])
        with self._lock:
            self._todo = deque(order)  # frames already embedded cost a cache look-up

    def cancel(self) -> None:
        with self._lock:
            self._todo.clear()

    def pending(self) -> bool:
        with self._lock:
            return bool(self._todo)

    def step(self) -> bool:
        """Embed the next waiting frame; True while more are waiting."""
        with self._lock:
            if not self._todo:
                return False
            frame = self._todo.popleft()
            self.busy = True
        try:
            self.engine.prefetch([frame])
            self.computed += 1
        finally:
            self.busy = False
        return self.pending()
