"""Animated shapes for one object over a span of frames: fit once, then carry.

On the first frame every outline is fitted afresh (a key of new shapes). On each frame after it,
each live shape is carried along the object's motion (ops.shapes.carry) and keeps its point
count; a shape whose carried version misses the tolerance, or whose part vanished, split or
merged with another, ends there, and each outline no shape was carried onto (a new part, or
the one a shape just ended on) gets a new, freshly fitted shape. Each shape's per-frame values
are then thinned to keys: a frame stays a key only where interpolating its neighbouring keys
misses the key tolerance (`key_tolerance`, px, never below the fitting tolerance) against that
frame's outline (recursive split at the worst frame); the frames between keys are the
interpolation, as a compositor plays them. Feathers come from the soft matte's edge
width at each anchor (ops.shapes.feather).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from scipy.spatial import cKDTree

from .carry import Flow, carry, claims, corner_flags, flow_box, inside, steady
from .feather import feathers
from .fit import Contour, contours, fit_outlines
from .model import Key, ObjectShapes, Shape

DEFAULT_TOLERANCE = 1.0
DEFAULT_KEY_TOLERANCE = 2.0  # px: how far an in-between (interpolated) frame may stray from the matte
MIN_AREA = 12.0  # px²: smaller specks of the matte get no shape
FIT_SHARE = 0.7  # a fresh fit keeps within this share of the tolerance: room for carrying
WORST = 3.0  # no outline point may stray beyond WORST x the tolerance


class ShapesCancelled(Exception):
    """The caller asked to stop."""


@dataclass
class _Run:
    """One shape's carried values, frame by frame, until it ends."""
    hole: bool
    corner: np.ndarray
    frames: list[int] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    outlines: list[np.ndarray] = field(default_factory=list)


def key_error(key: Key, outline: np.ndarray) -> tuple[float, float]:
    """(95th percentile, largest) distance between the key's curve and the outline, both ways (px)."""
    samples = key.sample(0.75)
    fast = {"balanced_tree": False, "compact_nodes": False}
    d1, _ = cKDTree(samples, **fast).query(outline)
    d2, _ = cKDTree(outline, **fast).query(samples)
    d = np.concatenate([d1, d2])
    return float(np.percentile(d, 95)), float(np.max(d))


def within(key: Key, outline: np.ndarray, tol: float) -> bool:
    """The tolerance test of carried and interpolated shapes: 95% of the outline and of the curve
    within `tol` of each other, nothing beyond WORST times it. (A matte traced by hand, or tracked,
    wobbles by about a pixel from frame to frame: a strict maximum would key every frame.)"""
    p95, worst = key_error(key, outline)
    return p95 <= tol and worst <= WORST * tol


def thin_keys(frames: list[int], keys: list[Key], outlines: list[np.ndarray], tol: float) -> list[int]:
    """Indices of the values kept as keys: the ends, and wherever interpolation misses `tol`."""
    keep = {0, len(frames) - 1}

    def split(a: int, b: int) -> None:
        if b - a < 2:
            return
        worst, at = 0.0, None
        for i in range(a + 1, b):
            t = (frames[i] - frames[a]) / (frames[b] - frames[a])
            p95, top = key_error(keys[a].lerp(keys[b], t), outlines[i])
            e = max(p95 / tol, top / (WORST * tol))  # above 1: misses
            if e > worst:
                worst, at = e, i
        if at is not None and worst > 1.0:
            keep.add(at)
            split(a, at)
            split(at, b)

    split(0, len(frames) - 1)
    return sorted(keep)


def track_object(alpha_at: Callable[[int], np.ndarray | None], frames: Iterable[int],
                 image_at: Callable[[int], np.ndarray] | None = None, tolerance: float = DEFAULT_TOLERANCE,
                 max_points: int | None = None, name: str = "object", color=(255, 80, 80),
                 min_area: float = MIN_AREA, progress: Callable[[int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None, thin: bool = True,
                 key_tolerance: float | None = DEFAULT_KEY_TOLERANCE) -> ObjectShapes:
    """The object's animated shapes over `frames` (plate numbers, in order).

    alpha_at(frame) -> float alpha HxW (or None: no matte there); image_at(frame) -> the plate
    (HxWx3) for the optical flow, or None to carry by the outline alone. `max_points`: the most
    points the object's shapes may have on a frame (the fit loosens to stay under it).
    `key_tolerance`: how far an interpolated frame may stray from its outline before it becomes a
    key (px; None or below `tolerance`: the tolerance itself)."""
    frames = list(frames)
    tol = float(tolerance)
    ktol = max(tol, float(key_tolerance)) if key_tolerance else tol
    r, g, b = (int(c) for c in color)
    out = ObjectShapes(name, (r, g, b))
    live: list[_Run] = []
    prev_alpha = prev_image = None

    def finish(runs) -> None:
        for run in runs:
            kept = thin_keys(run.frames, run.keys, run.outlines, ktol) if thin else range(len(run.frames))
            n = len(out.shapes) + 1
            shape = Shape(f"{name}_{'hole' if run.hole else 'shape'}{n}", run.hole,
                          {run.frames[i]: run.keys[i] for i in kept}, run.frames[0], run.frames[-1])
            out.shapes.append(shape)

    for done, f in enumerate(frames):
        if cancelled is not None and cancelled():
            raise ShapesCancelled()
        alpha = alpha_at(f)
        image = image_at(f) if image_at is not None and alpha is not None else None
        outlines = contours(alpha, min_area) if alpha is not None else []
        kept: list[tuple[_Run, Key, Contour]] = []
        if live and outlines and prev_alpha is not None:
            kept = _carry_all(live, outlines, prev_alpha, alpha, prev_image, image, tol)
        # shapes that could not be carried end here; outlines no shape carried onto get new shapes
        # (a part appeared, split or merged, or its carried shape missed the tolerance: a new key)
        finish([run for run in live if all(run is not k[0] for k in kept)])
        live = []
        if alpha is not None:  # else no outlines: nothing carried onto this frame, nothing new
            for run, key, c in kept:
                _add(run, f, key, c, alpha)
                live.append(run)
            taken = {id(c) for _, _, c in kept}
            fresh = [c for c in outlines if id(c) not in taken]
            if fresh:
                budget = None
                if max_points:
                    budget = max(3 * len(fresh), max_points - sum(len(k) for _, k, _ in kept))
                for c, key, _ in fit_outlines(fresh, tol * FIT_SHARE, budget):
                    live.append(_Run(c.hole, corner_flags(key)))
                    _add(live[-1], f, key, c, alpha)
        prev_alpha = alpha if outlines else None
        prev_image = image
        if progress is not None:
            progress(done + 1, len(frames))
    finish(live)
    return out


def _add(run: _Run, frame: int, key: Key, outline: Contour, alpha: np.ndarray) -> None:
    key.feather = feathers(alpha, key.points)
    run.frames.append(frame)
    run.keys.append(key)
    run.outlines.append(outline.points)


def _carry_all(live: list[_Run], outlines: list[Contour], prev_alpha, alpha, prev_image, image,
               tol: float) -> list[tuple[_Run, Key, Contour]]:
    """The live shapes carried onto this frame's outlines: (run, key, outline) for each one that
    still fits; the others are left out."""
    moved = [run.keys[-1].points for run in live]
    if prev_image is not None and image is not None:
        box = flow_box([prev_alpha, alpha])
        if box is not None:
            flow = Flow(prev_image, image, box)
            moved = [p + steady(flow.at(inside(prev_alpha, p))) for p in moved]
    which = claims(moved, outlines)
    result = []
    for run, m, j in zip(live, moved, which):
        if j is None or outlines[j].hole != run.hole:
            continue
        c = outlines[j]
        key = carry(run.keys[-1], run.corner, m, c, WORST * tol)
        if key is not None and within(key, c.points, tol):
            result.append((run, key, c))
    return result
