"""Trimaps from masks: 0 background, 128 unknown, 255 foreground (uint8, HxW).

The unknown band is `erode` px inside and `dilate` px outside the mask edge. With `adaptive`
the band widens (up to `max_scale` times) where the edge is complex (hair, fur, ragged
outlines): there the edge length per window is much larger than a straight edge's.
Pixels that are already soft (between 2% and 98% alpha) are always unknown.
"""

from __future__ import annotations

import cv2
import numpy as np

from roto_studio.core.masks import to_alpha

BACKGROUND, UNKNOWN, FOREGROUND = 0, 128, 255


def default_band(height: int, width: int) -> int:
    """A band that scales with the frame: ~1% of the diagonal, at least 4 px (12 px at 1080p)."""
    diag = float(np.hypot(height, width))
    return int(max(4, round(0.0055 * diag)))


def edge_complexity(binary: np.ndarray, window: int) -> np.ndarray:
    """Edge length per window side around each pixel: ~1 on a straight edge, >1 where ragged.

    binary: HxW bool. Returns float32 HxW (0 far from any edge)."""
    b = binary.astype(np.uint8)
    edge = cv2.bitwise_xor(b, cv2.erode(b, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)).astype(np.float32)
    window = max(3, int(window) | 1)
    # boxFilter normalised gives count / window^2; times window = count / window
    return cv2.boxFilter(edge, -1, (window, window), borderType=cv2.BORDER_REPLICATE) * window


def make_trimap(alpha: np.ndarray, erode: int | None = None, dilate: int | None = None,
                adaptive: bool = True, max_scale: float = 1.5, threshold: float = 0.5) -> np.ndarray:
    """Trimap from a mask or soft alpha (bool, uint8 0..255 or float 0..1).

    erode / dilate: band widths inside / outside the edge in px (None = default_band)."""
    a = to_alpha(alpha)
    h, w = a.shape[:2]
    band = default_band(h, w)
    erode = band if erode is None else max(0, int(erode))
    dilate = band if dilate is None else max(0, int(dilate))
    fg = a >= threshold
    trimap = np.where(fg, FOREGROUND, BACKGROUND).astype(np.uint8)
    soft = (a > 0.02) & (a < 0.98)
    if (not fg.any() or fg.all()) and not soft.any():
        return trimap
    # work on the crop around the edges only (a 4K frame with a small object stays cheap); the
    # margin is wider than any band, so results inside equal a full-frame computation
    f8 = fg.astype(np.uint8)
    edge = (cv2.erode(f8, np.ones((3, 3), np.uint8)) != cv2.dilate(f8, np.ones((3, 3), np.uint8))) | soft
    ys, xs = np.flatnonzero(edge.any(axis=1)), np.flatnonzero(edge.any(axis=0))
    if ys.size == 0:
        return trimap
    margin = int(np.ceil(max(erode, dilate, 2) * max(1.0, max_scale))) + 4 * max(erode, dilate, 2) + 8
    y0, y1 = max(0, ys[0] - margin), min(h, ys[-1] + 1 + margin)
    x0, x1 = max(0, xs[0] - margin), min(w, xs[-1] + 1 + margin)
    unknown = _band(fg[y0:y1, x0:x1], erode, dilate, adaptive, max_scale)
    unknown |= soft[y0:y1, x0:x1]
    trimap[y0:y1, x0:x1][unknown] = UNKNOWN
    return trimap


def _band(fg: np.ndarray, erode: int, dilate: int, adaptive: bool, max_scale: float) -> np.ndarray:
    """The unknown band around the edges of the binary mask `fg`."""
    if not fg.any() or fg.all():
        return np.zeros(fg.shape, bool)
    # distance of every pixel to the other side of the edge
    dist_out = cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 5)  # outside: to fg
    dist_in = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 5)  # inside: to bg
    scale = np.float32(1.0)
    if adaptive and max_scale > 1.0:
        width = max(erode, dilate, 2)
        cx = edge_complexity(fg, 4 * width + 1)
        # straight edge ~1 (a gentle curve up to ~1.4), a ragged one several times that; ramp 1.5..3
        extra: np.ndarray = np.clip((cx - 1.5) / 1.5, 0.0, 1.0)
        # spread the extra width over the band the edge will cover
        k = 2 * int(width * max_scale) + 1
        extra = cv2.dilate(extra, np.ones((k, k), np.uint8))  # square: separable, fast
        scale = 1.0 + (max_scale - 1.0) * extra
    unknown = (~fg & (dist_out <= dilate * scale)) | (fg & (dist_in <= erode * scale))
    if erode == 0:
        unknown &= ~fg
    if dilate == 0:
        unknown &= fg
    unknown = keep_cores(unknown, ~fg, dist_out)
    unknown = keep_cores(unknown, fg, dist_in)
    return unknown


def keep_cores(unknown: np.ndarray, side: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """A copy of `unknown` where every region of `side` (a small background gap, a thin
    foreground part) that the band would swallow whole keeps its core (the pixels farthest from
    the edge) known: matting solvers need a known pixel in each region or they guess its colour."""
    swallowed = side & unknown
    if not swallowed.any():
        return unknown
    n, labels = cv2.connectedComponents(side.astype(np.uint8), connectivity=4)
    if n <= 1:
        return unknown
    known_count = np.bincount(labels[side & ~unknown], minlength=n)
    lost = np.flatnonzero(known_count == 0)
    lost = lost[lost > 0]
    if lost.size == 0:
        return unknown
    from scipy import ndimage

    peak = np.zeros(n, np.float32)
    peak[lost] = ndimage.maximum(dist, labels, lost)
    out: np.ndarray = unknown.copy()
    core = side & (dist >= 0.6 * peak[labels]) & (peak[labels] > 0)
    out[core] = False
    return out


def unknown_mask(trimap: np.ndarray) -> np.ndarray:
    result: np.ndarray = normalize_trimap(trimap) == UNKNOWN
    return result


def normalize_trimap(trimap: np.ndarray) -> np.ndarray:
    """Any trimap (uint8 0/128/255 with noise, or float 0..1) as clean uint8 0/128/255."""
    t = np.asarray(trimap)
    if t.ndim == 3:
        t = t[..., 0]
    if t.dtype != np.uint8:
        tf = t.astype(np.float32)
        t = np.clip(np.round(tf * 255.0 if tf.max() <= 1.0 else tf), 0, 255).astype(np.uint8)
    out = np.full(t.shape, UNKNOWN, np.uint8)
    out[t <= 25] = BACKGROUND
    out[t >= 230] = FOREGROUND
    return out


def unknown_bbox(trimap: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the unknown region grown by margin, clipped to the frame; None if none."""
    unk = unknown_mask(trimap)
    ys = np.flatnonzero(unk.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(unk.any(axis=0))
    h, w = unk.shape
    return (max(0, ys[0] - margin), min(h, ys[-1] + 1 + margin),
            max(0, xs[0] - margin), min(w, xs[-1] + 1 + margin))
