"""Mattes that hold over time: matting a range of frames with each frame's neighbour as a guide.

Per frame, in order (core.edge_matte.matte_from_mask does the per-frame work):
1. Dense optical flow (DIS) from this frame back to the previous one carries the previous frame's
   unknown band and its final alpha along the motion.
2. The trimap is this frame's edge-adaptive trimap with the carried band added, so a strand of
   hair found unknown on one frame stays unknown on the next instead of blinking in and out.
3. The matter (classical matting or ViTMatte: any `refine(image, trimap)`) solves it, then the
   mask guard applies as for a single frame.
4. Where the carried previous alpha still explains the image (the plate, warped the same way,
   matches this frame's colours), the new alpha is blended with it; where the image changed
   (motion the flow missed, an occlusion, a new strand) the new alpha stands alone. So still hair
   stops shimmering while moving edges are re-solved.

Nothing moving means nothing changes: when a frame equals its predecessor, the carried band and
alpha equal this frame's own, and the result is exactly per-frame matting.
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

CARRY = 0.75  # weight of the carried alpha where the warped plate matches the frame exactly
COLOUR_TOL = 6.0  # plate difference (0..255, mean over channels) at which the carry weight halves


@dataclass
class _Prev:
    frame: int
    grey: np.ndarray
    image: np.ndarray
    alpha: np.ndarray
    unknown: np.ndarray


def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.ascontiguousarray(image[..., :3])
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return (np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def backward_flow(grey: np.ndarray, prev_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y): for each pixel of this frame, where it was on the previous one."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(grey, prev_grey, None)
    h, w = grey.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx + flow[..., 0], gy + flow[..., 1]


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
            self._prev = _Prev(frame, grey, image, out, np.zeros((h, w), bool))
            return out
        band = self.band or default_band(h, w)
        evidence = colour_alpha(image, fg, band)
        trimap = adaptive_trimap(image, m, soft, band, evidence=evidence)
        prev = self._prev if self._prev is not None and self._prev.frame == frame - 1 \
            and self._prev.grey.shape == grey.shape else None
        maps = None
        if prev is not None:
            maps = backward_flow(grey, prev.grey)
            carried_unknown = _warp(prev.unknown.astype(np.uint8), maps, cv2.INTER_NEAREST) > 0
            # the carried band counts only near this frame's own edge (the mask decides the object)
            near = cv2.dilate((trimap == UNKNOWN).astype(np.uint8), np.ones((2 * band + 1,) * 2, np.uint8)) > 0
            trimap = trimap.copy()
            trimap[carried_unknown & near] = UNKNOWN
        matte = np.asarray(self.matter.refine(image, trimap), np.float32)
        if self.use_guard:
            matte = guard(matte, fg.astype(np.float32), evidence)
        if prev is not None:
            carried = _warp(prev.alpha, maps)
            wgt = carry_weight(image, _warp(prev.image, maps), self.carry)
            # only inside the band (known pixels stay what the trimap says)
            wgt[trimap != UNKNOWN] = 0.0
            matte = (1.0 - wgt) * matte + wgt * carried
        matte = np.clip(matte, 0.0, 1.0).astype(np.float32)
        self._prev = _Prev(frame, grey, image, matte, trimap == UNKNOWN)
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

