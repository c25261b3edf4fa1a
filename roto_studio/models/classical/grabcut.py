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

Clicks without a box: a seed region is grown from each include click (colour flood in a smoothed,
reduced image, stopped before it floods the frame, thin leaks opened away); a box-mode cut runs
in a window around the seed (the window's rim is background) on a reduced crop, and the window
grows while the result touches its sides. With a previous result, a click only changes the
region around it: an include click adds its object, an exclude click removes the part of the
previous mask it lands in.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

from roto_studio.core.prompt import Prompt
from roto_studio.models.base import ImageSegmenter, Prediction
from roto_studio.models.classical.gmm import ColourGMM
from roto_studio.models.classical.image import (TOUCH, alpha_from_logits, alpha_to_logits, clean_mask, click_radii, colour_features,
                              disc_mask, feather, graph_cut, grown_window, is_uniform, seed_regions)

WORK_SIDE = 360  # longest side of the working image for the iterations
BAND_FRACTION = 0.15  # width of the "mostly background" rim inside a box, as a fraction of its side
CLICK_SIDE = 200  # longest side of the reduced crop a click window is cut in
CLICK_SAMPLES = 4000  # colour samples per model fit for clicks without a box (speed)
MAX_SHARE = 0.5  # a click result larger than this share of a non-uniform frame is not trusted


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
            prior = alpha_from_logits(mask_logits)
        elif prompt.mask is not None:
            prior = alpha_from_logits(prompt.mask)
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
        if box is None and len(points):
            return self._segment_clicks(feat, list(points), list(labels), prior)
        s = min(1.0, self.work_side / max(h, w))
        sw, sh = max(1, int(round(w * s))), max(1, int(round(h * s)))
        fs = cv2.resize(feat, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else feat
        radii = click_radii((h, w), points, labels, prior)
        pts = [(x * s, y * s) for x, y in points]
        pos = [(p, r * s) for p, r, is_fg in zip(pts, radii, labels) if is_fg]
        neg = [(p, r * s) for p, r, is_fg in zip(pts, radii, labels) if not is_fg]
        bx = None if box is None else _clip_box([c * s for c in box], sw, sh)
        pr = None if prior is None else (
            cv2.resize(prior.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
            if s < 1 else prior.astype(np.float32))

        fg_small = self._segment_work(fs, bx, pos, neg, pr)
        if s < 1:
            mask = self._refine_full(feat, fg_small, s, box, points, labels, radii)
        else:
            mask = fg_small
        return clean_mask(mask, [p for p, is_fg in zip(points, labels) if is_fg])

    # -- clicks without a box -------------------------------------------------------------------
    def _segment_clicks(self, feat, points, labels, prior):
        """Clicks only. Without a previous result: the object under the include clicks. With
        one: the previous mask plus the include clicks' object, less the parts of it that
        exclude clicks land in (so a bad first answer does not stick)."""
        h, w = feat.shape[:2]
        radii = click_radii((h, w), points, labels, prior)
        pos = [(p, r) for p, r, is_fg in zip(points, radii, labels) if is_fg]
        neg = [(p, r) for p, r, is_fg in zip(points, radii, labels) if not is_fg]
        keep = [p for p, _ in pos]
        obj = self._click_object(feat, pos, neg) if pos else np.zeros((h, w), bool)
        if prior is None:
            return clean_mask(obj, keep)
        # previous parts the include clicks' object does not explain: dropped where an exclude
        # click lands in them
        rest = (prior > 0.5) & ~obj
        if pos:
            _, comp = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
            hit = {comp[_pixel(p, w, h)] for p, _ in neg} - {0}
            if hit:
                rest &= ~np.isin(comp, list(hit))
        out = obj | rest
        for p, r in neg:
            if out[_pixel(p, w, h)]:  # still inside: remove the region around the click
                out &= ~self._click_object(feat, [(p, r)], pos)
        if neg:
            out &= ~disc_mask((h, w), [p for p, _ in neg], [r for _, r in neg])
        if pos:
            out |= disc_mask((h, w), keep, [r for _, r in pos])
        return clean_mask(out, keep)

    def _click_object(self, feat, pos, neg):
        """Full-size bool mask of the object under the include clicks `pos`, away from the
        exclude clicks `neg` (both [((x, y), radius)]): seed regions, then cuts in a window
        that grows while the result touches its sides."""
        h, w = feat.shape[:2]
        pos_d = disc_mask((h, w), [p for p, _ in pos], [r for _, r in pos])
        neg_d = disc_mask((h, w), [p for p, _ in neg], [r for _, r in neg]) if neg else None
        ladders = [seed_regions(feat, p) for p, _ in pos]
        uniform = is_uniform(feat)
        for k in range(max(len(lad) for lad in ladders)):
            seed = pos_d.copy()
            for lad in ladders:
                seed |= lad[min(k, len(lad) - 1)]
            if neg_d is not None:
                seed &= ~neg_d
            seed |= pos_d
            res, s, win = self._grow_cut(feat, seed, pos, neg, steps=5 if k == 0 else 3)
            # one click should not take most of a varied frame: try a stricter seed
            if uniform or res.mean() <= MAX_SHARE:
                break
        else:
            # last resort: a window a third of the frame around the clicks
            cx = float(np.mean([p[0] for p, _ in pos]))
            cy = float(np.mean([p[1] for p, _ in pos]))
            win = _clip_box((cx - w / 6, cy - h / 6, cx + w / 6, cy + h / 6), w, h)
            res, s, _ = self._window_cut(feat, win, pos, neg)
        if s < 1 and res.any():
            pts = [p for p, _ in pos] + [p for p, _ in neg]
            res = self._refine_band(feat, res, s, win, pts, [1] * len(pos) + [0] * len(neg),
                                    [r for _, r in pos] + [r for _, r in neg], CLICK_SAMPLES)
        return res

    def _grow_cut(self, feat, seed, pos, neg, steps: int = 5):
        """Cut a window around `seed`; grow it while the result touches its sides (or
        collapses to much less than the seed).
        Returns (mask, scale, window) of the last cut."""
        h, w = feat.shape[:2]
        grow, touch, widened = seed, (0.0, 0.0, 0.0, 0.0), 0
        for _ in range(steps):
            win = grown_window(grow, touch)
            res, s, touch = self._window_cut(feat, win, pos, neg)
            if res.sum() < 0.3 * seed.sum() and widened < 2:
                widened += 1
                # collapsed to little more than the clicks: the window probably cuts through the
                # object (its rim taught the background model the object's colours); widen it
                touch = (1.0, 1.0, 1.0, 1.0)
            elif max(touch) < TOUCH:
                break
            if win == (0, 0, w, h):
                break
            grow = res | seed
        return res, s, win

    def _window_cut(self, feat, win, pos, neg):
        """Box-mode cut of the window `win` (x1, y1, x2, y2: its rim counts as background) on a
        reduced crop that also holds a margin around it. Returns the full-size bool mask, the
        reduction scale, and how much of each side (left, top, right, bottom) the result covers
        (0 for sides on the image edge)."""
        h, w = feat.shape[:2]
        x1, y1, x2, y2 = win
        mx, my = int(0.1 * (x2 - x1)) + 4, int(0.1 * (y2 - y1)) + 4
        cx1, cy1, cx2, cy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
        crop = feat[cy1:cy2, cx1:cx2]
        ch, cw = crop.shape[:2]
        s = min(1.0, CLICK_SIDE / max(ch, cw))
        sw, sh = max(8, int(round(cw * s))), max(8, int(round(ch * s)))
        small = crop if (sw, sh) == (cw, ch) else cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
        sx, sy = sw / cw, sh / ch

        def scaled(clicks):
            return [(((x - cx1) * sx, (y - cy1) * sy), max(1.0, r * sx)) for (x, y), r in clicks]

        bx = _clip_box([(x1 - cx1) * sx, (y1 - cy1) * sy, (x2 - cx1) * sx, (y2 - cy1) * sy], sw, sh)
        m = self._segment_work(small, bx, scaled(pos), scaled(neg), None, CLICK_SAMPLES, warm=True)
        m = clean_mask(m, [p for p, _ in scaled(pos)])
        a1, b1, a2, b2 = bx
        sides = [(slice(b1, b2), slice(a1, a1 + 2)), (slice(b1, b1 + 2), slice(a1, a2)),
                 (slice(b1, b2), slice(a2 - 2, a2)), (slice(b2 - 2, b2), slice(a1, a2))]
        open_sides = (x1 > 0, y1 > 0, x2 < w, y2 < h)
        touch = tuple(float(m[sl].mean()) if o else 0.0 for sl, o in zip(sides, open_sides))
        full = np.zeros((h, w), bool)
        full[cy1:cy2, cx1:cx2] = cv2.resize(m.astype(np.float32), (cw, ch),
                                            interpolation=cv2.INTER_LINEAR) > 0.5
        return full, min(sx, sy), touch

    def _hard_labels(self, shape, box, pos, neg):
        lab = np.full(shape[:2], cv2.GC_PR_BGD, np.uint8)
        if box is not None:
            x1, y1, x2, y2 = box
            lab[:] = cv2.GC_BGD
            lab[y1:y2, x1:x2] = cv2.GC_PR_BGD
        pos_d = disc_mask(shape, [p for p, _ in pos], [r for _, r in pos])
        neg_d = disc_mask(shape, [p for p, _ in neg], [r for _, r in neg])
        lab[pos_d] = cv2.GC_FGD
        lab[neg_d] = cv2.GC_BGD
        return lab, pos_d, neg_d

    def _segment_work(self, feat, box, pos, neg, prior, samples: int = 40000, warm: bool = False):
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
            fg, bg = self._fit_pair(x, cur, pos_d, neg_d, samples)
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
            bg = ColourGMM().fit(x, bw.reshape(-1), max_samples=samples)
            lb = bg.loglik(x)
            ref = lb[bw.reshape(-1) > 0.5]
            thr = np.percentile(ref, 5) if len(ref) else np.median(lb)
            fw = 1.0 / (1.0 + np.exp(np.clip(lb - thr, -50, 50)))
            fw *= inside.reshape(-1)
            if box is None and pos:
                # without a box: favour colours near the include clicks
                fw = np.maximum(fw * 0.3, 0)
                near = disc_mask((h, w), [p for p, _ in pos], radius * 4).reshape(-1)
                fw[near] += 1.0
            fw[pos_d.reshape(-1)] += 5.0
            fw[neg_d.reshape(-1)] = 0.0
            if fw.sum() < 1e-3:
                fw = inside.reshape(-1).astype(float)
            fg = ColourGMM().fit(x, fw + 1e-3 * inside.reshape(-1), max_samples=samples)

        fgmask = None
        for it in range(self.iterations):
            labels = lab.copy()
            if cur is not None and it == 0:
                labels[(labels == cv2.GC_PR_BGD) & cur] = cv2.GC_PR_FGD
            fgmask = graph_cut(feat, labels, fg, bg)
            if it < self.iterations - 1:
                if not fgmask.any() or fgmask.all():
                    break
                fg, bg = self._fit_pair(x, fgmask, pos_d, neg_d, samples, (fg, bg) if warm else None)
        fgmask &= ~hard_bg
        fgmask |= hard_fg
        return fgmask

    @staticmethod
    def _fit_pair(x, fgmask, pos_d, neg_d, samples: int = 40000, init=None):
        """Object and background models from a mask; `init` (fg, bg) warm-starts EM."""
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
        fi, bi = init if init is not None else (None, None)
        iters = 6 if init is None else 3  # warm-started EM needs fewer steps
        return (ColourGMM().fit(x, fw, iters=iters, max_samples=samples, init=fi),
                ColourGMM().fit(x, bw, iters=iters, max_samples=samples, init=bi))

    def _refine_full(self, feat, fg_small, s, box, points, labels, radii, samples: int = 40000):
        """Upsample the working result and re-cut a narrow band at full resolution."""
        h, w = feat.shape[:2]
        up = cv2.resize(fg_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        return self._refine_band(feat, up, s, box, points, labels, radii, samples)

    def _refine_band(self, feat, up, s, box, points, labels, radii, samples: int = 40000):
        """Re-cut a band around the full-size mask `up` (made at scale `s`) at full resolution;
        outside `box` stays background."""
        h, w = feat.shape[:2]
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
        fg = ColourGMM().fit(xc, ring_in.reshape(-1).astype(float), max_samples=samples)
        bg = ColourGMM().fit(xc, ring_out.reshape(-1).astype(float), max_samples=samples)
        lab = np.where(inner, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
        lab[band & up] = cv2.GC_PR_FGD
        lab[band & ~up] = cv2.GC_PR_BGD
        if box is not None:
            bx = _clip_box(box, w, h)
            outside = np.ones((h, w), bool)
            outside[bx[1]:bx[3], bx[0]:bx[2]] = False
            lab[outside] = cv2.GC_BGD
        for (px, py), is_fg, rad in zip(points, labels, radii):
            d = disc_mask((h, w), [(px, py)], rad)
            lab[d] = cv2.GC_FGD if is_fg else cv2.GC_BGD
        cut = graph_cut(crop, lab[y0:y1, x0:x1], fg, bg)
        out = np.zeros((h, w), bool)
        out[y0:y1, x0:x1] = cut
        out[inner] = True
        out[lab == cv2.GC_BGD] = False
        out[lab == cv2.GC_FGD] = True
        return out


def _pixel(point, w, h):
    """(row, col) index of a click, clipped to the image."""
    return int(np.clip(round(point[1]), 0, h - 1)), int(np.clip(round(point[0]), 0, w - 1))


def _clip_box(box, w, h):
    x1, y1, x2, y2 = box
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    x1 = int(np.clip(np.floor(x1), 0, w - 1))
    y1 = int(np.clip(np.floor(y1), 0, h - 1))
    x2 = int(np.clip(np.ceil(x2), x1 + 1, w))
    y2 = int(np.clip(np.ceil(y2), y1 + 1, h))
    return x1, y1, x2, y2
