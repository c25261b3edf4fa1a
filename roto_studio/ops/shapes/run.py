"""Shapes for several objects over a span: the one call the CLI, `render` and the window make.

Takes, per object, its name, colour and alpha source (frame -> float alpha or None), the frames,
and the plate (frame -> image, for the optical flow); returns a ShapeDoc. No project, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .animate import DEFAULT_KEY_TOLERANCE, DEFAULT_TOLERANCE, track_object
from .model import ShapeDoc


@dataclass
class ObjectSource:
    name: str
    color: tuple[int, int, int]
    alpha_at: Callable[[int], np.ndarray | None]


def make_shapes(objects: list[ObjectSource], frames: list[int], width: int, height: int,
                image_at: Callable[[int], np.ndarray] | None = None, fps: float = 24.0,
                tolerance: float = DEFAULT_TOLERANCE, max_points: int | None = None,
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None,
                key_tolerance: float | None = DEFAULT_KEY_TOLERANCE) -> ShapeDoc:
    """Every object's animated shapes over `frames` (plate numbers, in order)."""
    if tolerance <= 0:
        raise ValueError("the tolerance must be above 0 px")
    doc = ShapeDoc(int(width), int(height), list(frames), float(fps))
    total = max(1, len(objects) * len(frames))
    for i, obj in enumerate(objects):
        def step(done, _n, i=i):
            if progress is not None:
                progress(i * len(frames) + done, total)

        doc.objects.append(track_object(obj.alpha_at, frames, image_at, tolerance, max_points, obj.name,
                                        obj.color, progress=step, cancelled=cancelled,
                                        key_tolerance=key_tolerance))
    return doc


def point_counts(doc: ShapeDoc, frame: int) -> dict[str, int]:
    """Points on `frame` per object (the window shows them)."""
    return {o.name: sum(len(k) for _, k in o.at(frame)) for o in doc.objects}
