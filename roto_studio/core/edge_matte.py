"""A soft matte from a mask: an edge-adaptive trimap, matting, then a guard.

The trimap's unknown band follows the image: local colour models of the foreground and the
background on each side of the mask edge give a colour-line alpha estimate for every pixel near
the edge; the band widens where that estimate is fractional or disagrees with the mask (hair,
fur, motion blur) and stays thin where the colours split cleanly at the edge. A model's own soft
alpha (logits), when given, marks its fractional pixels unknown too. After matting, the guard keeps
the mask's edge wherever the matte is not more plausible than the mask, judged by the same colour
evidence, so a matte can only improve on its mask. The matter is any object with
`refine(image, trimap) -> alpha` (classical matting or ViTMatte).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from roto_studio.core.masks import to_alpha
from roto_studio.core.trimap import BACKGROUND, FOREGROUND, UNKNOWN, keep_cores, default_band

RELIABLE = 4.0  # colour contrast (mean distance / spread) above which the colours are trusted
SPECK = 1.0  # evidence pieces smaller than SPECK * band px are noise


def _box(x: np.ndarray, r: int) -> np.ndarray:
    k = 2 * int(r) + 1
    return cv2.boxFilter(x, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)


def colour_alpha(image: np.ndarray, fg: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, contrast): a colour-line alpha for every pixel from local foreground and background
    colour means sampled just beyond `band` px on each side of the mask edge, and how far apart
    those means are relative to their spread (low contrast: the colours cannot tell the sides apart)."""
    img = image[..., :3].astype(np.float32) / 255.0
    f8 = fg.astype(np.uint8)
    dist_in = cv2.distanceTransform(f8, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(1 - f8, cv2.DIST_L2, 3)
    reach = 3 * band
    f_sample = ((dist_in > band) & (dist_in <= band + reach)).astype(np.float32)
    b_sample = ((dist_out > band) & (dist_out <= band + reach)).astype(np.float32)
    r = 2 * band + reach
    nf, nb = _box(f_sample, r), _box(b_sample, r)
    mf = np.stack([_box(img[..., c] * f_sample, r) for c in range(3)], -1) / np.maximum(nf, 1)[..., None]
    mb = np.stack([_box(img[..., c] * b_sample, r) for c in range(3)], -1) / np.maximum(nb, 1)[..., None]
    vf = sum(_box((img[..., c] - mf[..., c]) ** 2 * f_sample, r) for c in range(3)) / np.maximum(nf, 1)
    vb = sum(_box((img[..., c] - mb[..., c]) ** 2 * b_sample, r) for c in range(3)) / np.maximum(nb, 1)
    d = mf - mb
    dd = (d * d).sum(-1)
    est = ((img - mb) * d).sum(-1) / np.maximum(dd, 1e-6)
    est = np.clip(est, 0.0, 1.0)
    contrast = np.sqrt(dd) / (np.sqrt(np.maximum(vf + vb, 0.0)) + 0.02)
    missing = (nf < 1) | (nb < 1)
    est[missing] = fg[missing]
    contrast[missing] = 0.0
    return est.astype(np.float32), contrast.astype(np.float32)


class Matter(Protocol):
    """What matte_from_mask asks of a matter: a soft alpha from an image and its trimap."""

    def refine(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray: ...


def adaptive_trimap(image: np.ndarray, mask: np.ndarray, soft: np.ndarray | None = None, band: int | None = None,
                    max_scale: float = 4.0, evidence: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Trimap (0/128/255) from a mask whose unknown band adapts to the edge; see the module doc."""
    a = to_alpha(mask)
    fg = a >= 0.5
    h, w = fg.shape
    trimap = np.where(fg, FOREGROUND, BACKGROUND).astype(np.uint8)
    if not fg.any() or fg.all():
        return trimap
    band = band or default_band(h, w)
    thin = max(1, band // 3)
    est, contrast = evidence if evidence is not None else colour_alpha(image, fg, band)
    f8 = fg.astype(np.uint8)
    dist_in = cv2.distanceTransform(f8, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(1 - f8, cv2.DIST_L2, 3)
    dist = np.where(fg, dist_in, dist_out)
    reach = dist <= band * max_scale
    reliable = contrast > RELIABLE
    fractional = (est > 0.1) & (est < 0.9)
    disagrees = np.where(fg, est < 0.5, est > 0.5)
    evident = reach & reliable & (fractional | disagrees)
    # isolated specks of evidence are noise; thin strands (hair) that reach the edge are kept
    unknown = _drop_specks(evident | (dist <= thin), min_area=max(4, int(SPECK * band)))
    unknown |= dist <= thin
    if soft is not None:
        s = to_alpha(soft)
        unknown |= (s > 0.02) & (s < 0.98)
    unknown = keep_cores(unknown, ~fg, dist_out)
    unknown = keep_cores(unknown, fg, dist_in)
    trimap[unknown] = UNKNOWN
    return trimap




def _drop_specks(region: np.ndarray, min_area: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    if n <= 1:
        return region
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    result: np.ndarray = keep[labels]
    return result


def guard(matte: np.ndarray, mask: np.ndarray, evidence: tuple[np.ndarray, np.ndarray], radius: int = 2, slack: float = 0.1,
          min_contrast: float = 1.0) -> np.ndarray:
    """Keep the mask where the matte is not more plausible: where the colours tell the two sides
    apart and, over a small neighbourhood, the matte strays from the colour-line estimate by more
    than `slack` beyond the mask's own error, the mask's edge is kept (softly blended, no seams)."""
    m = to_alpha(mask)
    est, contrast = evidence
    k = 2 * radius + 1
    err_matte = cv2.blur(np.abs(matte - est), (k, k))
    err_mask = cv2.blur(np.abs(m - est), (k, k))
    revert = (err_matte > err_mask + slack) & (contrast > min_contrast)
    keep = 1.0 - cv2.blur(revert.astype(np.float32), (k, k))
    result: np.ndarray = (keep * matte + (1.0 - keep) * m).astype(np.float32)
    return result


def matte_from_mask(image: np.ndarray, mask: np.ndarray, matter: Matter,
                    soft: np.ndarray | None = None, band: int | None = None,
                    use_guard: bool = True) -> np.ndarray:
    """Soft alpha (HxW float32) for `mask` on `image`: adaptive trimap, `matter`, guard."""
    image = np.ascontiguousarray(image[..., :3])
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image.astype(np.float32) * (255.0 if image.dtype.kind == "f" else 255.0 / 65535)),
                        0, 255).astype(np.uint8)
    m = to_alpha(mask)
    fg = m >= 0.5
    if not fg.any() or fg.all():
        return fg.astype(np.float32)
    h, w = fg.shape
    band = band or default_band(h, w)
    evidence = colour_alpha(image, fg, band)
    trimap = adaptive_trimap(image, m, soft, band, evidence=evidence)
    matte = np.asarray(matter.refine(image, trimap), np.float32)
    if not use_guard:
        return matte
    return guard(matte, fg.astype(np.float32), evidence)


def smooth_alphas(alphas: list[np.ndarray], masks: list[np.ndarray] | None = None,
                  radius: int = 2, threshold: float = 0.2) -> list[np.ndarray]:
    """Each frame's matte blended with its neighbours' where they agree (core.refine.temporal_smooth)."""
    from roto_studio.core.refine import temporal_smooth

    out = []
    for i, a in enumerate(alphas):
        near = {o: alphas[i + o] for o in range(-radius, radius + 1) if o and 0 <= i + o < len(alphas)}
        out.append(temporal_smooth(a, near, threshold, radius=radius))
    return out
