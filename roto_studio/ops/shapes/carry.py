"""Carrying a fitted shape to the next frame: its anchors ride the object's motion (dense optical
flow, OpenCV DIS, on a crop around the object), are pulled onto the new outline (the mask
boundary), and each segment's tangents are refitted between its fixed ends. The carried shape is
accepted only when it keeps its anchors in order along the outline and every outline point lies
within the tolerance; otherwise the caller sets a new key."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .fit import Contour, _smooth_tangent, _tangent, fit_segments, key_from_segments
from .model import Key

FLOW_SIDE = 480  # longest side of the crop the flow is computed on
SLIDE = 4  # outline points an anchor may slide to rescue its segments
LAZY = 0.0  # share of the tolerance a carried anchor may sit off the outline (0: snapped onto it)
RELAX = 0.5  # anchors whose segments err above RELAX x the tolerance look for a better place


class Flow:
    """Dense flow between two frames over a crop; `at(points)` samples it (plate pixels)."""

    def __init__(self, prev: np.ndarray, cur: np.ndarray, box: tuple[int, int, int, int]):
        x0, y0, x1, y1 = box
        a = np.ascontiguousarray(_grey(prev)[y0:y1, x0:x1])
        b = np.ascontiguousarray(_grey(cur)[y0:y1, x0:x1])
        scale = min(1.0, FLOW_SIDE / max(a.shape))
        if scale < 1.0:
            size = (max(8, int(round(a.shape[1] * scale))), max(8, int(round(a.shape[0] * scale))))
            a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.field = dis.calc(a, b, None)  # type: ignore[call-overload]  # stubs lack flow=None (OpenCV allocates it)
        self.sx = a.shape[1] / max(1, x1 - x0)
        self.sy = a.shape[0] / max(1, y1 - y0)
        self.x0, self.y0 = x0, y0

    def at(self, pts: np.ndarray) -> np.ndarray:
        """Motion (dx, dy) in plate pixels at points given in corner coordinates."""
        p = np.asarray(pts, np.float32).reshape(-1, 2)
        mx = ((p[:, 0] - 0.5 - self.x0) * self.sx).astype(np.float32).reshape(-1, 1)
        my = ((p[:, 1] - 0.5 - self.y0) * self.sy).astype(np.float32).reshape(-1, 1)
        v = cv2.remap(self.field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2)
        return np.stack([v[:, 0] / self.sx, v[:, 1] / self.sy], axis=1).astype(np.float64)


def _grey(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(a.astype(np.float32) * (255.0 if a.dtype.kind == "f" else 255.0 / np.iinfo(a.dtype).max),
                    0, 255).astype(np.uint8)
    if a.ndim == 3:
        a = cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2GRAY)
    return a


def flow_box(alphas: list[np.ndarray], margin: int = 32) -> tuple[int, int, int, int] | None:
    """The box around where the object is in either frame, widened by `margin`."""
    boxes = []
    for a in alphas:
        ys, xs = np.nonzero(a >= 0.5)
        if len(xs):
            boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    if not boxes:
        return None
    h, w = alphas[0].shape
    x0 = max(0, min(b[0] for b in boxes) - margin)
    y0 = max(0, min(b[1] for b in boxes) - margin)
    x1 = min(w, max(b[2] for b in boxes) + margin)
    y1 = min(h, max(b[3] for b in boxes) + margin)
    return int(x0), int(y0), int(x1), int(y1)


def claims(moved: list[np.ndarray], outlines: list[Contour]) -> list[int | None]:
    """Which outline each carried shape (its moved anchors) now lies on: most of its anchors
    nearest that outline, and no other shape on it; None where a part vanished, split or merged."""
    if not outlines:
        return [None] * len(moved)
    pts = np.concatenate([c.points for c in outlines])
    label = np.concatenate([np.full(len(c.points), i) for i, c in enumerate(outlines)])
    tree = cKDTree(pts)
    out = []
    for m in moved:
        _, j = tree.query(m)
        votes = np.bincount(label[j], minlength=len(outlines))
        best = int(np.argmax(votes))
        out.append(best if votes[best] >= 0.75 * len(m) else None)
    for j in set(o for o in out if o is not None):
        if out.count(j) > 1:  # two shapes on one outline: they merged
            out = [None if o == j else o for o in out]
    return out


def steady(motion: np.ndarray, span: int = 2, spread: float = 2.0) -> np.ndarray:
    """Each anchor's motion, or its neighbours' median motion where it disagrees with them by more
    than `spread` px (the flow fails in places: a textureless patch, an occluding edge)."""
    v = np.asarray(motion, np.float64)
    n = len(v)
    if n < 3:
        return v
    k = min(span, (n - 1) // 2)
    ring = np.stack([np.roll(v, d, axis=0) for d in range(-k, k + 1)])
    med = np.median(ring, axis=0)
    odd = np.linalg.norm(v - med, axis=1) > spread
    out = v.copy()
    out[odd] = med[odd]
    return out


def inside(alpha: np.ndarray, pts: np.ndarray, depth: float = 3.0) -> np.ndarray:
    """Each point moved `depth` px into the object (where the flow is the object's own motion,
    not the background's it borders)."""
    p = np.asarray(pts, np.float64)
    n = len(p)
    if n < 3:
        return p
    d = np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)
    normal = np.stack([d[:, 1], -d[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    h, w = alpha.shape
    probe = p + depth * normal
    xi = np.clip((probe[:, 0]).astype(int), 0, w - 1)
    yi = np.clip((probe[:, 1]).astype(int), 0, h - 1)
    sign = np.where(alpha[yi, xi] >= 0.5, 1.0, -1.0)
    return p + depth * normal * sign[:, None]


def carry(key: Key, corner: np.ndarray, moved: np.ndarray, outline: Contour, tol: float) -> Key | None:
    """`key` with its anchors at `moved` (flow-carried), pulled onto `outline` and refitted; None when
    the carried shape misses `tol` or its anchors come out of order. An anchor whose segments miss
    may slide a few outline points (SLIDE) to where both fit."""
    p = outline.points
    m = len(p)
    _, idx = cKDTree(p).query(moved)
    idx = np.asarray(idx, int)
    n = len(idx)
    if n < 2:
        return None
    idx = in_order(p, moved, idx)
    if idx is None:  # the anchors cannot keep their order along the outline
        return None

    snapped = idx.copy()
    # the carried anchors stay where the flow put them while within LAZY x tol of the outline (the
    # outline of a tracked or hand-drawn matte wobbles; snapping onto it would make points boil)
    on = _project(p, idx, moved)
    off = moved - on
    dist = np.linalg.norm(off, axis=1, keepdims=True)
    band = LAZY * tol
    exact = on + off * np.minimum(1.0, band / np.maximum(dist, 1e-9))

    def end(k: int, at: int) -> np.ndarray:
        return exact[k] if at == snapped[k] else p[at]

    def pieces(i: int, a: int, e: int):
        j = (i + 1) % n
        run = p[np.arange(a, a + (e - a) % m + 1) % m].copy()
        run[0], run[-1] = end(i, a), end(j, e)
        t1 = _tangent(p, a, +1) if corner[i] else _smooth_tangent(p, a)
        t2 = _tangent(p, e, -1) if corner[j] else -_smooth_tangent(p, e)
        return run, t1, t2

    def fit_many(jobs):
        runs, t1s, t2s = zip(*[pieces(*job) for job in jobs])
        controls, errors = fit_segments(list(runs), np.array(t1s), np.array(t2s))
        return [(controls[i], float(errors[i])) for i in range(len(jobs))]

    fits = fit_many([(i, idx[i], idx[(i + 1) % n]) for i in range(n)])
    idx, fits = _relax(idx, fits, corner, m, n, RELAX * tol, fit_many)
    for _ in range(2):
        bad = [i for i in range(n) if fits[i][1] > tol]
        if not bad:
            break
        for i in bad:
            for k in (i, (i + 1) % n):  # slide the start or the end anchor of the failing segment
                if fits[i][1] <= tol or corner[k]:
                    continue
                before = (k - 1) % n
                lo, hi = idx[before], idx[(k + 1) % n]
                shifts = [d for d in range(-SLIDE, SLIDE + 1)
                          if d and 0 < (idx[k] + d - lo) % m < (hi - lo) % m]
                if not shifts:
                    continue
                jobs = []
                for d in shifts:
                    q = (idx[k] + d) % m
                    jobs += [(before, lo, q), (k, q, hi)]
                tried = fit_many(jobs)
                worst = [max(tried[2 * t][1], tried[2 * t + 1][1]) for t in range(len(shifts))]
                t = int(np.argmin(worst))
                if worst[t] < max(fits[before][1], fits[k][1]):
                    idx[k] = (idx[k] + shifts[t]) % m
                    fits[before], fits[k] = tried[2 * t], tried[2 * t + 1]
    if any(err > tol for _, err in fits):
        return None
    return key_from_segments([c for c, _ in fits])


def in_order(p: np.ndarray, moved: np.ndarray, idx: np.ndarray) -> np.ndarray | None:
    """Outline indices for the anchors that go once round the outline in their order: the longest
    run of anchors already in order keeps its places, each other anchor takes the outline point
    nearest to it between its kept neighbours. None when there is no room."""
    m, n = len(p), len(idx)
    ref = int(np.argmin(np.linalg.norm(p[idx] - moved, axis=1)))
    order = [(ref + i) % n for i in range(n)]
    pos = [int((idx[k] - idx[ref]) % m) for k in order]
    # longest strictly increasing subsequence of pos (patience sorting), always keeping ref
    tails: list[int] = []
    tails_at: list[int] = []
    back = [-1] * n
    for i, v in enumerate(pos):
        j = int(np.searchsorted(tails, v))
        if j == len(tails):
            tails.append(v)
            tails_at.append(i)
        else:
            tails[j], tails_at[j] = v, i
        back[i] = tails_at[j - 1] if j > 0 else -1
    keep, i = [], tails_at[-1]
    while i != -1:
        keep.append(i)
        i = back[i]
    keep = sorted(keep)
    if keep[0] != 0:
        keep = [0] + [k for k in keep if pos[k] > 0]
    if len(keep) == n:
        return idx
    kept = set(keep)
    out = idx.copy()
    for a_i, a in enumerate(keep):
        b = keep[(a_i + 1) % len(keep)]
        lo = pos[a]
        hi = pos[b] if b > a else m
        between = [i for i in range(a + 1, b if b > a else n) if i not in kept]
        if not between:
            continue
        if hi - lo <= len(between):
            return None
        prev = lo
        for t, i in enumerate(between):
            # keep room for the anchors after this one
            start = prev + 1
            stop = hi - (len(between) - t)
            if stop < start:
                return None
            cand = (idx[ref] + np.arange(start, stop + 1)) % m
            k = order[i]
            best = int(np.argmin(np.linalg.norm(p[cand] - moved[k], axis=1)))
            out[k] = cand[best]
            prev = start + best
    return out


def _project(p: np.ndarray, idx: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Each q projected onto the outline's two edges around its nearest vertex p[idx]."""
    m = len(p)
    best = p[idx].copy()
    dist = np.linalg.norm(q - best, axis=1)
    for other in (idx - 1, idx + 1):
        a, b = p[idx], p[other % m]
        ab = b - a
        t = np.clip(np.sum((q - a) * ab, 1) / np.maximum(np.sum(ab * ab, 1), 1e-12), 0.0, 1.0)
        c = a + t[:, None] * ab
        d = np.linalg.norm(q - c, axis=1)
        closer = d < dist
        best[closer], dist[closer] = c[closer], d[closer]
    return best


def _relax(idx, fits, corner, m, n, level, fit_many):
    """Every other smooth anchor whose segments err above `level` tries the positions up to SLIDE
    outline points away (all tried in one batch) and moves where its worse segment improves most."""
    for parity in (0, 1):
        movers = [k for k in range(parity, n, 2) if not corner[k]
                  and max(fits[(k - 1) % n][1], fits[k][1]) > level]
        jobs, owners = [], []
        for k in movers:
            lo, hi = idx[(k - 1) % n], idx[(k + 1) % n]
            for d in range(-SLIDE, SLIDE + 1):
                if d and 0 < (idx[k] + d - lo) % m < (hi - lo) % m:
                    q = (idx[k] + d) % m
                    jobs += [((k - 1) % n, lo, q), (k, q, hi)]
                    owners.append((k, d))
        if not jobs:
            continue
        tried = fit_many(jobs)
        best: dict = {}
        for t, (k, d) in enumerate(owners):
            worst = max(tried[2 * t][1], tried[2 * t + 1][1])
            if worst < best.get(k, (max(fits[(k - 1) % n][1], fits[k][1]) * 0.8,))[0]:
                best[k] = (worst, d, tried[2 * t], tried[2 * t + 1])
        for k, (_, d, fb, fa) in best.items():
            idx[k] = (idx[k] + d) % m
            fits[(k - 1) % n], fits[k] = fb, fa
    return idx, fits


def corner_flags(key: Key, deg: float = 12.0) -> np.ndarray:
    """True where the in and out tangents are not opposite (a corner)."""
    a, b = -key.tin, key.tout
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    cos = np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1, 1))) > deg
