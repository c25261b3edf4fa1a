"""Leak and drift flags for propagated masks, besides the area jumps workers.jobs flags: frames
where the mask spreads beyond the object's outline on its key frame (a swan's mask swallowing its
reflection), or moves onto colours that were background on the key frame.

The key frame gives the object's outline and two colour models (smoothed 3D histograms in Lab):
the object's pixels and a band of background around it. On a propagated frame:
- spread: the key outline is carried to the frame by the shift that best overlays the two masks
  (a leak adds area in one place, so the body still decides the shift); the part of the mask
  further than a small tolerance outside it is the spread;
- colour: the pixels the mask newly took in (versus the frame it came from), and the spread, are
  classed by which key-frame model explains their colour better.
A frame is flagged (flag_run, over a whole run) when the spread is well beyond the object's usual
change of shape in that run (whatever its colour: a reflection is coloured like the object), or
when many taken-in pixels look like background.
No Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BINS = 16  # per Lab channel


@dataclass
class LeakCheck:
    frame: int
    spread: float  # share of the mask outside the key frame's outline (carried to this frame)
    new_share: float  # pixels taken in versus the frame it came from, as a share of the mask
    new_background: float  # share of those coloured like the key frame's background
    spread_background: float  # share of the spread coloured like the key frame's background
    reason: str = ""  # why it is flagged, for the timeline's tooltip; "" when not

    @property
    def flagged(self) -> bool:
        return bool(self.reason)


def _lab_cells(image: np.ndarray) -> np.ndarray:
    """HxW int histogram cell of each pixel (Lab, BINS per channel)."""
    rgb = np.asarray(image)[..., :3]
    if rgb.dtype != np.uint8:
        scale = 255.0 if float(np.nanmax(rgb)) <= 1.5 else 1.0
        rgb = np.clip(np.nan_to_num(rgb.astype(np.float32)) * scale, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB)
    q = (lab.astype(np.int32) * BINS) >> 8
    result: np.ndarray = (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]
    return result


def _histogram(cells: np.ndarray) -> np.ndarray:
    h: np.ndarray = np.bincount(cells.ravel(), minlength=BINS ** 3).astype(np.float32).reshape(BINS, BINS, BINS)
    for axis in range(3):  # colours a step off still count
        h = (np.roll(h, 1, axis) + 2 * h + np.roll(h, -1, axis)) / 4
    return h.ravel() / max(float(h.sum()), 1.0)


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


class KeyModel:
    """The object on its key frame: outline and colours (object, background band around it)."""

    def __init__(self, image: np.ndarray, alpha: np.ndarray):
        inside = np.asarray(alpha) >= 0.5
        self.area = int(inside.sum())
        if self.area == 0:
            raise ValueError("the key frame's mask is empty")
        self.inside = inside
        size = np.sqrt(self.area)
        self.tolerance = int(max(3, round(0.03 * size)))  # outline wobble that is not a leak
        ring = cv2.dilate(inside.astype(np.uint8), _disc(int(max(8, 0.35 * size)))).astype(bool) & ~inside
        cells = _lab_cells(image)
        self.fg = _histogram(cells[inside])
        self.bg = _histogram(cells[ring]) if ring.any() else np.full(BINS ** 3, BINS ** -3, np.float32)

    def background_like(self, cells: np.ndarray, where: np.ndarray) -> np.ndarray:
        """Per pixel of `where`: the background model explains its colour twice as well."""
        c = cells[where]
        result: np.ndarray = self.bg[c] > 2.0 * self.fg[c] + 1e-6
        return result

    def carried_to(self, inside: np.ndarray, step: int = 4) -> np.ndarray:
        """The key outline shifted to where it best overlays `inside` (searched at 1/step scale,
        up to a quarter of the frame away)."""
        h, w = inside.shape
        a = cv2.resize(self.inside.astype(np.float32), (max(1, w // step), max(1, h // step)),
                       interpolation=cv2.INTER_AREA)
        b = cv2.resize(inside.astype(np.float32), a.shape[::-1], interpolation=cv2.INTER_AREA)
        ys, xs = np.nonzero(a > 0.25)
        if not len(ys):
            return self.inside
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        pad = max(a.shape) // 4 + 1
        scores = cv2.matchTemplate(cv2.copyMakeBorder(b, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0),
                                   np.ascontiguousarray(a[y0:y1, x0:x1]), cv2.TM_CCORR)
        _, _, _, (px, py) = cv2.minMaxLoc(scores)
        dx, dy = (px - pad - x0) * step, (py - pad - y0) * step
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        return cv2.warpAffine(self.inside.astype(np.uint8), shift, (w, h), flags=cv2.INTER_NEAREST) > 0


def measure(key: KeyModel, image: np.ndarray, alpha: np.ndarray, source_alpha: np.ndarray | None,
            frame: int) -> LeakCheck:
    """How `alpha` on `frame` (propagated from `source_alpha`) sits against its key frame; no
    decision yet (flag_run decides over a whole run)."""
    inside = np.asarray(alpha) >= 0.5
    area = int(inside.sum())
    if area == 0:
        return LeakCheck(frame, 0.0, 0, 0.0, 0.0)
    cells = _lab_cells(image)
    outline = cv2.dilate(key.carried_to(inside).astype(np.uint8), _disc(key.tolerance)) > 0
    out = cv2.morphologyEx((inside & ~outline).astype(np.uint8), cv2.MORPH_OPEN, _disc(2)) > 0
    n_out = int(out.sum())
    new = inside & ~(np.asarray(source_alpha) >= 0.5) if source_alpha is not None else np.zeros_like(inside)
    n_new = int(new.sum())
    return LeakCheck(frame, n_out / area, n_new / area,
                     float(key.background_like(cells, new).mean()) if n_new else 0.0,
                     float(key.background_like(cells, out).mean()) if n_out else 0.0)


def flag_run(checks: list[LeakCheck], spread: float = 0.03, usual: float = 2.0, leak: float = 0.5,
             leak_min: float = 0.01) -> dict[int, str]:
    """{frame: reason} of the frames of one propagated run that may be leaking or drifting.

    Spread: more than `spread` of the mask outside the carried key outline and more than `usual`
    times the run's median spread (an object that changes shape all the time, a dancer, a
    running dog, is measured against its own usual change, not flagged on every frame). Colour:
    the pixels taken in (or the spread) are at least `leak_min` of the mask and at least `leak`
    of them, and 25 points more than the run's median, are coloured like the key frame's
    background."""
    if not checks:
        return {}
    limit = max(spread, usual * float(np.median([c.spread for c in checks])))
    # colour: well above what the run's taken-in pixels usually look like (a fast object takes
    # in much background-like colour on every frame; a leak does it on a few)
    new_limit = max(leak, float(np.median([c.new_background for c in checks])) + 0.25)
    spread_limit = max(leak, float(np.median([c.spread_background for c in checks])) + 0.25)
    out = {}
    for c in checks:
        reason = ""
        if c.spread > limit:
            tint = f", {100 * c.spread_background:.0f}% of it coloured like the background there" \
                if c.spread_background >= 0.05 else ""
            reason = (f"{100 * c.spread:.1f}% of the mask lies outside the object's outline on its key frame"
                      f"{tint}: it may be leaking (a reflection, a shadow, a neighbour)")
        elif c.new_share >= leak_min and c.new_background >= new_limit:
            reason = (f"the mask took in {100 * c.new_share:.1f}% more, {100 * c.new_background:.0f}% of it "
                      f"coloured like the background on the key frame: it may be leaking")
        elif c.spread >= leak_min and c.spread_background >= spread_limit:
            reason = (f"{100 * c.spread:.1f}% of the mask moved onto colours that were background on the "
                      f"key frame: it may be drifting")
        if reason:
            c.reason = reason
            out[c.frame] = reason
    return out
