"""Fitting: a matte's outline becomes closed cubic Bezier shapes within a tolerance in pixels.

`contours(alpha)` traces the 0.5 level of the matte (OpenCV's border following, moved to the
sub-pixel crossing of the soft alpha) into outer outlines and holes. `fit_contour` fits one
closed outline with as few cubics as keep every outline point within the tolerance: the outline
is cut at its corners (which stay corners: their in and out tangents are free) and each run is
fitted by least squares on chord-length parameters with Newton re-parameterisation, split at the
worst point while it misses (the method of Schneider, Graphics Gems 1990). `fit_segment` is the
same least-squares fit for a run whose end points are given: the carried shapes use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .model import Key, bezier

CORNER_DEG = 65.0  # turn (degrees over CORNER_SPAN px each side) above which a point is a corner
CORNER_SPAN = 4
SHARP_DEG = 80.0  # corners this sharp are kept out of the outline smoothing


@dataclass
class Contour:
    points: np.ndarray  # (M, 2) closed, sub-pixel, outer ones counter-clockwise on screen
    hole: bool
    area: float


MIN_SHARE = 0.005  # parts and holes smaller than this share of the object's area get no shape


def contours(alpha: np.ndarray, min_area: float = 12.0, min_share: float = MIN_SHARE) -> list[Contour]:
    """Outer outlines and holes of `alpha` >= 0.5, largest first; parts and holes under `min_area`
    px² or `min_share` of the object's area dropped (specks, not something to roto)."""
    a = np.asarray(alpha, np.float32)
    binary = (a >= 0.5).astype(np.uint8)
    if not binary.any():
        return []
    found, hier = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    out = []
    for c, h in zip(found, hier[0]):
        hole = h[3] >= 0
        pts = c.reshape(-1, 2).astype(np.float64)
        if len(pts) < 4:
            continue
        pts = _subpixel(pts, a, hole)
        area = abs(_signed_area(pts))
        if area < min_area:
            continue
        out.append(Contour(pts, bool(hole), float(area)))
    total = sum(c.area for c in out if not c.hole)
    out = [c for c in out if c.area >= min_share * total]
    out.sort(key=lambda c: -c.area)
    return out


def _signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _subpixel(pts: np.ndarray, alpha: np.ndarray, hole: bool) -> np.ndarray:
    """Border pixel centres -> where the alpha crosses 0.5 on the way out, in corner coordinates,
    lightly smoothed (a staircase becomes its mid line)."""
    h, w = alpha.shape
    # outward normal from the local direction: OpenCV follows outer borders one way round and
    # holes the other; the sign is checked against the alpha itself below
    d = np.roll(pts, -2, axis=0) - np.roll(pts, 2, axis=0)
    n = np.stack([d[:, 1], -d[:, 0]], axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    probe = pts + 1.5 * n
    xi = np.clip(np.round(probe[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(probe[:, 1]).astype(int), 0, h - 1)
    if np.mean(alpha[yi, xi] >= 0.5) > 0.5:  # the probe landed inside: the normal points in
        n = -n
    ix = pts[:, 0].astype(int)
    iy = pts[:, 1].astype(int)
    a_in = alpha[iy, ix]
    ox = np.clip(np.round(pts[:, 0] + n[:, 0]).astype(int), 0, w - 1)
    oy = np.clip(np.round(pts[:, 1] + n[:, 1]).astype(int), 0, h - 1)
    a_out = alpha[oy, ox]
    t = np.clip((a_in - 0.5) / np.maximum(a_in - a_out, 1e-6), 0.0, 1.0)
    inside = (ox == ix) & (oy == iy)  # at the image border: the edge of the image
    t[inside] = 0.5
    raw = pts + n * t[:, None] + 0.5
    # [1 2 1] smoothing twice: removes the half-pixel staircase, keeps real detail; corners are
    # kept as they are (smoothing would round them off)
    p = raw
    for _ in range(2):
        p = 0.25 * np.roll(p, 1, axis=0) + 0.5 * p + 0.25 * np.roll(p, -1, axis=0)
    sharp = corners(raw, deg=SHARP_DEG)
    if len(sharp):
        near = (sharp[:, None] + np.arange(-2, 3)[None, :]).ravel() % len(p)
        p[near] = raw[near]
    area = _signed_area(p)
    if (area < 0) != hole:  # outer outlines counter-clockwise on screen (y down), holes clockwise
        p = p[::-1].copy()
    return p


# ---------------------------------------------------------------- corners

def corners(p: np.ndarray, span: int = CORNER_SPAN, deg: float = CORNER_DEG) -> np.ndarray:
    """Indices of corner points of the closed polyline p (turn above `deg` over +-span points)."""
    m = len(p)
    if m < 4 * span:
        return np.zeros(0, int)
    a = p - np.roll(p, span, axis=0)
    b = np.roll(p, -span, axis=0) - p
    cos = np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-9)
    turn = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    cand = np.flatnonzero(turn > deg)
    keep: list[int] = []
    for i in cand[np.argsort(-turn[cand])]:
        if all(min(abs(i - j), m - abs(i - j)) > 2 * span for j in keep):
            keep.append(int(i))
    return np.array(sorted(keep), int)


def _tangent(p: np.ndarray, i: int, direction: int, span: int = 3) -> np.ndarray:
    """Unit direction from point i towards the run (direction +1) or back (-1), closed p."""
    m = len(p)
    k = min(span, max(1, m // 4))
    v = p[(i + direction * k) % m] - p[i]
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([1.0, 0.0])


def _smooth_tangent(p: np.ndarray, i: int, span: int = 3) -> np.ndarray:
    m = len(p)
    k = min(span, max(1, m // 4))
    v = p[(i + k) % m] - p[(i - k) % m]
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([1.0, 0.0])


# ---------------------------------------------------------------- least squares (Schneider)

def _chord_params(d: np.ndarray) -> np.ndarray:
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(d, axis=0), axis=1))])
    return s / s[-1] if s[-1] > 0 else np.linspace(0, 1, len(d))


def _generate(d: np.ndarray, u: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Controls of the cubic from d[0] to d[-1] leaving along t1, arriving along -t2 (Schneider)."""
    p0, p3 = d[0], d[-1]
    b0, b1, b2, b3 = (1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u * u * (1 - u), u ** 3
    a1 = b1[:, None] * t1
    a2 = b2[:, None] * t2
    c00, c01, c11 = np.sum(a1 * a1), np.sum(a1 * a2), np.sum(a2 * a2)
    tmp = d - (b0 + b1)[:, None] * p0 - (b2 + b3)[:, None] * p3
    x0, x1 = np.sum(a1 * tmp), np.sum(a2 * tmp)
    det = c00 * c11 - c01 * c01
    chord = float(np.linalg.norm(p3 - p0))
    if abs(det) > 1e-12:
        al1, al2 = (x0 * c11 - x1 * c01) / det, (c00 * x1 - c01 * x0) / det
    else:
        al1 = al2 = chord / 3.0
    eps = 1e-6 * max(chord, 1.0)
    if al1 < eps or al2 < eps or al1 > 2 * chord + 4 or al2 > 2 * chord + 4:
        al1 = al2 = chord / 3.0
    return np.stack([p0, p0 + al1 * t1, p3 + al2 * t2, p3])


def _reparam(c: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton step of each parameter towards the point of the curve nearest its data point."""
    q = bezier(c, u)
    c1 = 3 * (c[1:] - c[:-1])
    c2 = 2 * (c1[1:] - c1[:-1])
    uu = u[:, None]
    q1 = (1 - uu) ** 2 * c1[0] + 2 * (1 - uu) * uu * c1[1] + uu ** 2 * c1[2]
    q2 = (1 - uu) * c2[0] + uu * c2[1]
    num = np.sum((q - d) * q1, axis=1)
    den = np.sum(q1 * q1, axis=1) + np.sum((q - d) * q2, axis=1)
    step = np.where(np.abs(den) > 1e-12, num / np.where(den == 0, 1, den), 0.0)
    out = np.clip(u - step, 0.0, 1.0)
    out[0], out[-1] = 0.0, 1.0
    return np.maximum.accumulate(out)


def _error(c: np.ndarray, d: np.ndarray, u: np.ndarray) -> tuple[float, int]:
    e = np.linalg.norm(bezier(c, u) - d, axis=1)
    i = int(np.argmax(e))
    return float(e[i]), i


def fit_segment(d: np.ndarray, t1: np.ndarray, t2: np.ndarray, iterations: int = 4) -> tuple[np.ndarray, float]:
    """The cubic from d[0] to d[-1] with end directions t1 (leaving) and t2 (into the end, pointing
    back), and its largest distance to d."""
    if len(d) == 2:
        chord = np.linalg.norm(d[1] - d[0]) / 3.0
        return np.stack([d[0], d[0] + chord * t1, d[1] + chord * t2, d[1]]), 0.0
    u = _chord_params(d)
    c = _generate(d, u, t1, t2)
    err, _ = _error(c, d, u)
    for _ in range(iterations):
        if err < 1e-3:
            break
        u = _reparam(c, d, u)
        c2 = _generate(d, u, t1, t2)
        e2, _ = _error(c2, d, u)
        if e2 >= err:
            break
        c, err = c2, e2
    return c, err


def _fit_run(d: np.ndarray, t1: np.ndarray, t2: np.ndarray, tol: float, depth: int = 0) -> list[np.ndarray]:
    c, err = fit_segment(d, t1, t2)
    if err <= tol or len(d) < 6 or depth > 24:
        return [c]
    u = _chord_params(d)
    _, split = _error(c, d, u)
    split = int(np.clip(split, 2, len(d) - 3))
    v = d[split + 1] - d[split - 1]
    n = np.linalg.norm(v)
    tc = v / n if n > 1e-9 else t1
    return (_fit_run(d[: split + 1], t1, -tc, tol, depth + 1)
            + _fit_run(d[split:], tc, t2, tol, depth + 1))


def fit_contour(p: np.ndarray, tol: float = 1.0, keep_corners: bool = True) -> tuple[Key, np.ndarray]:
    """A closed Key fitting the closed polyline p within `tol`, and the index in p of each anchor."""
    m = len(p)
    cs = corners(p) if keep_corners else np.zeros(0, int)
    if len(cs) == 0:
        # start at the point of greatest turn (a natural seam); the seam is smooth
        starts = [int(np.argmax(np.linalg.norm(np.roll(p, -3, 0) - 2 * p + np.roll(p, 3, 0), axis=1)))]
        smooth_seam = True
    else:
        starts = list(cs)
        smooth_seam = False
    if len(starts) == 1:
        # one closed run from the start back to itself: split it in two so each half is a run
        s = starts[0]
        starts = [s, (s + m // 2) % m]
        cut_smooth = {starts[1]: True, s: smooth_seam}
    else:
        cut_smooth = {s: False for s in starts}
    segments, anchors = [], []
    for j, s in enumerate(starts):
        e = starts[(j + 1) % len(starts)]
        idx = np.arange(s, s + ((e - s) % m or m) + 1) % m
        d = p[idx]
        t1 = _smooth_tangent(p, s) if cut_smooth[s] else _tangent(p, s, +1)
        t2 = -_smooth_tangent(p, e) if cut_smooth[e] else _tangent(p, e, -1)
        run = _fit_run(d, t1, t2, tol)
        # anchor indices inside the run: recover from the run's controls' start points
        pos = 0
        for c in run:
            anchors.append(int(idx[_nearest_index(d, c[0], pos)]))
            pos = _nearest_index(d, c[3], pos)
        segments.extend(run)
    return key_from_segments(segments), np.array(anchors, int)


def _nearest_index(d: np.ndarray, q: np.ndarray, start: int) -> int:
    return start + int(np.argmin(np.linalg.norm(d[start:] - q, axis=1)))


def key_from_segments(segments: list[np.ndarray]) -> Key:
    n = len(segments)
    points = np.array([c[0] for c in segments])
    tout = np.array([c[1] - c[0] for c in segments])
    tin = np.array([segments[(i - 1) % n][2] - segments[(i - 1) % n][3] for i in range(n)])
    return Key(points, tin, tout)


def fit_alpha(alpha: np.ndarray, tol: float = 1.0, max_points: int | None = None,
              min_area: float = 12.0) -> list[tuple[Contour, Key, np.ndarray]]:
    """Every outline of `alpha` fitted: (contour, key, anchor indices), within `max_points` in all
    (the tolerance loosens until they fit)."""
    return fit_outlines(contours(alpha, min_area), tol, max_points)


def fit_outlines(found: list[Contour], tol: float = 1.0,
                 max_points: int | None = None) -> list[tuple[Contour, Key, np.ndarray]]:
    t = float(tol)
    for attempt in range(16):
        # past 12 loosenings the corners give way too (each corner is a point of its own)
        fitted = [(c, *fit_contour(c.points, t, attempt < 12)) for c in found]
        total = sum(len(k) for _, k, _ in fitted)
        if not max_points or total <= max_points:
            return fitted
        t *= 1.4
    return fitted


def fit_segments(runs: list[np.ndarray], t1: np.ndarray, t2: np.ndarray,
                 iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """fit_segment for many runs at once (padded arrays): controls (S, 4, 2) and errors (S,)."""
    s = len(runs)
    lengths = np.array([len(r) for r in runs])
    big = int(lengths.max())
    d = np.empty((s, big, 2))
    for i, r in enumerate(runs):
        d[i, : len(r)] = r
        d[i, len(r):] = r[-1]
    w = (np.arange(big)[None, :] < lengths[:, None]).astype(np.float64)
    seg = np.linalg.norm(np.diff(d, axis=1), axis=2) * w[:, 1:]
    cum = np.concatenate([np.zeros((s, 1)), np.cumsum(seg, axis=1)], axis=1)
    total = np.maximum(cum[:, -1:], 1e-9)
    u = np.clip(cum / total, 0, 1)
    t1 = np.asarray(t1, np.float64)
    t2 = np.asarray(t2, np.float64)
    p0, p3 = d[:, 0], d[np.arange(s), lengths - 1]
    chord = np.linalg.norm(p3 - p0, axis=1)

    def generate(u):
        b0, b1, b2, b3 = (1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u * u * (1 - u), u ** 3
        a1 = b1[..., None] * t1[:, None, :]
        a2 = b2[..., None] * t2[:, None, :]
        c00 = np.sum(w * np.sum(a1 * a1, 2), 1)
        c01 = np.sum(w * np.sum(a1 * a2, 2), 1)
        c11 = np.sum(w * np.sum(a2 * a2, 2), 1)
        tmp = d - (b0 + b1)[..., None] * p0[:, None] - (b2 + b3)[..., None] * p3[:, None]
        x0 = np.sum(w * np.sum(a1 * tmp, 2), 1)
        x1 = np.sum(w * np.sum(a2 * tmp, 2), 1)
        det = c00 * c11 - c01 * c01
        ok = np.abs(det) > 1e-12
        sdet = np.where(ok, det, 1.0)
        al1 = np.where(ok, (x0 * c11 - x1 * c01) / sdet, chord / 3)
        al2 = np.where(ok, (c00 * x1 - c01 * x0) / sdet, chord / 3)
        bad = (al1 < 1e-6) | (al2 < 1e-6) | (al1 > 2 * chord + 4) | (al2 > 2 * chord + 4)
        al1 = np.where(bad, chord / 3, al1)
        al2 = np.where(bad, chord / 3, al2)
        return np.stack([p0, p0 + al1[:, None] * t1, p3 + al2[:, None] * t2, p3], axis=1)

    def evaluate(c, u):
        uu = u[..., None]
        return ((1 - uu) ** 3 * c[:, None, 0] + 3 * (1 - uu) ** 2 * uu * c[:, None, 1]
                + 3 * (1 - uu) * uu ** 2 * c[:, None, 2] + uu ** 3 * c[:, None, 3])

    def error(c, u):
        return np.max(np.linalg.norm(evaluate(c, u) - d, axis=2) * w, axis=1)

    c = generate(u)
    err = error(c, u)
    for _ in range(iterations):
        q = evaluate(c, u)
        c1 = 3 * (c[:, 1:] - c[:, :-1])
        c2 = 2 * (c1[:, 1:] - c1[:, :-1])
        uu = u[..., None]
        q1 = (1 - uu) ** 2 * c1[:, None, 0] + 2 * (1 - uu) * uu * c1[:, None, 1] + uu ** 2 * c1[:, None, 2]
        q2 = (1 - uu) * c2[:, None, 0] + uu * c2[:, None, 1]
        num = np.sum((q - d) * q1, 2)
        den = np.sum(q1 * q1, 2) + np.sum((q - d) * q2, 2)
        step = np.where(np.abs(den) > 1e-12, num / np.where(den == 0, 1, den), 0.0)
        u2 = np.clip(u - step, 0, 1)
        u2[:, 0] = 0
        u2[np.arange(s), lengths - 1] = 1
        u2 = np.where(w > 0, u2, 1.0)
        u2 = np.maximum.accumulate(u2, axis=1)
        c2_ = generate(u2)
        e2 = error(c2_, u2)
        better = e2 < err
        c = np.where(better[:, None, None], c2_, c)
        err = np.where(better, e2, err)
        u = np.where(better[:, None], u2, u)
    two = lengths == 2
    err[two] = 0.0
    return c, err
