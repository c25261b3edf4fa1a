"""Mask propagation without weights: dense optical flow plus a colour model that corrects drift.

Per frame and object, at a working size (longest side WORK_SIDE; the answer is full size):
1. DIS optical flow (both directions) between the previous and the current frame, started from
   the last pair's flow (so a fast, steady motion the coarsest scale cannot see from zero is still
   found); the previous
   mask is warped backwards into the current frame; forward-backward disagreement marks
   occlusions and unreliable flow.
2. Each pixel near the warped mask gets a score (log-odds of object): a shape prior from its
   signed distance to the warped edge (softer where the flow is unreliable, nearly neutral
   where it fails: parts coming out from behind an occluder), the colour models'
   log-likelihood ratio, and motion (moving like the surroundings rather than like the object
   counts against it). Colour models (chroma-weighted Lab GMMs) of the object and its
   surroundings are learnt from the prompted frame and updated from confident recent pixels.
3. A min-cut over those scores with contrast-sensitive smoothness (classical_cut) decides the
   mask; the deep core of the warped mask is fixed unless its colour clearly says background.
4. Components far from the warped mask are dropped; the edge is upsampled and feathered into
   soft alpha on the full-size frame.

Memory is bounded: one previous frame (grey + features), the prompts, a few recent results and
colour samples per object, whatever the length of the shot.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from roto_studio.core.prompt import Prompt
from roto_studio.models.base import FrameSource, PropagationSteps, VideoPropagator
from roto_studio.models.classical.cut import cut as min_cut
from roto_studio.models.classical.gmm import ColourGMM
from roto_studio.models.classical.grabcut import GrabCutSegmenter
from roto_studio.models.classical.image import alpha_from_logits, colour_features, feather

WORK_SIDE = 480  # longest side of the frames the tracker works on (the output is full size)
RECENT = 4  # results kept per object (to restart propagation from a recent frame)
N_SAMPLES = 6000  # colour samples kept per class per object
WIDE = 0.3  # search ring beyond the band, as a share of the object's size
SIZE_DECAY = 0.97
MOTION_GAP = 1.0  # px/frame between object and surroundings for motion to count
UNFREEZE = 3.0  # core pixels whose colour LLR is below minus this are left to the cut
LLR_CAP = 6.0  # colour log-likelihood ratios are clipped to +-this
COLOUR_W = 1.0  # weight of colour against the shape prior in the cut
PRIOR_CAP = 4.0  # the flow-warped shape prior, in log-odds, at most this far from the edge
DISOCC = 1.0  # the lowest shape prior where the flow fails (a part comes out from behind something)
GAMMA = 10.0  # smoothness weight of the cut
MOTION_W = 2.0  # log-odds against moving like the surroundings (outside the warped mask)...
MOTION_POS = 1.0  # ...and for moving like the object (weak: shadows and reflections do too)
INIT_FLOW = True  # each frame pair's flow starts from the last pair's (fast, steady motion)


@dataclass
class _Track:
    prompts: dict = field(default_factory=dict)  # frame -> uint8 mask 0/255 (conditioning)
    recent: OrderedDict = field(default_factory=OrderedDict)  # frame -> uint8 alpha 0..255
    fg_ref: np.ndarray | None = None  # colour samples from the prompted frame
    bg_ref: np.ndarray | None = None
    fg_new: np.ndarray | None = None  # colour samples from recent frames
    bg_new: np.ndarray | None = None
    size: float = 0.0  # object size memory (decays slowly, so occlusions don't shrink the search)


def _shrink(image: np.ndarray, s: float) -> np.ndarray:
    if s >= 1.0:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _shrink_mask(mask: np.ndarray, s: float) -> np.ndarray:
    return mask if s >= 1.0 else _shrink(mask.astype(np.float32), s) > 0.5


def _sample(x: np.ndarray, n: int, rng) -> np.ndarray:
    if len(x) <= n:
        return x.astype(np.float32)
    return x[rng.choice(len(x), n, replace=False)].astype(np.float32)


def _dist(src: np.ndarray) -> np.ndarray:
    """Distance of each non-zero pixel to the nearest zero pixel (large where there is none)."""
    if not (src == 0).any():
        return np.full(src.shape, 1e6, np.float32)
    return cv2.distanceTransform(src.astype(np.uint8), cv2.DIST_L2, 3)


def _ellipse(r: int) -> np.ndarray:
    r = max(1, int(r))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


class FlowPropagator(VideoPropagator):
    """Optical flow + colour-model propagation (CPU, no weights)."""

    name = "flow"

    def __init__(self, segmenter: GrabCutSegmenter | None = None, feather_radius: int = 2,
                 flow_preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, flow_scale: float = 1.0,
                 seed: int = 0, work_side: int | None = WORK_SIDE):
        self.flow_scale = flow_scale
        self.work_side = work_side
        self.segmenter = segmenter
        self.feather_radius = feather_radius
        self.flow_preset = flow_preset
        self._rng = np.random.default_rng(seed)
        self._frames: FrameSource | None = None
        self._tracks: dict[str, _Track] = {}
        self._init: tuple[np.ndarray, np.ndarray] | None = None  # the last frame pair's (backward, forward) flow

    # -- VideoPropagator ----------------------------------------------------------------------------
    def start(self, frames: FrameSource) -> None:
        self._frames = frames
        self._tracks = {}

    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        if self._frames is None:
            raise RuntimeError("start() must be called before add_prompt()")
        image = self._frames.read(frame)
        h, w = image.shape[:2]
        if prompt.mask is not None and not prompt.points and prompt.box is None:
            alpha = alpha_from_logits(np.asarray(prompt.mask))
            if alpha.shape != (h, w):
                alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            if self.segmenter is None:
                self.segmenter = GrabCutSegmenter()
            self.segmenter.set_image(image, key=("flow-prompt", id(self._frames), frame))
            mask_logits = None if prompt.mask is None else np.asarray(prompt.mask, np.float32)
            alpha = self.segmenter.predict(Prompt(points=list(prompt.points), labels=list(prompt.labels),
                                                  box=prompt.box), mask_logits=mask_logits).alpha
        track = self._tracks.setdefault(obj_id, _Track())
        binary = alpha > 0.5
        track.prompts[frame] = (binary * 255).astype(np.uint8)
        track.recent.clear()
        s = self._work_scale(image)
        self._learn_reference(track, colour_features(_shrink(image, s)), _shrink_mask(binary, s))
        return alpha.astype(np.float32)

    def remove_object(self, obj_id: str) -> None:
        self._tracks.pop(obj_id, None)

    def reset(self) -> None:
        self._tracks = {}

    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> PropagationSteps:
        if self._frames is None:
            raise RuntimeError("start() must be called before propagate()")
        nums = list(self._frames.frame_numbers)
        if start not in nums:
            raise ValueError(f"frame {start} is not in the shot")
        i0 = nums.index(start)
        if reverse:
            path = nums[:i0 + 1][::-1]
            if stop is not None:
                path = [f for f in path if f >= stop]
        else:
            path = nums[i0:]
            if stop is not None:
                path = [f for f in path if f <= stop]
        if len(path) < 2:
            return

        # the mask each object starts from on the first frame of the path
        # (masks, flow and colour work at a reduced size; the output is full size)
        prev_img = self._frames.read(path[0])
        s = self._work_scale(prev_img)
        state: dict[str, np.ndarray | None] = {}
        for obj_id, tr in self._tracks.items():
            if start in tr.prompts:
                state[obj_id] = _shrink_mask(tr.prompts[start] > 127, s)
            elif start in tr.recent:
                state[obj_id] = _shrink_mask(tr.recent[start] > 127, s)
            else:
                state[obj_id] = None  # object appears when a prompt frame is reached

        flow = cv2.DISOpticalFlow.create(self.flow_preset)
        self._init = None
        prev_grey = cv2.cvtColor(_shrink(prev_img, s), cv2.COLOR_RGB2GRAY)
        for f in path[1:]:
            img = self._frames.read(f)
            small = _shrink(img, s)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            feat = colour_features(small)
            need = [o for o, m in state.items() if m is not None and m.any()]
            flows = self._flows(flow, prev_grey, grey) if need else None
            out: dict[str, np.ndarray] = {}
            for obj_id, tr in list(self._tracks.items()):
                cur = state.get(obj_id)  # None: not seen yet (or added while propagating)
                if f in tr.prompts:  # a prompt on this frame resets the chain
                    mask = _shrink_mask(tr.prompts[f] > 127, s)
                    self._learn_reference(tr, feat, mask)
                    alpha = (tr.prompts[f] > 127).astype(np.float32)
                elif cur is None:
                    mask = None
                    alpha = np.zeros(img.shape[:2], np.float32)
                elif not cur.any():
                    mask = cur
                    alpha = np.zeros(img.shape[:2], np.float32)
                else:
                    mask = self._step(tr, cur, flows, feat)
                    alpha = self._full_alpha(img, mask, s)
                state[obj_id] = mask
                if mask is not None:
                    tr.recent[f] = (alpha * 255 + 0.5).astype(np.uint8)
                    while len(tr.recent) > RECENT:
                        tr.recent.popitem(last=False)
                out[obj_id] = alpha
            yield f, out
            prev_grey = grey

    # -- internals ----------------------------------------------------------------------------------
    def _work_scale(self, image: np.ndarray) -> float:
        if not self.work_side:
            return 1.0
        return min(1.0, self.work_side / max(image.shape[:2]))

    def _full_alpha(self, img: np.ndarray, mask: np.ndarray, s: float) -> np.ndarray:
        """Full-size soft alpha from a working-size mask: upsampled, edge feathered on the image."""
        h, w = img.shape[:2]
        if mask.shape != (h, w):
            mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        if not self.feather_radius:
            return mask.astype(np.float32)
        return feather(img, mask, max(1, int(round(self.feather_radius / s))))

    def _flows(self, dis, prev_grey, grey):
        h, w = grey.shape
        if self.flow_scale != 1.0:
            sw, sh = int(round(w * self.flow_scale)), int(round(h * self.flow_scale))
            a = cv2.resize(grey, (sw, sh), interpolation=cv2.INTER_AREA)
            b = cv2.resize(prev_grey, (sw, sh), interpolation=cv2.INTER_AREA)
            back = cv2.resize(dis.calc(a, b, None), (w, h)) / self.flow_scale
            fwd = cv2.resize(dis.calc(b, a, None), (w, h)) / self.flow_scale
        elif INIT_FLOW and self._init is not None and self._init[0].shape[:2] == grey.shape:
            # fast motion: start from the last frame's flow (motion goes on much as it went), so
            # displacements the coarsest scale cannot see from zero are still found
            back = dis.calc(grey, prev_grey, self._init[0].copy())  # current -> previous
            fwd = dis.calc(prev_grey, grey, self._init[1].copy())  # previous -> current
        else:
            back = dis.calc(grey, prev_grey, None)  # current -> previous
            fwd = dis.calc(prev_grey, grey, None)  # previous -> current
        self._init = (back, fwd)
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + back[..., 0], gy + back[..., 1]
        # forward flow sampled where each current pixel came from should undo the backward flow
        fw_at = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.hypot(fw_at[..., 0] + back[..., 0], fw_at[..., 1] + back[..., 1])
        mag = np.hypot(back[..., 0], back[..., 1])
        return mx, my, err, mag, back

    def _learn_reference(self, tr: _Track, feat: np.ndarray, mask: np.ndarray) -> None:
        x = feat.reshape(-1, 3)
        m = mask.reshape(-1)
        if not m.any():
            tr.fg_ref = tr.bg_ref = tr.fg_new = tr.bg_new = None
            return
        ring = self._local_bg(mask).reshape(-1)
        ys, xs = np.nonzero(mask)
        tr.size = float(max(np.ptp(ys) + 1, np.ptp(xs) + 1))
        tr.fg_ref = _sample(x[m], N_SAMPLES, self._rng)
        tr.bg_ref = _sample(x[ring], N_SAMPLES, self._rng)
        tr.fg_new = tr.bg_new = None

    @staticmethod
    def _local_bg(mask: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return np.zeros_like(mask)
        size = max(np.ptp(ys) + 1, np.ptp(xs) + 1)
        r = int(np.clip(0.4 * size, 10, 120))
        h, w = mask.shape
        y0, y1 = max(0, ys.min() - r), min(h, ys.max() + r + 1)
        x0, x1 = max(0, xs.min() - r), min(w, xs.max() + r + 1)
        out = np.zeros_like(mask)
        out[y0:y1, x0:x1] = True
        return out & ~mask

    def _models(self, tr: _Track):
        fg_parts = [p for p in (tr.fg_ref, tr.fg_new) if p is not None]
        bg_parts = [p for p in (tr.bg_ref, tr.bg_new) if p is not None]
        # a fresh fit each frame (warm-starting from the last models drifts on hard shots)
        fg = ColourGMM().fit(np.concatenate(fg_parts), iters=4)
        bg = ColourGMM().fit(np.concatenate(bg_parts), iters=4)
        return fg, bg

    def _step(self, tr: _Track, prev: np.ndarray, flows, feat: np.ndarray) -> np.ndarray:
        mx, my, err, mag, back = flows
        h, w = prev.shape
        warped = cv2.remap(prev.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5
        if not warped.any():
            return warped
        ys, xs = np.nonzero(warped)
        size = max(np.ptp(ys) + 1, np.ptp(xs) + 1)
        base = int(np.clip(0.04 * size, 3, 20))
        w8 = warped.astype(np.uint8)
        d_out = _dist(1 - w8)  # distance to the warped mask (0 inside)
        d_in = _dist(w8)  # distance to its outside (0 outside)
        # near unreliable flow (forward-backward disagreement) the shape prior is weaker
        wide = _dist((err <= 1.5).astype(np.uint8)) <= base
        tr.size = max(float(size), SIZE_DECAY * tr.size)
        r_wide = int(np.clip(WIDE * tr.size, base + 2, 80))
        search = d_out <= r_wide
        ys, xs = np.nonzero(search)
        y0, y1 = max(0, ys.min() - 2), min(h, ys.max() + 3)
        x0, x1 = max(0, xs.min() - 2), min(w, xs.max() + 3)
        fg, bg = self._models(tr)
        crop = feat[y0:y1, x0:x1]
        xr = crop.reshape(-1, 3).astype(np.float64)
        llr = np.clip(fg.loglik(xr) - bg.loglik(xr), -LLR_CAP, LLR_CAP).reshape(crop.shape[:2])
        sl = (slice(y0, y1), slice(x0, x1))
        sigma = np.where(wide[sl], 2.0, 1.0) * max(1.5, 0.5 * base)
        prior = np.clip((d_in[sl] - d_out[sl]) / sigma, -PRIOR_CAP, PRIOR_CAP)
        if DISOCC > 0:
            # where the flow fails (a part comes out from behind an occluder) the warp cannot
            # say it is background: colour, motion and the neighbours decide there
            prior = np.where(err[sl] > 1.5, np.maximum(prior, -DISOCC), prior)
        score = COLOUR_W * llr + prior + self._motion(back, err, warped, d_in, d_out, base, search, sl)
        fg_hard = (d_in[sl] > 2 * base) & ~wide[sl] & (llr > -UNFREEZE)
        bg_hard = ~search[sl]
        cut = min_cut(crop, score, fg_hard, bg_hard, GAMMA)
        mask = np.zeros((h, w), bool)
        mask[sl] = cut
        mask = self._keep_near(mask, warped, r_wide)
        self._update_samples(tr, feat, mask)
        return mask

    @staticmethod
    def _motion(back, err, warped, d_in, d_out, base, search, sl) -> np.ndarray | float:
        """Log-odds from motion outside the warped mask, where the object and its surroundings
        move differently: moving like the object leans towards it (weakly: shadows and
        reflections do too), moving like the surroundings against it."""
        obj_px = warped & (d_in > base) & (err < 1.0)
        bg_px = search & (d_out > 2 * base) & (err < 1.0)
        if obj_px.sum() < 20 or bg_px.sum() < 20:
            return 0.0
        of = np.median(back[obj_px], axis=0)
        bf = np.median(back[bg_px], axis=0)
        gap = float(np.hypot(*(of - bf)))
        if gap <= MOTION_GAP:
            return 0.0
        fr = back[sl]
        d_obj = np.hypot(fr[..., 0] - of[0], fr[..., 1] - of[1])
        d_bg = np.hypot(fr[..., 0] - bf[0], fr[..., 1] - bf[1])
        m = np.clip((d_bg - d_obj) / gap, -1.0, 1.0)
        out = np.where(m > 0, MOTION_POS * m, MOTION_W * m)
        return np.where(~warped[sl] & (err[sl] < 1.5), out, 0.0)

    @staticmethod
    def _keep_near(mask: np.ndarray, warped: np.ndarray, r: int) -> np.ndarray:
        """Keep components that overlap the warped mask; ones only near it must be sizeable."""
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        if n <= 2:
            return mask
        overlap = np.bincount(lab[warped], minlength=n)
        areas = stats[:, cv2.CC_STAT_AREA]
        main = areas[1:].max()
        keep = np.zeros(n, bool)
        keep[1:] = ((overlap[1:] > 0.3 * areas[1:]) & (areas[1:] > 0.002 * main)) | \
            (areas[1:] > 0.05 * main)
        return keep[lab]

    def _update_samples(self, tr, feat, mask):
        x = feat.reshape(-1, 3)
        core = cv2.erode(mask.astype(np.uint8), _ellipse(3)).astype(bool)
        far = self._local_bg(cv2.dilate(mask.astype(np.uint8), _ellipse(3)).astype(bool))
        n = N_SAMPLES // 2
        if core.any():
            tr.fg_new = _sample(x[core.reshape(-1)], n, self._rng)
        if far.any():
            tr.bg_new = _sample(x[far.reshape(-1)], n, self._rng)
