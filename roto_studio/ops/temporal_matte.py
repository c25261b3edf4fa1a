"""Mattes that hold over time: matting a range of frames with each frame's predecessor as a guide.

Per frame, in order (the per-frame steps are those of core.edge_matte.matte_from_mask):
1. This frame's edge-adaptive trimap, solved by the matter (classical matting or ViTMatte: any
   `refine(image, trimap)`), then the mask guard.
2. Dense optical flow (DIS, both directions) from this frame back to the previous one carries the
   previous frame's final alpha along the motion.
3. Inside the unknown band the new alpha is blended with the carried one where the carried alpha
   still explains the image: the previous plate, warped the same way, matches this frame's
   colours, the flow comes back (no occlusion) and the two alphas differ by no more than a
   shimmer. Where the image changed (motion the flow missed, an occlusion, a new strand) the new
   alpha stands alone. So still hair stops shimmering while moving edges are re-solved.

The previous frame's unknown band is not added to this frame's trimap: tried on the shared
matting clip, it handed clean background to the matter (false alpha, and pymatting's solver
failing on the larger band), so the trimap stays each frame's own.
Nothing moving means nothing changes: when a frame equals its predecessor, the carried alpha
equals this frame's own, and the result is exactly per-frame matting.
Works on any alpha source and media: `read_image(frame)` and `read_mask(frame)` callables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from roto_studio.core.edge_matte import adaptive_trimap, colour_alpha, guard
from roto_studio.core.masks import to_alpha
from roto_studio.core.trimap import UNKNOWN, default_band
from roto_studio.core.wire import quantize

CARRY = 0.75  # weight of the carried alpha where the warped plate matches the frame exactly
COLOUR_TOL = 6.0  # plate difference (0..255, mean over channels) at which the carry weight halves
FLOW_TOL = 1.0  # px of forward-backward flow disagreement at which the carry weight falls to 1/e
ALPHA_TOL = 0.3  # alpha disagreement between the carried and the new matte at which it falls to 1/e


@dataclass
class _Prev:
    frame: int
    grey: np.ndarray
    image: np.ndarray
    alpha: np.ndarray


def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.ascontiguousarray(image[..., :3])
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return (np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def backward_flow(grey: np.ndarray, prev_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(map_x, map_y, err): for each pixel of this frame, where it was on the previous one, and how
    far the forward flow from there fails to bring it back (px; large at occlusions)."""
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    back = dis.calc(grey, prev_grey, None)  # type: ignore[call-overload]  # stubs lack flow=None (OpenCV allocates it)
    fwd = dis.calc(prev_grey, grey, None)  # type: ignore[call-overload]  # stubs lack flow=None (OpenCV allocates it)
    h, w = grey.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + back[..., 0], gy + back[..., 1]
    fw_at = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = np.hypot(fw_at[..., 0] + back[..., 0], fw_at[..., 1] + back[..., 1])
    return mx, my, err


def _warp(x: np.ndarray, maps, interp=cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.remap(x, maps[0], maps[1], interp, borderMode=cv2.BORDER_REPLICATE)


def carry_weight(image: np.ndarray, warped_prev: np.ndarray, carry: float = CARRY,
                 tol: float = COLOUR_TOL) -> np.ndarray:
    """How much the carried alpha may count per pixel: `carry` where the warped previous plate
    matches this frame, falling towards 0 where the colours differ (averaged over 5x5 pixels)."""
    # signed difference averaged first: sensor noise cancels out, a real change does not
    diff = cv2.blur(image.astype(np.float32) - warped_prev.astype(np.float32), (5, 5))
    diff = np.abs(diff).mean(-1)
    return (carry / (1.0 + (diff / tol) ** 2)).astype(np.float32)


class TemporalMatter:
    """Mattes consecutive frames of one object with the previous frame as a guide (module doc).

    `matter`: anything with refine(image, trimap) -> alpha. Call `matte(frame, image, mask)` in
    frame order; a frame that does not follow the last one (a gap) starts a new chain."""

    def __init__(self, matter, band: int | None = None, carry: float = CARRY, use_guard: bool = True):
        self.matter = matter
        self.band = band
        self.carry = float(carry)
        self.use_guard = use_guard
        self._prev: _Prev | None = None

    def reset(self) -> None:
        self._prev = None

    def matte(self, frame: int, image: np.ndarray, mask, soft=None) -> np.ndarray:
        image = _to_uint8(image)
        m = to_alpha(mask)
        fg = m >= 0.5
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = fg.shape
        if not fg.any() or fg.all():
            out = fg.astype(np.float32)
            self._prev = _Prev(frame, grey, image, out)
            return out
        band = self.band or default_band(h, w)
        evidence = colour_alpha(image, fg, band)
        trimap = adaptive_trimap(image, m, soft, band, evidence=evidence)
        prev = self._prev if self._prev is not None and self._prev.frame == frame - 1 \
            and self._prev.grey.shape == grey.shape else None
        # at the mask store's precision, as a matter on the model server answers: the same guide
        # is carried to the next frame whether the matting ran here or there
        matte = quantize(self.matter.refine(image, trimap)).astype(np.float32) / np.float32(65535.0)
        if self.use_guard:
            matte = guard(matte, fg.astype(np.float32), evidence)
        if prev is not None:
            maps = backward_flow(grey, prev.grey)
            carried = _warp(prev.alpha, maps)
            wgt = carry_weight(image, _warp(prev.image, maps), self.carry)
            # not across occlusions (the flow does not come back), nor where the alphas disagree
            # by more than a shimmer: what moved there is re-solved, never trailed behind
            wgt *= np.exp(-(maps[2] / FLOW_TOL) ** 2) * np.exp(-((carried - matte) / ALPHA_TOL) ** 2)
            # only inside the band (known pixels stay what the trimap says)
            wgt[trimap != UNKNOWN] = 0.0
            matte = (1.0 - wgt) * matte + wgt * carried
        matte = np.clip(matte, 0.0, 1.0).astype(np.float32)
        self._prev = _Prev(frame, grey, image, matte)
        return matte


def matte_range(frames: Iterable[int], read_image: Callable[[int], np.ndarray],
                read_mask: Callable[[int], np.ndarray | None], matter, band: int | None = None,
                temporal: bool = True, cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, alpha) for each frame with a mask, in frame order: with `temporal`, each guided by
    its predecessor (TemporalMatter); else each on its own (core.edge_matte.matte_from_mask)."""
    from roto_studio.core.edge_matte import matte_from_mask

    tm = TemporalMatter(matter, band) if temporal else None
    for frame in sorted(frames):
        if cancel is not None and cancel():
            return
        mask = read_mask(frame)
        if mask is None:
            if tm is not None:
                tm.reset()
            continue
        image = read_image(frame)
        if tm is not None:
            yield frame, tm.matte(frame, image, mask, soft=mask)
        else:
            yield frame, matte_from_mask(image, mask, matter, soft=mask, band=band)

