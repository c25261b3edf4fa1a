"""Non-destructive edge settings: stored per object (ObjectInfo.refine), applied on display/export.

Settings (every default means "no change"):
  grow          px, >0 grows the matte, <0 shrinks it (soft grey-level dilate / erode)
  feather       px, softens the edge (Gaussian blur, sigma = feather / 2)
  smooth        px, rounds jagged contours and fills small notches while keeping the edge hard
  fill_holes    px area; enclosed background holes up to this size become solid (0 = off)
  remove_specks px area; detached foreground specks smaller than this are removed (0 = off)
  temporal      frames each side for temporal smoothing (0 = off)
  temporal_threshold  alpha change (0..1, measured on a blurred matte) above which a neighbour is
                treated as real motion and not blended (keeps moving edges sharp)
  shutter_angle degrees the shutter is open per frame (0 = off, 180 = common film): the matte and
                render stages smear the matte along the object's motion (ops.motion_blur); it
                needs the neighbouring plates, so the per-frame display here leaves it out

Order: temporal -> fill holes -> remove specks -> grow/shrink -> smooth -> feather.
Pure numpy / OpenCV: no Qt, no torch.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import cv2
import numpy as np

DEFAULTS: dict[str, Any] = {
    "grow": 0,
    "feather": 0.0,
    "smooth": 0.0,
    "fill_holes": 0,
    "remove_specks": 0,
    "temporal": 0,
    "temporal_threshold": 0.2,
    "shutter_angle": 0.0,
}

# Limits that keep a slider or a hand-edited project file from asking for absurd work.
_LIMITS = {
    "grow": (-200, 200),
    "feather": (0.0, 200.0),
    "smooth": (0.0, 100.0),
    "fill_holes": (0, 10**9),
    "remove_specks": (0, 10**9),
    "temporal": (0, 8),
    "temporal_threshold": (0.01, 1.0),
    "shutter_angle": (0.0, 360.0),
}


def normalize(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Full settings dict from a partial / stored one: unknown keys dropped, values clamped."""
    out = dict(DEFAULTS)
    for key, value in (settings or {}).items():
        if key not in DEFAULTS:
            continue
        if isinstance(value, bool):  # fill_holes=True means "every enclosed hole"
            value = _LIMITS[key][1] if value else 0
        try:
            value = type(DEFAULTS[key])(value)
        except (TypeError, ValueError):
            continue
        if value != value:  # NaN
            continue
        lo, hi = _LIMITS[key]
        out[key] = min(max(value, lo), hi)
    return out


def is_identity(settings: Mapping[str, Any] | None) -> bool:
    """True when the settings change nothing."""
    s = normalize(settings)
    return all(s[k] == DEFAULTS[k] for k in DEFAULTS if k not in ("temporal_threshold", "shutter_angle"))


def changed(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the settings that differ from the defaults (what is worth storing in a project)."""
    s = normalize(settings)
    return {k: v for k, v in s.items() if v != DEFAULTS[k]}


# -- single operations (alpha: HxW float32 0..1)

def as_alpha(mask: np.ndarray) -> np.ndarray:
    a = np.asarray(mask)
    if a.dtype == bool:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return np.clip(a.astype(np.float32, copy=False), 0.0, 1.0)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def grow(alpha: np.ndarray, px: int) -> np.ndarray:
    """Grey-level dilate (px > 0) or erode (px < 0) with a disk; the soft edge profile is kept."""
    px = int(px)
    if px == 0:
        return alpha
    op = cv2.dilate if px > 0 else cv2.erode
    return op(alpha, _disk(abs(px)), borderType=cv2.BORDER_REPLICATE)


def feather(alpha: np.ndarray, px: float) -> np.ndarray:
    if px <= 0:
        return alpha
    sigma = px / 2.0
    return cv2.GaussianBlur(alpha, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def smooth(alpha: np.ndarray, px: float) -> np.ndarray:
    """Blur the shape, then restore the edge steepness: jaggies and small notches go, edge stays hard."""
    if px <= 0:
        return alpha
    blurred = cv2.GaussianBlur(alpha, (0, 0), px, borderType=cv2.BORDER_REPLICATE)
    # a blurred step has slope 1/(sqrt(2 pi) sigma) at 0.5; bring it back to about 0.5 per px
    gain = max(1.0, 1.25 * px)
    result: np.ndarray = np.clip((blurred - 0.5) * gain + 0.5, 0.0, 1.0)
    return result


def fill_holes(alpha: np.ndarray, max_area: int) -> np.ndarray:
    """Background regions enclosed by the matte (not touching the frame border) up to max_area px
    become foreground."""
    if max_area <= 0:
        return alpha
    background = (alpha < 0.5).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    if n <= 1:
        return alpha
    h, w = alpha.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    touches = (x == 0) | (y == 0) | (x + bw >= w) | (y + bh >= h)
    fill = (~touches) & (area <= max_area)
    fill[0] = False  # label 0 is the foreground here
    if not fill.any():
        return alpha
    holes = fill[labels]
    # include the soft rim of each hole so no grey ring is left
    holes = cv2.dilate(holes.astype(np.uint8), _disk(1)).astype(bool) & (alpha < 1.0)
    out: np.ndarray = alpha.copy()
    out[holes] = 1.0
    return out


def remove_specks(alpha: np.ndarray, min_area: int) -> np.ndarray:
    """Detached foreground pieces (with their soft rim) whose alpha sum is below min_area vanish."""
    if min_area <= 0:
        return alpha
    support = (alpha > 0.02).astype(np.uint8)
    n, labels = cv2.connectedComponents(support, connectivity=8)
    if n <= 1:
        return alpha
    mass = np.bincount(labels.ravel(), weights=alpha.ravel().astype(np.float64), minlength=n)
    drop = mass < min_area
    drop[0] = False
    if not drop.any():
        return alpha
    out: np.ndarray = alpha.copy()
    out[drop[labels]] = 0.0
    return out


# {frame offset: alpha} or a sequence of alphas (see temporal_smooth); a None alpha is skipped
Neighbours = Mapping[int, "np.ndarray | None"] | Sequence["np.ndarray | None"] | None


def temporal_smooth(alpha: np.ndarray, neighbours: Neighbours, threshold: float = 0.2,
                    radius: int | None = None) -> np.ndarray:
    """Blend the matte with nearby frames' mattes where they agree (still edges lose their chatter);
    where a neighbour differs on a blurred scale (real motion) it gets no weight (no smear).

    neighbours: {frame offset: alpha} or a sequence of alphas (offset unknown, weight as offset 1).
    radius: the window the Gaussian weights in time are scaled for (default: the largest offset).
    """
    items = _neighbour_items(neighbours)
    if not items:
        return alpha
    radius = radius or max(abs(o) for o, _ in items)
    sigma_t = max(1.0, radius * 1.5)  # nearly even weights over the window
    tau = max(float(threshold), 1e-3)
    # compare on a blurred scale so pixel noise (chatter) does not look like motion
    def blur(a: np.ndarray) -> np.ndarray:
        out: np.ndarray = cv2.GaussianBlur(a, (0, 0), 2.5, borderType=cv2.BORDER_REPLICATE)
        return out

    base = blur(alpha)
    total = alpha.astype(np.float32).copy()
    weight = np.ones_like(alpha, dtype=np.float32)
    for offset, other in items:
        if other.shape != alpha.shape:
            continue
        diff = np.abs(blur(other) - base)
        w = np.exp(-0.5 * (offset / sigma_t) ** 2) * np.exp(-((diff / tau) ** 2))
        # beyond twice the threshold it is motion: no weight at all
        w[diff > 2 * tau] = 0.0
        w = w.astype(np.float32)
        total += w * other
        weight += w
    result: np.ndarray = np.clip(total / weight, 0.0, 1.0)
    return result


def _neighbour_items(neighbours: Neighbours) -> list[tuple[int, np.ndarray]]:
    if neighbours is None:
        return []
    pairs = list(neighbours.items()) if isinstance(neighbours, Mapping) else [(1, a) for a in neighbours]
    return [(int(o), as_alpha(a)) for o, a in pairs if a is not None and int(o) != 0]


def apply_refine(alpha: np.ndarray, settings: Mapping[str, Any] | None, neighbours: Neighbours = None) -> np.ndarray:
    """The refined matte: HxW float32 0..1. `neighbours` (see temporal_smooth) is used only when
    settings['temporal'] > 0. The input is never modified."""
    s = normalize(settings)
    a = as_alpha(alpha)
    if is_identity(s):
        return a.copy() if a is alpha else a
    if s["temporal"] > 0 and neighbours is not None:
        items = [(o, n) for o, n in _neighbour_items(neighbours) if abs(o) <= s["temporal"]]
        a = temporal_smooth(a, dict(items), s["temporal_threshold"], radius=s["temporal"])
    a = fill_holes(a, s["fill_holes"])
    a = remove_specks(a, s["remove_specks"])
    a = grow(a, s["grow"])
    a = smooth(a, s["smooth"])
    a = feather(a, s["feather"])
    out = np.ascontiguousarray(a, dtype=np.float32)
    return out.copy() if out is alpha else out


def neighbours_from_store(store: Any, obj_id: str, frame: int, radius: int,
                          frames: Sequence[int] | None = None) -> dict[int, np.ndarray]:
    """{offset: alpha} of the stored masks within `radius` frames of `frame` (missing ones skipped)."""
    out: dict[int, np.ndarray] = {}
    if radius <= 0:
        return out
    for off in range(-radius, radius + 1):
        if off == 0:
            continue
        f = frame + off
        if frames is not None and f not in frames:
            continue
        a = store.get(obj_id, f)
        if a is not None:
            out[off] = a
    return out


def final_alpha_from_store(store: Any, obj_id: str, frame: int, settings: Mapping[str, Any] | None) -> np.ndarray | None:
    """Stored mask with `settings` applied, reading neighbours from the same store for temporal."""
    alpha: np.ndarray | None = store.get(obj_id, frame)
    if alpha is None:
        return None
    s = normalize(settings)
    if is_identity(s):
        return alpha
    neighbours = neighbours_from_store(store, obj_id, frame, s["temporal"]) if s["temporal"] else None
    return apply_refine(alpha, s, neighbours)


def final_alpha(project: Any, obj_id: str, frame: int) -> np.ndarray | None:
    """What Project.final_alpha returns: the object's stored mask with its edge settings applied."""
    obj = project.object(obj_id)
    return final_alpha_from_store(project.masks, obj_id, frame, getattr(obj, "refine", None))


# -- GUI hook: preview a settings change on one frame without touching the project
def preview(project: Any, obj_id: str, frame: int, settings: Mapping[str, Any] | None) -> np.ndarray | None:
    return final_alpha_from_store(project.masks, obj_id, frame, settings)
