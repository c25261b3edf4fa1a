"""Feather per point from the soft matte: how far the edge ramps inwards (to full opacity) and
outwards (to nothing) at each anchor. A hard matte gives no feather."""

from __future__ import annotations

import cv2
import numpy as np

SOFT = 0.02  # alpha within SOFT of 0 or 1 counts as solid / empty


def feathers(alpha: np.ndarray, points: np.ndarray, margin: int = 48) -> np.ndarray | None:
    """(N, 2) inner and outer feather widths (px) at `points`, or None when the matte is hard there."""
    a = np.asarray(alpha, np.float32)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return None
    h, w = a.shape
    x0 = int(max(0, np.floor(pts[:, 0].min()) - margin))
    y0 = int(max(0, np.floor(pts[:, 1].min()) - margin))
    x1 = int(min(w, np.ceil(pts[:, 0].max()) + margin))
    y1 = int(min(h, np.ceil(pts[:, 1].max()) + margin))
    crop = a[y0:y1, x0:x1]
    soft = (crop > SOFT) & (crop < 1 - SOFT)
    if np.count_nonzero(soft) < 0.5 * len(pts):
        return None
    # distance from each pixel to the nearest solid / empty pixel
    to_solid = cv2.distanceTransform((crop < 1 - SOFT).astype(np.uint8), cv2.DIST_L2, 5)
    to_empty = cv2.distanceTransform((crop > SOFT).astype(np.uint8), cv2.DIST_L2, 5)
    xi = np.clip((pts[:, 0] - x0).astype(int), 0, crop.shape[1] - 1)
    yi = np.clip((pts[:, 1] - y0).astype(int), 0, crop.shape[0] - 1)
    inner = np.maximum(to_solid[yi, xi] - 0.5, 0.0)
    outer = np.maximum(to_empty[yi, xi] - 0.5, 0.0)
    f = np.stack([inner, outer], axis=1)
    f[f < 0.75] = 0.0
    return f if np.any(f > 0) else None
