"""The frames a propagation reads, without filling the shot's frame cache as it goes.

A propagation visits every frame of a span once, in order. Read through the shared Media cache,
a 10,000-frame pass keeps decoding into it until its byte budget (512 MiB by default) is full,
pushing out the frames the artist looked at: on small frames the process then grows by a frame's
size per frame until the cap. `StreamFrames` hands the tracker frames from the cache when they
are there, and otherwise decodes them with `keep=False` into a small LRU of its own
(`keep_frames`, a few frames: what a tracker reads again, e.g. the previous frame), so what a
propagation adds to memory does not depend on the shot's length.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class StreamFrames:
    """A FrameSource over `media` (a core Media or any FrameSource) for one pass over a shot."""

    def __init__(self, media, keep_frames: int = 4):
        self.media = media
        self.keep_frames = max(1, int(keep_frames))
        self._recent: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._keep_arg = _takes_keep(media)
        self.decoded = 0  # frames read from the media (tests)

    def __getattr__(self, name):  # width, height, frame_numbers, fps, path, view, ...
        if name == "media":
            raise AttributeError(name)
        return getattr(self.media, name)

    def read(self, frame: int) -> np.ndarray:
        frame = int(frame)
        with self._lock:
            hit = self._recent.get(frame)
            if hit is not None:
                self._recent.move_to_end(frame)
                return hit
        image = self.media.read(frame, keep=False) if self._keep_arg else self.media.read(frame)
        with self._lock:
            self.decoded += 1
            self._recent[frame] = image
            while len(self._recent) > self.keep_frames:
                self._recent.popitem(last=False)
        return image

    def __getitem__(self, frame: int) -> np.ndarray:
        return self.read(frame)

    def __len__(self) -> int:
        return len(self.media.frame_numbers)

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()


def _takes_keep(media) -> bool:
    import inspect

    try:
        return "keep" in inspect.signature(media.read).parameters
    except (TypeError, ValueError, AttributeError):
        return False
