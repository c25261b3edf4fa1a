"""Dense alignment between frames for non-planar motion: OpenCV DIS optical flow, with the flow
inside holes (the object to remove, other moving objects) filled in smoothly from around them.

A *map* is an HxWx2 float32 array: for each pixel of one frame, its (x, y) position in another.
Maps between consecutive frames are composed to reach frames farther away, so the image itself
is resampled only once, however long the chain.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_SIDE = 960  # flow is computed with the longer side at most this (then scaled up)


def identity(h: int, w: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([xs, ys])


def fill_from_around(field: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`field` (HxWxC float32) with its invalid pixels replaced by a smooth interpolation of the
    valid ones around them (push-pull over an image pyramid). Valid pixels are kept as they are."""
    valid = valid.astype(bool)
    if valid.all() or not valid.any():
        return field.copy()
    f: np.ndarray = field.astype(np.float32) * valid[..., None]
    w: np.ndarray = valid.astype(np.float32)
    levels = [(f, w)]
    while min(f.shape[:2]) > 2 and (w < 1e-6).any():
        f = cv2.resize(f, ((f.shape[1] + 1) // 2, (f.shape[0] + 1) // 2), interpolation=cv2.INTER_AREA)
        w = cv2.resize(w, ((w.shape[1] + 1) // 2, (w.shape[0] + 1) // 2), interpolation=cv2.INTER_AREA)
        if f.ndim == 2:
            f = f[..., None]
        levels.append((f, w))
    f, w = levels[-1]
    est = f / np.maximum(w, 1e-6)[..., None]
    for f, w in reversed(levels[:-1]):
        up = cv2.resize(est, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        known = np.clip(w * 4.0, 0.0, 1.0)[..., None]  # trust a level where it has enough support
        est = f / np.maximum(w, 1e-6)[..., None] * known + up * (1.0 - known)
    out = field.astype(np.float32).copy()
    out[~valid] = est[~valid]
    return out


class DenseFlow:
    """DIS optical flow between display frames (RGB uint8), at most FLOW_SIDE px on a side."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self._dis = cv2.DISOpticalFlow.create(preset)

    def flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """HxWx2: where each pixel of `a` moved to in `b` (displacement in a's full-size pixels)."""
        h, w = a.shape[:2]
        s = min(1.0, FLOW_SIDE / max(h, w))
        ga, gb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
        if s < 1.0:
            size = (max(8, round(w * s)), max(8, round(h * s)))
            ga, gb = (cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (ga, gb))
        # the stubs want a flow array; OpenCV also takes None (it then makes a new one)
        f = self._dis.calc(ga, gb, None)  # type: ignore[call-overload]
        if s < 1.0:
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) / s
        return f.astype(np.float32)

    def step_map(self, a: np.ndarray, b: np.ndarray, a_blocked: np.ndarray, b_blocked: np.ndarray) -> np.ndarray:
        """Map from frame a to frame b. Where a's pixel is hidden (a_blocked) or lands on something
        hidden in b, the motion is interpolated from the background around it."""
        h, w = a.shape[:2]
        grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        a_bad = cv2.dilate(a_blocked.astype(np.uint8), grow).astype(bool)
        b_bad = cv2.dilate(b_blocked.astype(np.uint8), grow)
        m = identity(h, w) + self.flow(a, b)
        lands = cv2.remap(b_bad, m[..., 0], m[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0).astype(bool)
        bad = a_bad | lands
        grid = identity(h, w)
        disp = fill_from_around(m - grid, ~bad)
        return grid + local_motion(disp, m, grid, bad)


def local_motion(disp: np.ndarray, m: np.ndarray, grid: np.ndarray, bad: np.ndarray, ring_px: int = 12) -> np.ndarray:
    """`disp` with each sizeable hidden part replaced by the affine motion fitted (RANSAC) to the
    flow on a ring around it: the surface behind a hole moves like the surface around it, and a
    fit over the whole ring is steadier from frame to frame than the flow at its edge."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bad.astype(np.uint8), connectivity=8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
    out = disp
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < 20:
            continue
        x, y, bw, bh = stats[i, :4]
        x0, y0 = max(0, x - ring_px), max(0, y - ring_px)
        x1, y1 = min(bad.shape[1], x + bw + ring_px), min(bad.shape[0], y + bh + ring_px)
        part = labels[y0:y1, x0:x1] == i
        ring = cv2.dilate(part.astype(np.uint8), k).astype(bool) & ~bad[y0:y1, x0:x1]
        if ring.sum() < 30:
            continue
        src, dst = grid[y0:y1, x0:x1][ring], m[y0:y1, x0:x1][ring]
        A, inliers = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if A is None or inliers is None or inliers.sum() < 0.5 * len(src):
            continue  # no single motion around it (e.g. a depth edge): keep the interpolation
        if out is disp:
            out = disp.copy()
        pts = grid[y0:y1, x0:x1][part]
        out[y0:y1, x0:x1][part] = pts @ A[:, :2].T.astype(np.float32) + A[:, 2].astype(np.float32) - pts
    return out


def compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Map a->c from a->b (`first`) and b->c (`then`). The displacement of `then` is resampled,
    not its positions: cv2.remap rounds where it samples to 1/32 px, which on a position map is
    an error of up to 1/64 px per step that adds up along a chain (the same each step on a steady
    pan); on the displacement, which varies slowly, it is negligible."""
    h, w = then.shape[:2]
    moved = cv2.remap(then - identity(h, w), first[..., 0], first[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    return first + moved


def homography_map(H: np.ndarray, h: int, w: int) -> np.ndarray:
    """Map from frame b to frame a for a homography H taking a's pixels to b's (so warping a's
    image with it lines a up with b)."""
    grid = identity(h, w).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(grid, np.linalg.inv(H)).reshape(h, w, 2).astype(np.float32)


def warp(image: np.ndarray, m: np.ndarray, nearest: bool = False, sharp: bool = False,
         border_value=0) -> np.ndarray:
    """`image` (of the frame the map points into) resampled at the map's positions."""
    how = cv2.INTER_NEAREST if nearest else cv2.INTER_LANCZOS4 if sharp else cv2.INTER_LINEAR
    return cv2.remap(image, m[..., 0], m[..., 1], how, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


def inside(m: np.ndarray, h: int, w: int, margin: float = 0.5) -> np.ndarray:
    """Where the map points inside an h x w frame."""
    return ((m[..., 0] >= -margin) & (m[..., 0] <= w - 1 + margin)
            & (m[..., 1] >= -margin) & (m[..., 1] <= h - 1 + margin))
