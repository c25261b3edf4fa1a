"""Mask quality scores: IoU, DAVIS region similarity J and boundary F-measure.

Conventions follow the DAVIS 2016 benchmark (Perazzi et al., CVPR 2016):
- J is the IoU of the two binary masks (1.0 when both are empty);
- F compares boundaries: a boundary pixel is one that differs from its right, lower or lower-right
  neighbour; a boundary pixel counts as matched when a boundary pixel of the other mask lies within
  a disk of radius ceil(0.008 * image diagonal); F = 2PR / (P + R).
- For a video, J and F are averaged over frames 1..N-2 (first and last dropped).
Soft inputs (float alpha) are binarised at > 0.5; bool / integer inputs at != 0.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

BOUNDARY_THRESHOLD = 0.008


def as_binary(mask: np.ndarray) -> np.ndarray:
    """Bool mask: floats > 0.5, bool / ints != 0 (0/255 PNGs work as they are)."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask > 0.5
    result: np.ndarray = mask != 0
    return result


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union; 1.0 when both masks are empty."""
    p, g = as_binary(pred), as_binary(gt)
    if p.shape != g.shape:
        raise ValueError(f"mask shapes differ: {p.shape} vs {g.shape}")
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g) / union)


region_similarity = iou  # DAVIS J


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Pixels that differ from their right, lower or lower-right neighbour (where it exists)."""
    m = as_binary(mask)
    b = np.zeros(m.shape, dtype=bool)
    b[:, :-1] |= m[:, :-1] != m[:, 1:]
    b[:-1, :] |= m[:-1, :] != m[1:, :]
    b[:-1, :-1] |= m[:-1, :-1] != m[1:, 1:]
    return b


def boundary_tolerance(shape: Sequence[int], threshold: float = BOUNDARY_THRESHOLD) -> int:
    """Match radius in pixels: ceil(threshold * image diagonal)."""
    h, w = shape[:2]
    return int(math.ceil(threshold * math.hypot(h, w)))


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    result: np.ndarray = (x * x + y * y <= radius * radius).astype(np.uint8)
    return result


def _dilate(b: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return b
    import cv2

    return cv2.dilate(b.astype(np.uint8), _disk(radius)).astype(bool)


def boundary_f(pred: np.ndarray, gt: np.ndarray, threshold: float = BOUNDARY_THRESHOLD) -> float:
    """DAVIS boundary F-measure of `pred` against `gt`."""
    p, g = as_binary(pred), as_binary(gt)
    if p.shape != g.shape:
        raise ValueError(f"mask shapes differ: {p.shape} vs {g.shape}")
    radius = boundary_tolerance(p.shape, threshold)
    bp, bg = boundary_map(p), boundary_map(g)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0  # precision or recall is 0 (the other is 1 by convention)
    precision = np.count_nonzero(bp & _dilate(bg, radius)) / n_p
    recall = np.count_nonzero(bg & _dilate(bp, radius)) / n_g
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def davis_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, Any]:
    """Per-sequence DAVIS scores over frames 1..N-2: {'J', 'F', 'JF', 'J_frames', 'F_frames'}."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} ground-truth frames")
    idx = range(1, len(gts) - 1) if len(gts) > 2 else range(len(gts))
    js = [iou(preds[i], gts[i]) for i in idx]
    fs = [boundary_f(preds[i], gts[i]) for i in idx]
    j, f = float(np.mean(js)), float(np.mean(fs))
    return {"J": j, "F": f, "JF": (j + f) / 2, "J_frames": js, "F_frames": fs}
