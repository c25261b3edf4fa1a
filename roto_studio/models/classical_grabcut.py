"""GrabCut segmentation from a box and/or clicks (CPU, no weights).

What it adds to plain cv2.grabCut:
- colour is modelled in a chroma-weighted Lab space (lightness counts less: shadows and lighting
  gradients matter less than hue);
- the background model learns from outside the box *and* from a band just inside its edges (a
  box is drawn around the object, so its rim is mostly background), and the first object model
  learns from pixels that the background model explains badly;
- our own weighted colour models are handed to OpenCV's graph cut (GC_EVAL_FREEZE_MODEL);
- it iterates on a reduced image and finishes with one full-resolution cut in a narrow band
  around the boundary (fast and sharp);
- clicks are hard labels in a small disc and also re-weight the colour models; a previous
  result (mask logits) seeds the next cut, so clicks refine rather than restart;
- the output is soft alpha: the binary cut with a guided-filter feathered edge.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

from .base import ImageSegmenter, Prediction, Prompt
from .classical_gmm import ColourGMM

WORK_SIDE = 360  # longest side of the working image for the iterations
BAND_FRACTION = 0.15  # width of the "mostly background" rim inside a box, as a fraction of its side


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
    cv2.grabCut(features, m, None, bg.to_cv(), fg.to_cv(), 1, cv2.GC_EVAL_FREEZE_MODEL)
    return (m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al. guided filter with a grey guide (float32 0..1), box filters only."""
    k = (2 * radius + 1, 2 * radius + 1)
    mean = lambda a: cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mi, mp = mean(guide), mean(src)
    cov = mean(guide * src) - mi * mp
    var = mean(guide * guide) - mi * mi
    a = cov / (var + eps)
    b = mp - a * mi
    return mean(a) * guide + mean(b)


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


def _disc_mask(shape, points, radius) -> np.ndarray:
    out = np.zeros(shape[:2], np.uint8)
    radii = radius if isinstance(radius, (list, tuple)) else [radius] * len(points)
    for (x, y), r in zip(points, radii):
        cv2.circle(out, (int(round(x)), int(round(y))), max(1, int(round(r))), 1, -1)
    return out.astype(bool)


def _alpha_from_logits(x: np.ndarray) -> np.ndarray:
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
    for (x, y), l in zip(points, labels):
        xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
        d = d_out[yi, xi] if l else d_in[yi, xi]  # > 0 only when the click contradicts the prior
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


class GrabCutSegmenter(ImageSegmenter):
    """Box and click segmentation with GrabCut; refine by passing the previous Prediction.logits."""

    name = "grabcut"

    def __init__(self, iterations: int = 3, work_side: int = WORK_SIDE, feather_radius: int = 2,
                 cache_size: int = 4):
        self.iterations = iterations
        self.work_side = work_side
        self.feather_radius = feather_radius
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self._image: np.ndarray | None = None
        self._feat: np.ndarray | None = None

    # -- ImageSegmenter -----------------------------------------------------------------------
    def set_image(self, image: np.ndarray, key: object = None) -> None:
        image = np.ascontiguousarray(image[..., :3])
        if image.dtype != np.uint8:
            raise ValueError("GrabCutSegmenter expects an HxWx3 uint8 RGB image")
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            self._image, self._feat = self._cache[key]
            return
        self._image, self._feat = image, colour_features(image)
        if key is not None:
            self._cache[key] = (self._image, self._feat)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def predict(self, prompt: Prompt, mask_logits: np.ndarray | None = None,
                multimask: bool | None = None) -> Prediction:
        if self._image is None:
            raise RuntimeError("set_image must be called before predict")
        prior = None
        if mask_logits is not None:
            prior = _alpha_from_logits(mask_logits)
        elif prompt.mask is not None:
            prior = _alpha_from_logits(prompt.mask)
        if prior is not None and prior.shape != self._image.shape[:2]:
            prior = cv2.resize(prior, (self._image.shape[1], self._image.shape[0]),
                               interpolation=cv2.INTER_LINEAR)
        if prompt.box is None and not prompt.points and prior is None:
            raise ValueError("a prompt needs a box, points or a mask")
        mask = self.segment(self._image, prompt.box, list(prompt.points), list(prompt.labels),
                            prior, features=self._feat)
        alpha = feather(self._image, mask, self.feather_radius) if self.feather_radius else \
            mask.astype(np.float32)
        return Prediction(alpha=alpha, score=1.0, logits=alpha_to_logits(alpha))

    # -- the algorithm ------------------------------------------------------------------------
    def segment(self, image: np.ndarray, box=None, points=(), labels=(), prior=None,
                features: np.ndarray | None = None) -> np.ndarray:
        """Binary mask (HxW bool) from a box, points (x, y) with labels (1/0), a prior alpha."""
        h, w = image.shape[:2]
        feat = colour_features(image) if features is None else features
        s = min(1.0, self.work_side / max(h, w))
        sw, sh = max(1, int(round(w * s))), max(1, int(round(h * s)))
        fs = cv2.resize(feat, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else feat
        radii = click_radii((h, w), points, labels, prior)
        pts = [(x * s, y * s) for x, y in points]
        pos = [(p, r * s) for p, r, l in zip(pts, radii, labels) if l]
        neg = [(p, r * s) for p, r, l in zip(pts, radii, labels) if not l]
        bx = None if box is None else _clip_box([c * s for c in box], sw, sh)
        pr = None if prior is None else (
            cv2.resize(prior.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
            if s < 1 else prior.astype(np.float32))

        fg_small = self._segment_work(fs, bx, pos, neg, pr)
        if s < 1:
            mask = self._refine_full(feat, fg_small, s, box, points, labels, radii)
        else:
            mask = fg_small
        return clean_mask(mask, [p for p, l in zip(points, labels) if l])

    def _hard_labels(self, shape, box, pos, neg):
        lab = np.full(shape[:2], cv2.GC_PR_BGD, np.uint8)
        if box is not None:
            x1, y1, x2, y2 = box
            lab[:] = cv2.GC_BGD
            lab[y1:y2, x1:x2] = cv2.GC_PR_BGD
        pos_d = _disc_mask(shape, [p for p, _ in pos], [r for _, r in pos])
        neg_d = _disc_mask(shape, [p for p, _ in neg], [r for _, r in neg])
        lab[pos_d] = cv2.GC_FGD
        lab[neg_d] = cv2.GC_BGD
        return lab, pos_d, neg_d

    def _segment_work(self, feat, box, pos, neg, prior):
        h, w = feat.shape[:2]
        x = feat.reshape(-1, 3).astype(np.float64)
        radius = max(2, int(round(0.012 * np.hypot(h, w))))
        lab, pos_d, neg_d = self._hard_labels(feat.shape, box, pos, neg)
        hard_fg, hard_bg = (lab == cv2.GC_FGD), (lab == cv2.GC_BGD)
        inside = np.zeros((h, w), bool)
        if box is not None:
            x1, y1, x2, y2 = box
            inside[y1:y2, x1:x2] = True
        else:
            inside[:] = True

        if prior is not None:
            cur = prior > 0.5
            cur &= inside
        else:
            cur = None

        if cur is not None and cur.any() and (~cur).any():
            # refinement: models from the previous result, clicks weigh heavily
            fg, bg = self._fit_pair(x, cur, pos_d, neg_d)
        else:
            # first cut: background from outside the box and from its rim
            bw = np.zeros((h, w))
            if box is not None:
                x1, y1, x2, y2 = box
                bw[~inside] = 1.0
                b = int(BAND_FRACTION * min(x2 - x1, y2 - y1))
                rim = inside.copy()
                rim[y1 + b:y2 - b, x1 + b:x2 - b] = False
                bw[rim] = 1.0
            else:
                # clicks only: the image border and a falloff with distance from include clicks
                bw[:] = 0.2
                bd = max(2, int(0.05 * min(h, w)))
                bw[:bd, :] = bw[-bd:, :] = 1.0
                bw[:, :bd] = bw[:, -bd:] = 1.0
            bw[neg_d] = 5.0
            bw[pos_d] = 0.0
            if bw.sum() < 10:
                bw[~pos_d] = 1.0
            bg = ColourGMM().fit(x, bw.reshape(-1))
            lb = bg.loglik(x)
            ref = lb[bw.reshape(-1) > 0.5]
            thr = np.percentile(ref, 5) if len(ref) else np.median(lb)
            fw = 1.0 / (1.0 + np.exp(np.clip(lb - thr, -50, 50)))
            fw *= inside.reshape(-1)
            if box is None and pos:
                # without a box: favour colours near the include clicks
                fw = np.maximum(fw * 0.3, 0)
                near = _disc_mask((h, w), [p for p, _ in pos], radius * 4).reshape(-1)
                fw[near] += 1.0
            fw[pos_d.reshape(-1)] += 5.0
            fw[neg_d.reshape(-1)] = 0.0
            if fw.sum() < 1e-3:
                fw = inside.reshape(-1).astype(float)
            fg = ColourGMM().fit(x, fw + 1e-3 * inside.reshape(-1))

        fgmask = None
        for it in range(self.iterations):
            labels = lab.copy()
            if cur is not None and it == 0:
                labels[(labels == cv2.GC_PR_BGD) & cur] = cv2.GC_PR_FGD
            fgmask = graph_cut(feat, labels, fg, bg)
            if it < self.iterations - 1:
                if not fgmask.any() or fgmask.all():
                    break
                fg, bg = self._fit_pair(x, fgmask, pos_d, neg_d)
        fgmask &= ~hard_bg
        fgmask |= hard_fg
        return fgmask

    @staticmethod
    def _fit_pair(x, fgmask, pos_d, neg_d):
        f = fgmask.reshape(-1).astype(np.float64)
        p, n = pos_d.reshape(-1), neg_d.reshape(-1)
        fw = f.copy()
        bw = 1.0 - f
        # click discs count as many pixels so a corrective click changes the models
        boost = max(1.0, 0.05 * len(f) / max(1, p.sum() + n.sum()))
        fw[p] = boost
        bw[p] = 0.0
        bw[n] = boost
        fw[n] = 0.0
        return ColourGMM().fit(x, fw), ColourGMM().fit(x, bw)

    def _refine_full(self, feat, fg_small, s, box, points, labels, radii):
        """Upsample the working result and re-cut a narrow band at full resolution."""
        h, w = feat.shape[:2]
        up = cv2.resize(fg_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        r = int(np.ceil(1.5 / s)) + 1
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        inner = cv2.erode(up.astype(np.uint8), k).astype(bool)
        outer = cv2.dilate(up.astype(np.uint8), k).astype(bool)
        band = outer & ~inner
        if not band.any():
            return up
        ys, xs = np.nonzero(outer)
        y0, y1 = max(0, ys.min() - 2), min(h, ys.max() + 3)
        x0, x1 = max(0, xs.min() - 2), min(w, xs.max() + 3)
        crop = feat[y0:y1, x0:x1]
        xc = crop.reshape(-1, 3).astype(np.float64)
        # models from a ring either side of the boundary (local colours matter most)
        r2 = 3 * r
        k2 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r2 + 1, 2 * r2 + 1))
        ring_in = (up & ~cv2.erode(up.astype(np.uint8), k2).astype(bool))[y0:y1, x0:x1]
        ring_out = (cv2.dilate(up.astype(np.uint8), k2).astype(bool) & ~up)[y0:y1, x0:x1]
        fg = ColourGMM().fit(xc, ring_in.reshape(-1).astype(float))
        bg = ColourGMM().fit(xc, ring_out.reshape(-1).astype(float))
        lab = np.where(inner, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
        lab[band & up] = cv2.GC_PR_FGD
        lab[band & ~up] = cv2.GC_PR_BGD
        if box is not None:
            bx = _clip_box(box, w, h)
            outside = np.ones((h, w), bool)
            outside[bx[1]:bx[3], bx[0]:bx[2]] = False
            lab[outside] = cv2.GC_BGD
        for (px, py), l, rad in zip(points, labels, radii):
            d = _disc_mask((h, w), [(px, py)], rad)
            lab[d] = cv2.GC_FGD if l else cv2.GC_BGD
        cut = graph_cut(crop, lab[y0:y1, x0:x1], fg, bg)
        out = np.zeros((h, w), bool)
        out[y0:y1, x0:x1] = cut
        out[inner] = True
        out[lab == cv2.GC_BGD] = False
        out[lab == cv2.GC_FGD] = True
        return out


def _clip_box(box, w, h):
    x1, y1, x2, y2 = box
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    x1 = int(np.clip(np.floor(x1), 0, w - 1))
    y1 = int(np.clip(np.floor(y1), 0, h - 1))
    x2 = int(np.clip(np.ceil(x2), x1 + 1, w))
    y2 = int(np.clip(np.ceil(y2), y1 + 1, h))
    return x1, y1, x2, y2
