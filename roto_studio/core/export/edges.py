"""Foreground colour in soft edges for cut-outs.

Where a matte is partial, the plate's colour mixes the object with what is behind it; written as
is, a cut-out comps with a dark or light fringe. pymatting's multilevel foreground estimation
recovers the object's own colour there. Only pixels with a partial alpha change (those with alpha
0 or 1 keep the plate's values bit for bit), and only the box around them is solved.
"""

from __future__ import annotations

import numpy as np

SOFT_LO, SOFT_HI = 1.0 / 512, 1.0 - 1.0 / 512


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray, margin: int = 8) -> np.ndarray:
    """rgb (HxWx3 uint8 / uint16 / float) with the colour of partial-alpha pixels replaced by the
    estimated foreground colour; a new array of the same dtype (the input is returned when no pixel
    is partial)."""
    a = np.asarray(alpha, np.float32)
    soft = (a > SOFT_LO) & (a < SOFT_HI)
    if not soft.any():
        return rgb
    import pymatting

    ys, xs = np.flatnonzero(soft.any(axis=1)), np.flatnonzero(soft.any(axis=0))
    h, w = a.shape
    y0, y1 = max(0, ys[0] - margin), min(h, ys[-1] + 1 + margin)
    x0, x1 = max(0, xs[0] - margin), min(w, xs[-1] + 1 + margin)
    crop = np.asarray(rgb[y0:y1, x0:x1, :3])
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(crop.dtype, 1.0)
    image = crop.astype(np.float64) / scale
    fg = pymatting.estimate_foreground_ml(image, a[y0:y1, x0:x1].astype(np.float64))
    out = np.array(rgb, copy=True)
    region = soft[y0:y1, x0:x1]
    values = fg[region] * scale
    if out.dtype.kind in "ui":
        values = np.clip(np.rint(values), 0, scale)
    out[y0:y1, x0:x1, :3][region] = values.astype(out.dtype)
    return out
