"""Small frame thumbnails for the timeline's strip, decoded in a thread (workers.jobs.Job): each
one goes back through the job's progress signal as (frame, HxWx3 uint8) as soon as it is made,
so the strip fills in from the first while the rest decode. No widgets."""

from __future__ import annotations

import numpy as np


def thumbnail(image: np.ndarray, height: int) -> np.ndarray:
    """`image` (RGB, any dtype) scaled to `height` pixels high, as uint8 RGB."""
    import cv2

    from roto_studio.core.media.display import to_display_uint8

    rgb = to_display_uint8(image) if image.dtype != np.uint8 else image[..., :3]
    h, w = rgb.shape[:2]
    width = max(1, int(round(w * height / max(h, 1))))
    return np.ascontiguousarray(cv2.resize(np.ascontiguousarray(rgb), (width, int(height)),
                                           interpolation=cv2.INTER_AREA))


def make_thumbnails(media, frames, height: int):
    """A Job function: thumbnails of `frames`, each reported as progress info (frame, array)."""

    def run(progress, cancelled):
        frames_ = list(frames)
        for k, f in enumerate(frames_):
            if cancelled():
                break
            progress(k + 1, len(frames_), (f, thumbnail(media.read(f), height)))
        return len(frames_)

    return run
