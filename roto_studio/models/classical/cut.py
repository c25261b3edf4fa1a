"""Binary min-cut segmentation with arbitrary per-pixel costs (scipy's max flow, no weights).

cv2.grabCut only takes colour models, so a prior such as "the flow says this pixel was object"
cannot enter its data term. Here the caller gives each pixel a score (log-odds of object against
background, any source: colour, shape, motion) plus hard labels; neighbours (8-connected) prefer
the same label with a contrast-sensitive weight, as in GrabCut. Only the undecided pixels become
graph nodes, so the cost follows the band, not the image.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

SCALE = 64.0  # costs are made integers for the max-flow solver
_OFFSETS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 0.7071), (1, -1, 0.7071))


def _pairs(shape, dy, dx):
    """Flat indices (a, b) of every pixel pair at offset (dy, dx) inside `shape`."""
    h, w = shape
    idx = np.arange(h * w).reshape(h, w)
    ya, yb = slice(0, h - dy), slice(dy, h)
    if dx >= 0:
        xa, xb = slice(0, w - dx), slice(dx, w)
    else:
        xa, xb = slice(-dx, w), slice(0, w + dx)
    return idx[ya, xa].ravel(), idx[yb, xb].ravel()


def cut(features: np.ndarray, score: np.ndarray, fg_hard: np.ndarray, bg_hard: np.ndarray,
        gamma: float = 10.0) -> np.ndarray:
    """Object mask (bool HxW) minimising sum of data costs + gamma * contrast-weighted label changes.

    score: HxW float, > 0 favours object (a log-odds; cost of background = max(score, 0), of
    object = max(-score, 0)). fg_hard / bg_hard: HxW bool pixels whose label is fixed
    (bg_hard wins where both are set). features: HxWxC image for the contrast weights.
    """
    h, w = score.shape
    bg_hard = np.asarray(bg_hard, bool)
    fg_hard = np.asarray(fg_hard, bool) & ~bg_hard
    free = ~(fg_hard | bg_hard)
    out = fg_hard.copy()
    if not free.any():
        return out
    f = features.reshape(h, w, -1).astype(np.float32)
    diffs = []
    for dy, dx, _ in _OFFSETS:
        a, b = _pairs((h, w), dy, dx)
        fa, fb = f.reshape(h * w, -1)[a], f.reshape(h * w, -1)[b]
        diffs.append((a, b, ((fa - fb) ** 2).sum(1)))
    mean_d = np.mean(np.concatenate([d for _, _, d in diffs])) if diffs else 1.0
    beta = 1.0 / (2.0 * max(mean_d, 1e-6))

    node = np.full(h * w, -1, np.int64)
    free_flat = free.ravel()
    n = int(free_flat.sum())
    node[free_flat] = np.arange(n)
    src, snk = n, n + 1
    s = np.asarray(score, np.float64).ravel()
    to_bg = np.maximum(s, 0.0)  # paid when the pixel ends as background: capacity source -> p
    to_fg = np.maximum(-s, 0.0)  # paid when it ends as object: capacity p -> sink
    t_src = to_bg.copy()
    t_snk = to_fg.copy()
    fg_flat, bg_flat = fg_hard.ravel(), bg_hard.ravel()
    rows, cols, caps = [], [], []
    for (a, b, d), (_, _, geo) in zip(diffs, _OFFSETS):
        wgt = gamma * geo * np.exp(-beta * d)
        fa, fb = free_flat[a], free_flat[b]
        both = fa & fb
        rows += [node[a[both]], node[b[both]]]
        cols += [node[b[both]], node[a[both]]]
        caps += [wgt[both], wgt[both]]
        # a free pixel next to a fixed one: the edge becomes a terminal cost
        for p, q, sel in ((a, b, fa & ~fb), (b, a, fb & ~fa)):
            pp, qq, ww = p[sel], q[sel], wgt[sel]
            np.add.at(t_src, pp[fg_flat[qq]], ww[fg_flat[qq]])
            np.add.at(t_snk, pp[bg_flat[qq]], ww[bg_flat[qq]])
    ids = np.flatnonzero(free_flat)
    rows += [np.full(n, src), node[ids]]
    cols += [node[ids], np.full(n, snk)]
    caps += [t_src[ids], t_snk[ids]]
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    k = np.round(np.concatenate(caps) * SCALE).astype(np.int64)
    keep = k > 0
    k = np.minimum(k[keep], np.iinfo(np.int32).max // 8).astype(np.int32)
    g = sp.csr_matrix((k, (r[keep], c[keep])), shape=(n + 2, n + 2))
    flow = maximum_flow(g, src, snk, method="dinic").flow
    resid = (g - flow).tocsr()
    resid.data[resid.data < 0] = 0
    resid.eliminate_zeros()
    reach = breadth_first_order(resid, src, directed=True, return_predecessors=False)
    side = np.zeros(n + 2, bool)
    side[reach] = True
    flat = out.ravel()
    flat[ids] = side[:n]
    return flat.reshape(h, w)
