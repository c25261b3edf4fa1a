"""Clean plates, one frame: fill an object's pixels with the background seen in other frames.

For a target frame, nearby frames (nearest first, then farther out) are aligned to it, by a
homography (ORB features outside the objects, matched, RANSAC, refined by ECC) or, where the
motion is not planar (parallax), by dense optical flow (DIS, composed frame to frame; see
align_flow); wherever the background is visible in the aligned frame it fills what is still
missing, with a small colour gain match so exposure drifts do not leave seams. `align='auto'`
picks flow for a frame when the flow around its hole disagrees with the homography. What no frame
shows is left to a spatial fill (models.cleanplate.inpaint); over a shot, cleanplate_shot carries that fill
from few keyframes so it holds still.

No Qt, no torch.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import cv2
import numpy as np

from roto_studio.models.cleanplate import align as align_flow
from roto_studio.models.base import FrameSource, Inpainter
from roto_studio.models.cleanplate.inpaint import OpenCVInpainter, find_inpaint_weights, make_inpainter  # noqa: F401

FLOW_DISAGREES = 0.75  # px: median gap between flow and homography around a hole that means parallax
# A source's pixels fill a part of the hole only if the background around the part lines up
# within ALIGN_SLACK x + ALIGN_GRACE grey levels of the best alignment seen for that part (any
# source, homography or flow): where the best one says the part is hidden there too, a worse one
# (another depth layer's motion) would fill it with the wrong surface.
ALIGN_SLACK, ALIGN_GRACE = 3.0, 3.0


# -- temporal fill

def source_offsets(limit: int) -> list[int]:
    """1, -1, 2, -2, 3, -3, 4, -4, 6, -6, 8, ... : dense near the frame, sparser farther out."""
    out, step, k = [], 1, 1
    while k <= limit:
        out += [k, -k]
        if k >= 4:
            step = max(1, k // 3)
        k += step
    return out


def hole_mask(alpha: np.ndarray | None, shape, grow: int) -> np.ndarray:
    if alpha is None:
        return np.zeros(shape, bool)
    hole = np.asarray(alpha) > 0.02
    if grow > 0 and hole.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        hole = cv2.dilate(hole.astype(np.uint8), k).astype(bool)
    return hole


class CleanPlate:
    """Temporal clean plate of one object over a FrameSource.

    masks(frame) -> alpha|None gives the object to remove; exclude(frame) -> alpha|None (optional)
    gives other moving things that must not be used as background nor for alignment."""

    def __init__(self, frames: FrameSource, masks: Callable[[int], np.ndarray | None],
                 exclude: Callable[[int], np.ndarray | None] | None = None,
                 frame_numbers: Sequence[int] | None = None, search: int = 48, max_sources: int = 16,
                 grow: int = 3, inpainter: Inpainter | None = None, feature_side: int = 1280,
                 cache_frames: int = 24, refine_alignment: bool = True, align: str = "auto",
                 flow_search: int = 12):
        self.frames = frames
        self.masks = masks
        self.exclude = exclude
        self.numbers = list(frame_numbers if frame_numbers is not None else frames.frame_numbers)
        self.index = {f: i for i, f in enumerate(self.numbers)}
        self.search, self.max_sources, self.grow = int(search), int(max_sources), int(grow)
        self.inpainter = inpainter or OpenCVInpainter()
        self.feature_side = int(feature_side)
        self.refine_alignment = bool(refine_alignment)
        self._cache: OrderedDict[int, tuple] = OrderedDict()
        self._cache_frames = int(cache_frames)
        self._orb = cv2.ORB.create(nfeatures=3000, fastThreshold=10)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        if align not in ("auto", "homography", "flow"):
            raise ValueError(f"unknown alignment {align!r}; use auto, homography or flow.")
        self.align, self.flow_search = align, int(flow_search)
        self._flow = align_flow.DenseFlow()
        self._steps: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._uses: dict[int, bool] = {}

    # per-frame data: image, object hole, "background visible" mask, features
    def frame_data(self, f: int):
        hit = self._cache.get(f)
        if hit is not None:
            self._cache.move_to_end(f)
            return hit
        image = self.frames.read(f)
        h, w = image.shape[:2]
        hole = hole_mask(self.masks(f), (h, w), self.grow)
        blocked = hole.copy()
        if self.exclude is not None:
            blocked |= hole_mask(self.exclude(f), (h, w), self.grow)
        scale = min(1.0, self.feature_side / max(h, w))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        dilated = cv2.dilate(blocked.astype(np.uint8), np.ones((9, 9), np.uint8))
        fmask: np.ndarray = (~dilated.astype(bool)).astype(np.uint8) * 255
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            fmask = cv2.resize(fmask, size, interpolation=cv2.INTER_NEAREST)
        kps, desc = self._orb.detectAndCompute(gray, fmask)
        pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2) / scale
        item = (image, hole, ~blocked, pts, desc)
        self._cache[f] = item
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return item

    def homography(self, src: int, dst: int, region: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
        """3x3 matrix taking frame `src` pixel coordinates to frame `dst`'s, or None.

        region (y0, y1, x0, x1) in dst: where the sub-pixel refinement should be most accurate."""
        H = self._feature_homography(src, dst)
        if H is not None and self.refine_alignment:
            H = self.refine_ecc(H, src, dst, region)
        return H

    def refine_ecc(self, H: np.ndarray, src: int, dst: int, region=None) -> np.ndarray:
        """Sub-pixel refinement of H by ECC on the background pixels of dst (around `region`
        when given: local alignment is what the fill needs, and it is cheaper); keeps H on failure."""
        s_img, _, _, _, _ = self.frame_data(src)
        d_img, _, d_visible, _, _ = self.frame_data(dst)
        h, w = d_visible.shape
        y0, y1, x0, x1 = region if region is not None else (0, h, 0, w)
        scale = min(1.0, self.feature_side / 2 / max(y1 - y0, x1 - x0))
        S = np.diag([scale, scale, 1.0])
        T = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)  # crop -> dst coordinates

        def gray(img):
            g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            if scale < 1.0:
                g = cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            return g.astype(np.float32)

        template = gray(d_img[y0:y1, x0:x1])
        source = gray(s_img)
        t_mask = d_visible[y0:y1, x0:x1].astype(np.uint8)
        s_mask = self.frame_data(src)[2].astype(np.uint8)
        if scale < 1.0:
            t_mask = cv2.resize(t_mask, (template.shape[1], template.shape[0]), interpolation=cv2.INTER_NEAREST)
            s_mask = cv2.resize(s_mask, (source.shape[1], source.shape[0]), interpolation=cv2.INTER_NEAREST)
        if t_mask.sum() < 200:
            return H
        # ECC's warp maps template (scaled dst crop) coordinates to input (scaled src) coordinates
        warp = S @ np.linalg.inv(H) @ T @ np.linalg.inv(S)
        warp = (warp / warp[2, 2]).astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
        try:
            if hasattr(cv2, "findTransformECCWithMask"):  # OpenCV 5: masks on both images
                cc, warp = cv2.findTransformECCWithMask(template, source, t_mask, s_mask, warp,
                                                        cv2.MOTION_HOMOGRAPHY, criteria, 3)
            else:  # OpenCV 4: the mask is the input's (the source frame's background)
                cc, warp = cv2.findTransformECC(template, source, warp, cv2.MOTION_HOMOGRAPHY,
                                               criteria, s_mask, 3)
        except cv2.error:
            return H
        refined = T @ np.linalg.inv(S) @ np.linalg.inv(warp.astype(np.float64)) @ S
        refined /= refined[2, 2]
        if cc < 0.6 or not self._plausible(refined, src):
            return H
        # ECC can wander off on flat images: accept it only when it stays near the feature fit
        c = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64).reshape(-1, 1, 2)
        back = np.linalg.inv(H)
        moved = np.abs(cv2.perspectiveTransform(cv2.perspectiveTransform(c, back), refined) - c).max()
        return refined if moved < 0.15 * max(h, w) else H

    def _feature_homography(self, src: int, dst: int) -> np.ndarray | None:
        _, _, _, p_s, d_s = self.frame_data(src)
        _, _, _, p_d, d_d = self.frame_data(dst)
        if d_s is None or d_d is None or len(p_s) < 8 or len(p_d) < 8:
            return None
        pairs = self._matcher.knnMatch(d_s, d_d, k=2)
        good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
        if len(good) < 12:
            return None
        a = p_s[[m.queryIdx for m in good]]
        b = p_d[[m.trainIdx for m in good]]
        H, inl = cv2.findHomography(a, b, cv2.RANSAC, 2.5, maxIters=4000, confidence=0.995)
        if H is not None and inl is not None:
            n_in = int(inl.sum())
            if n_in >= 40 and n_in >= 0.25 * len(good) and self._plausible(H, src):
                return H
        # few or clustered matches: a full homography extrapolates badly; fit a similarity
        A, inl = cv2.estimateAffinePartial2D(a, b, method=cv2.RANSAC, ransacReprojThreshold=2.5,
                                             maxIters=4000, confidence=0.995)
        if A is None or inl is None:
            return None
        n_in = int(inl.sum())
        if n_in < 10 or n_in < 0.25 * len(good):
            return None
        H = np.vstack([A, [0.0, 0.0, 1.0]])
        return H if self._plausible(H, src) else None

    @staticmethod
    def _valid(visible: np.ndarray, H: np.ndarray, size) -> np.ndarray:
        """Where the warped source shows background (inside its frame, no object), eroded 1 px."""
        v = cv2.warpPerspective(visible.astype(np.uint8), H, size, flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return cv2.erode(v, np.ones((3, 3), np.uint8)).astype(bool)

    def _plausible(self, H: np.ndarray, frame: int) -> bool:
        """The frame's corners map to a convex quad of similar size (no fold, flip or blow-up)."""
        h, w = self.frame_data(frame)[1].shape
        c = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
        q = cv2.perspectiveTransform(c, H).reshape(-1, 2)
        if not np.isfinite(q).all() or not cv2.isContourConvex(q.astype(np.float32)):
            return False
        ratio = abs(cv2.contourArea(q.astype(np.float32))) / float(w * h)
        return 0.5 < ratio < 2.0

    # -- dense flow (at most align_flow.FLOW_SIDE px a side; maps are scaled up when used)
    def _flow_scale(self, frame: int) -> float:
        h, w = self.frame_data(frame)[1].shape
        return min(1.0, align_flow.FLOW_SIDE / max(h, w))

    def _small(self, frame: int):
        image, _, visible, _, _ = self.frame_data(frame)
        s = self._flow_scale(frame)
        if s >= 1.0:
            return image, ~visible
        size = (max(8, round(image.shape[1] * s)), max(8, round(image.shape[0] * s)))
        return (cv2.resize(image, size, interpolation=cv2.INTER_AREA),
                cv2.resize((~visible).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool))

    def flow_step(self, a: int, b: int) -> np.ndarray:
        """Map frame a -> frame b by DIS flow, at flow resolution (cached)."""
        key = (a, b)
        hit = self._steps.get(key)
        if hit is not None:
            self._steps.move_to_end(key)
            return hit
        (ia, ba), (ib, bb) = self._small(a), self._small(b)
        m = self._flow.step_map(ia, ib, ba, bb)
        self._steps[key] = m
        while len(self._steps) > 4 * self.flow_search + 8:
            self._steps.popitem(last=False)
        return m

    def full_map(self, m: np.ndarray, frame: int) -> np.ndarray:
        """A flow-resolution map of `frame` as a full-resolution one."""
        s = self._flow_scale(frame)
        if s >= 1.0:
            return m
        h, w = self.frame_data(frame)[1].shape
        return (cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) + 0.5) / s - 0.5

    def uses_flow(self, frame: int) -> bool:
        """Whether flow alignment is tried for `frame` (besides the homography): always/never
        unless align='auto', where it is tried when the flow around any part of the hole
        disagrees with the homography to a neighbour (parallax)."""
        if self.align != "auto":
            return self.align == "flow"
        hit = self._uses.get(frame)
        if hit is not None:
            return hit
        here = self.index.get(frame)
        _, hole, visible, _, _ = self.frame_data(frame)
        use = False
        if here is not None and len(self.numbers) > 1 and hole.any():
            n = self.numbers[here + 1] if here + 1 < len(self.numbers) else self.numbers[here - 1]
            H = self._feature_homography(n, frame)
            h, w = hole.shape
            if H is None:
                use = True
            else:
                gap = np.linalg.norm(self.full_map(self.flow_step(frame, n), frame)
                                     - align_flow.homography_map(H, h, w), axis=-1)
                for part in regions(hole):
                    band = _grow(part, 24) & ~_grow(hole, 4) & visible
                    if band.sum() >= 50 and float(np.median(gap[band])) > FLOW_DISAGREES:
                        use = True
                        break
        self._uses[frame] = use
        return use

    def _sources(self, frame: int, flow: bool):
        """(source, homography src->frame or None, full-res flow map frame->src or None), nearest
        first: every frame up to flow_search away with flow (steps composed), then sparser."""
        here = self.index[frame]
        chain: dict[int, np.ndarray | None] = {1: None, -1: None}  # the flow composed so far, each way
        offsets = source_offsets(self.search)
        if flow:
            near = [d * k for k in range(1, self.flow_search + 1) for d in (1, -1)]
            offsets = near + [o for o in offsets if abs(o) > self.flow_search]
        for off in offsets:
            j = here + off
            if not 0 <= j < len(self.numbers):
                continue
            src = self.numbers[j]
            m = None
            if flow and abs(off) <= self.flow_search:
                d = 1 if off > 0 else -1
                step = self.flow_step(self.numbers[j - d], src)
                prev = chain[d]
                chain[d] = link = step if prev is None else align_flow.compose(prev, step)
                m = self.full_map(link, frame)
            H = self._feature_homography(src, frame)
            if H is not None or m is not None:
                yield src, H, m

    def render(self, frame: int, spatial: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(clean RGB frame, bool mask of the pixels no other frame could supply). Those are
        filled by the inpainter when `spatial`, else left as they are (the shot cleaner fills them).

        Each part of the hole takes, from each source, the alignment (homography or flow) that
        lines up best on the background around that part."""
        image, hole, _, _, _ = self.frame_data(frame)
        out = image.copy()
        if not hole.any():
            return out, hole.copy()
        h, w = hole.shape
        missing = hole.copy()
        parts = regions(hole)
        here = self.index.get(frame)
        ys, xs = np.nonzero(hole)
        m = 64
        region = (max(0, ys.min() - m), min(h, ys.max() + 1 + m), max(0, xs.min() - m), min(w, xs.max() + 1 + m))
        flow = here is not None and self.uses_flow(frame)
        used = 0
        seen: dict = {}  # part -> the best ring error of any alignment so far
        for src, H, fmap in (() if here is None else self._sources(frame, flow)):
            if used >= self.max_sources:
                break
            s_img, _, s_visible, _, _ = self.frame_data(src)
            used += 1
            candidates = []
            if H is not None:
                valid = self._valid(s_visible, H, (w, h))
                if (missing & valid).any():
                    if self.refine_alignment:
                        H = self.refine_ecc(H, src, frame, region)
                        valid = self._valid(s_visible, H, (w, h))
                    candidates.append((cv2.warpPerspective(s_img, H, (w, h), flags=cv2.INTER_LINEAR,
                                                           borderMode=cv2.BORDER_CONSTANT), valid))
            if fmap is not None:
                valid = align_flow.warp(s_visible.astype(np.uint8), fmap, nearest=True)
                valid = cv2.erode(valid, np.ones((3, 3), np.uint8)).astype(bool)
                if (missing & valid).any():
                    candidates.append((align_flow.warp(s_img, fmap), valid))
            if candidates and fill_parts(out, image, hole, parts, missing, candidates, seen=seen) and not missing.any():
                break
        if missing.any() and spatial:
            out = self.inpainter.fill(out, missing)
        return out, missing


def regions(hole: np.ndarray) -> list[np.ndarray]:
    """The connected parts of a hole (bool masks), each aligned on its own."""
    n, labels = cv2.connectedComponents(hole.astype(np.uint8), connectivity=8)
    return [labels == i for i in range(1, n)]


def fill_parts(out: np.ndarray, image: np.ndarray, hole: np.ndarray, parts, missing: np.ndarray,
               candidates, limit: float = 14.0, gain: bool = True, seen: dict | None = None) -> bool:
    """For each part of the hole still missing, copy into `out` the candidate (warped image,
    valid mask) that matches `image` best on the background around that part (the first one
    unless another is clearly better, so the choice does not flip from frame to frame) (colour gain
    matched unless `gain` is False), when it matches within `limit` grey levels and within
    ALIGN_SLACK/ALIGN_GRACE of the best alignment of that part (`seen`: part index -> best ring
    error so far, kept across calls). Updates `missing`; True if any pixel was filled."""
    filled = False
    for i, part in enumerate(parts):
        need = part & missing
        if not need.any():
            continue
        ring = _grow(part, 8) & ~hole
        scored = []
        for warped, valid in candidates:
            matched = _gain_matched(warped, image, ring & valid) if gain else warped
            err = _ring_error(matched, image, ring & valid)
            scored.append((err, matched, need & valid))
        errs = [e for e, _, _ in scored if e is not None]
        if seen is not None:
            if errs:
                seen[i] = min(errs + [seen.get(i, limit)])
            errs = [seen[i]] if i in seen else errs
        ceiling = min(limit, min(errs) * ALIGN_SLACK + ALIGN_GRACE) if errs else limit
        best = None
        for err, matched, take in scored:
            if not take.any() or (err is not None and err > ceiling):
                continue  # nothing to give, or the background around this part does not line up
            score = err if err is not None else limit
            if best is None or score < 0.8 * best[0]:  # the first (homography) unless clearly worse
                best = (score, matched, take)
        if best is not None:
            out[best[2]] = best[1][best[2]]
            missing &= ~best[2]
            filled = True
    return filled


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _ring_error(warped: np.ndarray, target: np.ndarray, ring: np.ndarray) -> float | None:
    """Mean absolute difference (grey levels) around a hole, None when the ring is too small."""
    if ring.sum() < 50:
        return None
    return float(np.abs(warped[ring].astype(np.float32) - target[ring].astype(np.float32)).mean())


def _gain_matched(warped: np.ndarray, target: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """warped with per-channel gains matching target's colour on the ring around the hole."""
    if ring.sum() < 50:
        return warped
    a = warped[ring].astype(np.float64).mean(axis=0)
    b = target[ring].astype(np.float64).mean(axis=0)
    gain = np.clip((b + 1.0) / (a + 1.0), 0.8, 1.25)
    if np.all(np.abs(gain - 1.0) < 0.01):
        return warped
    return np.clip(warped.astype(np.float32) * gain[None, None, :].astype(np.float32), 0, 255).astype(np.uint8)


def inpaint_only(image: np.ndarray, alpha: np.ndarray | None, grow: int = 3,
                 inpainter: Inpainter | None = None) -> np.ndarray:
    """The spatial-only baseline: fill the object's pixels of one frame by inpainting."""
    hole = hole_mask(alpha, image.shape[:2], grow)
    return (inpainter or OpenCVInpainter()).fill(image, hole)
