"""Classical matting with no weights (pymatting closed-form or learning-based alpha).

Only the unknown band is solved: the frame is cropped to the band's bounding box (plus some
context) and, when that is large, split into overlapping tiles that skip band-free areas; tile
results are blended with ramps in the overlaps. Memory stays bounded at 4K.

The tiling helpers here are shared with the ViTMatte backend.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.core.trimap import BACKGROUND, FOREGROUND, UNKNOWN, normalize_trimap, unknown_bbox
from roto_studio.models.base import Matter

Solver = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (image crop uint8, trimap crop) -> alpha


def _ramp(n: int, overlap: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
    r = np.ones(n, np.float32)
    k = min(overlap, n // 2)
    if k > 0:
        up = (np.arange(k, dtype=np.float32) + 0.5) / k
        if ramp_start:
            r[:k] = np.minimum(r[:k], up)
        if ramp_end:
            r[n - k:] = np.minimum(r[n - k:], up[::-1])
    return r


def _starts(lo: int, hi: int, tile: int, step: int) -> list[int]:
    if hi - lo <= tile:
        return [lo]
    out = list(range(lo, hi - tile, step))
    out.append(hi - tile)
    return out


def solve_in_tiles(image: np.ndarray, trimap: np.ndarray, solve: Solver, tile: int = 640,
                   overlap: int = 64, context: int = 16,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Full-frame alpha: trimap's known pixels kept, unknown pixels from `solve` on tiles.

    Tiles cover the unknown band's bounding box (+context); tiles without unknown pixels are skipped.
    """
    tri = normalize_trimap(trimap)
    h, w = tri.shape
    if image.shape[:2] != (h, w):
        raise ModelError(f"the trimap is {w}x{h} but the image is {image.shape[1]}x{image.shape[0]}; "
                         "make the trimap from a mask of this frame.")
    alpha = (tri == FOREGROUND).astype(np.float32)
    box = unknown_bbox(tri, margin=context)
    if box is None:
        return alpha
    y0, y1, x0, x1 = box
    unknown = tri == UNKNOWN
    tile = max(32, int(tile))
    overlap = max(0, min(int(overlap), tile // 2))
    step = tile - overlap
    ys, xs = _starts(y0, y1, tile, step), _starts(x0, x1, tile, step)
    jobs = []
    for ty in ys:
        for tx in xs:
            sy, sx = slice(ty, min(ty + tile, y1)), slice(tx, min(tx + tile, x1))
            if unknown[sy, sx].any():
                jobs.append((sy, sx))
    acc = np.zeros((y1 - y0, x1 - x0), np.float32)
    wsum = np.zeros_like(acc)
    for i, (sy, sx) in enumerate(jobs):
        a, wt = _solve_tile(image, tri, sy, sx, context, solve)
        ry = _ramp(a.shape[0], overlap, sy.start > y0, sy.stop < y1)
        rx = _ramp(a.shape[1], overlap, sx.start > x0, sx.stop < x1)
        wgt = wt * ry[:, None] * rx[None, :]
        ly, lx = slice(sy.start - y0, sy.stop - y0), slice(sx.start - x0, sx.stop - x0)
        acc[ly, lx] += wgt * a
        wsum[ly, lx] += wgt
        if progress is not None:
            progress(i + 1, len(jobs))
    crop_unknown = unknown[y0:y1, x0:x1]
    solved = np.where(wsum > 0, acc / np.maximum(wsum, 1e-12), 0.5)
    region = alpha[y0:y1, x0:x1]
    region[crop_unknown] = np.clip(solved[crop_unknown], 0.0, 1.0)
    return alpha


def _solve_tile(image, tri, sy, sx, context, solve):
    """Solve one tile with `context` px of surroundings; widen the window (up to 3 times) until it
    holds both foreground and background, which the solvers need."""
    h, w = tri.shape
    pad = max(0, int(context))
    grow = max(16, sy.stop - sy.start, sx.stop - sx.start) // 2
    for _ in range(4):
        wy = slice(max(0, sy.start - pad), min(h, sy.stop + pad))
        wx = slice(max(0, sx.start - pad), min(w, sx.stop + pad))
        t = tri[wy, wx]
        has_fg, has_bg = (t == FOREGROUND).any(), (t == BACKGROUND).any()
        if has_fg and has_bg:
            a = np.asarray(solve(image[wy, wx], t), np.float32)
            return a[sy.start - wy.start:sy.stop - wy.start, sx.start - wx.start:sx.stop - wx.start], 1.0
        pad += grow
    # only one kind of known pixel nearby: the band is all that side (weak weight so a
    # neighbouring tile that sees both sides wins in the overlap)
    value = 1.0 if has_fg else 0.0 if has_bg else 0.5
    return np.full((sy.stop - sy.start, sx.stop - sx.start), value, np.float32), 1e-3


class ClassicalMatter(Matter):
    """pymatting closed-form ('cf', default), learning-based ('lbdm') or KNN ('knn') alpha."""

    name = "classical"
    METHODS = ("cf", "lbdm", "knn")

    def __init__(self, method: str = "cf", tile: int = 640, overlap: int = 64, context: int = 16):
        if method not in self.METHODS:
            raise ModelError(f"unknown classical matting method {method!r}; use one of {', '.join(self.METHODS)}.")
        self.method = method
        self.tile, self.overlap, self.context = tile, overlap, context

    def _solve(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        try:
            import pymatting
        except ImportError:
            raise ModelError("classical matting needs pymatting; install it with `pip install pymatting`.") from None
        fn = {"cf": pymatting.estimate_alpha_cf, "lbdm": pymatting.estimate_alpha_lbdm,
              "knn": pymatting.estimate_alpha_knn}[self.method]
        img = image.astype(np.float64) / 255.0
        tri = trimap.astype(np.float64) / 255.0
        if min(tri.shape) < 3:  # pymatting's windows need 3x3
            return np.where(trimap == UNKNOWN, 0.5, tri).astype(np.float32)
        a = fn(img, tri)
        return np.clip(np.nan_to_num(a, nan=0.5), 0.0, 1.0).astype(np.float32)

    def refine(self, image: np.ndarray, trimap: np.ndarray, progress=None) -> np.ndarray:
        image = np.ascontiguousarray(image[..., :3])
        if image.dtype != np.uint8:
            image = to_uint8(image)
        return solve_in_tiles(image, trimap, self._solve, self.tile, self.overlap, self.context, progress)


def to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    f = image.astype(np.float32)
    return (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
