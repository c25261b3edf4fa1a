"""The image pieces of the classical segmenter, each a pure function on numpy arrays: colour
features, one graph cut with given colour models, guided-filter feathering, alpha <-> logits,
the discs clicks hard-label, cleaning a mask to the parts clicks keep, and the seed regions grown
from a click. classical_grabcut composes them into the GrabCut segmenter."""

from __future__ import annotations

import cv2
import numpy as np

from roto_studio.core.guided import guided_filter
from roto_studio.models.classical.gmm import ColourGMM

SEED_SIDE = 160  # longest side of the image a click's seed region is grown in
TOUCH = 0.04  # share of a window side covered by the result that means "the object goes on"


def colour_features(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> chroma-weighted Lab uint8 (lightness x0.5, chroma x2 around neutral)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 0.5
    lab[..., 1:] = (lab[..., 1:] - 128.0) * 2.0 + 128.0
    return np.clip(lab, 0, 255).astype(np.uint8)


def graph_cut(features: np.ndarray, labels: np.ndarray, fg: ColourGMM, bg: ColourGMM) -> np.ndarray:
    """One min-cut with fixed colour models; labels uses cv2.GC_* values. Returns bool fg."""
    if not ((labels == cv2.GC_PR_FGD) | (labels == cv2.GC_PR_BGD)).any():
        return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    m = labels.astype(np.uint8).copy()
    # no rect: it is read only with GC_INIT_WITH_RECT (OpenCV turns None into this empty one)
    cv2.grabCut(features, m, (0, 0, 0, 0), bg.to_cv(), fg.to_cv(), 1, cv2.GC_EVAL_FREEZE_MODEL)
    return (m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD)


def feather(image: np.ndarray, mask: np.ndarray, radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Soft alpha from a binary mask: a guided-filter edge that keeps the >0.5 region unchanged
    far from the boundary and follows image edges near it."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    m = mask.astype(np.float32)
    alpha = np.clip(guided_filter(grey, m, radius, eps), 0.0, 1.0)
    # only the boundary band may change: interior and exterior stay exact
    k = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    band = cv2.dilate(mask.astype(np.uint8), k) != cv2.erode(mask.astype(np.uint8), k)
    out = m.copy()
    out[band] = alpha[band]
    return out.astype(np.float32)


def disc_mask(shape, points, radius) -> np.ndarray:
    out = np.zeros(shape[:2], np.uint8)
    radii = radius if isinstance(radius, (list, tuple)) else [radius] * len(points)
    for (x, y), r in zip(points, radii):
        cv2.circle(out, (int(round(x)), int(round(y))), max(1, int(round(r))), 1, -1)
    return out.astype(bool)


def alpha_from_logits(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == bool:
        return x.astype(np.float32)
    if np.issubdtype(x.dtype, np.integer):
        return (x > (127 if x.max() > 1 else 0)).astype(np.float32)
    if x.min() >= 0.0 and x.max() <= 1.0:
        return x.astype(np.float32)  # already alpha
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))).astype(np.float32)


def alpha_to_logits(alpha: np.ndarray) -> np.ndarray:
    a = np.clip(alpha.astype(np.float32), 1e-4, 1 - 1e-4)
    return np.log(a / (1 - a)).astype(np.float32)


def click_radii(shape, points, labels, prior) -> list[float]:
    """Radius of the hard-labelled disc around each click. A click that contradicts the previous
    result is taken to mark the middle of a wrong region: its disc grows to (most of) the
    distance to the previous boundary, so one click flips a whole thin error region."""
    h, w = shape[:2]
    base = max(2.0, 0.012 * float(np.hypot(h, w)))
    if prior is None or not len(points):
        return [base] * len(points)
    fg = (prior > 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(fg, cv2.DIST_L2, 5)  # inside fg: distance to background
    d_out = cv2.distanceTransform(1 - fg, cv2.DIST_L2, 5)
    cap = 0.08 * float(np.hypot(h, w))
    out = []
    for (x, y), is_fg in zip(points, labels):
        xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
        d = d_out[yi, xi] if is_fg else d_in[yi, xi]  # > 0 only when the click contradicts the prior
        out.append(float(np.clip(0.7 * d, base, cap)) if d > 0 else base)
    return out


def clean_mask(mask: np.ndarray, keep_points=(), min_fraction: float = 0.05,
               hole_fraction: float = 0.002) -> np.ndarray:
    """Drop small specks (components much smaller than the largest, unless an include click is
    on them) and fill tiny holes."""
    m = mask.astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = areas >= min_fraction * areas.max()
        for x, y in keep_points:
            yi = min(max(int(round(y)), 0), m.shape[0] - 1)
            xi = min(max(int(round(x)), 0), m.shape[1] - 1)
            if lab[yi, xi] > 0:
                keep[lab[yi, xi] - 1] = True
        m = np.isin(lab, np.flatnonzero(keep) + 1).astype(np.uint8)
    inv = 1 - m
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    small = hole_fraction * m.size
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        touches = x == 0 or y == 0 or x + w == m.shape[1] or y + h == m.shape[0]
        if not touches and area < small:
            m[lab == i] = 1
    return m.astype(bool)


def seed_regions(features: np.ndarray, point, side: int = SEED_SIDE, tries: int = 3) -> list[np.ndarray]:
    """Full-size bool regions around a click, best guess first: pixels of similar smoothed
    colour connected to it.

    The colour tolerance grows step by step; the last region before one step suddenly floods a
    large share of the image is the best guess, then smaller (stricter) ones follow. Thin leaks
    (1 px at the reduced size) are opened away.
    """
    h, w = features.shape[:2]
    s = min(1.0, side / max(h, w))
    sw, sh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    small: np.ndarray = cv2.resize(features, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    x = int(np.clip(point[0] * s, 0, sw - 1))
    y = int(np.clip(point[1] * s, 0, sh - 1))
    ref = np.median(small[max(0, y - 2):y + 3, max(0, x - 2):x + 3].reshape(-1, 3), axis=0)
    dist = np.sqrt(((small - ref) ** 2).sum(-1))
    kernel = np.ones((3, 3), np.uint8)
    ladder: list[tuple[np.ndarray, float]] = []
    for t in np.geomspace(6.0, 120.0, 16):
        m = cv2.morphologyEx((dist < t).astype(np.uint8), cv2.MORPH_OPEN, kernel)
        m[y, x] = 1
        _, lab = cv2.connectedComponents(m, connectivity=4)
        comp = lab == lab[y, x]
        area = float(comp.mean())
        if ladder and area > 0.25 and area > 1.5 * ladder[-1][1]:
            break
        if not ladder or area > 1.2 * ladder[-1][1]:  # skip near-repeats
            ladder.append((comp, area))
        else:
            ladder[-1] = (comp, area)
    picks = [c for c, _ in ladder[::-1][:tries]]
    return [cv2.resize(c.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
            for c in picks]


def grown_window(mask: np.ndarray, touch=(0.0, 0.0, 0.0, 0.0)):
    """(x1, y1, x2, y2) around `mask` with a margin; sides the last cut touched grow further."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    size = max(x2 - x1, y2 - y1)
    m = 0.2 * size + 0.02 * float(np.hypot(h, w))
    extra = [0.3 * size if t >= TOUCH else 0.0 for t in touch]
    return (int(max(0, x1 - m - extra[0])), int(max(0, y1 - m - extra[1])),
            int(min(w, x2 + m + extra[2])), int(min(h, y2 + m + extra[3])))


def is_uniform(features: np.ndarray) -> bool:
    small = cv2.resize(features, (64, 64), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float32)
    return float(small.std(0).max()) < 4.0
