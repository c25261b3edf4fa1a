"""Motion-blurred mattes: a matte smeared along the object's own motion, as a camera integrates a
moving edge while its shutter is open.

A shutter angle of A degrees keeps the shutter open for A/360 of a frame, centred on the frame.
The object's velocity (px per frame) comes from its neighbours: dense optical flow (DIS) from
this frame to the previous and the next one, read inside the tracked mask, checked against how
the tracked masks themselves moved (their centroids); where the two disagree (flow lost on a
blurred or textureless object) the masks' motion is used. The velocity is then spread outwards
from the object (each pixel takes the velocity of the nearest object pixel), so the ground the
object sweeps over gets its motion. The blurred alpha is the mean of the sharp alpha displaced
to evenly spaced moments of the open shutter. Works on any alpha source and media.

What is smeared is the tracked (sharp) mask. A matte made from a motion-blurred plate has already
caught part of the blur (its band straddles the blurred edge), and smearing it again would blur
twice, so `blur_frame` keeps the matte where the object barely moves and takes the smeared mask
where the smear is long (FULL_SMEAR px or more), blending in between.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from roto_studio.core.masks import to_alpha

MAX_SAMPLES = 48
FULL_SMEAR = 4.0  # px of smear from which the smeared mask replaces the matte
AGREE_PX = 2.0  # flow and mask motion agree when within this many px/frame...
AGREE_SHARE = 0.35  # ...or this share of the mask motion


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.ascontiguousarray(image[..., :3])
    if image.dtype != np.uint8:
        image = (np.clip(image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 1.0), 0, 1)
                 * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _centroid(alpha: np.ndarray) -> np.ndarray | None:
    total = float(alpha.sum())
    if total < 1.0:
        return None
    ys, xs = np.mgrid[0:alpha.shape[0], 0:alpha.shape[1]]
    return np.array([(alpha * xs).sum() / total, (alpha * ys).sum() / total], np.float32)


def object_velocity(image: np.ndarray, alpha, prev_image=None, prev_alpha=None,
                    next_image=None, next_alpha=None) -> np.ndarray:
    """HxWx2 velocity (px per frame, x then y) of the object in `alpha`, spread over the frame."""
    a = to_alpha(alpha)
    h, w = a.shape
    inside = a >= 0.5
    vel = np.zeros((h, w, 2), np.float32)
    if not inside.any():
        return vel
    grey = _grey(image)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flows, shifts = [], []
    c = _centroid(a)
    for other, other_alpha, sign in ((next_image, next_alpha, 1.0), (prev_image, prev_alpha, -1.0)):
        if other is None:
            continue
        flow = dis.calc(grey, _grey(other), None)  # type: ignore[call-overload]  # stubs lack flow=None (OpenCV allocates it)
        flows.append(sign * flow)  # displacement towards +1 frame
        oc = _centroid(to_alpha(other_alpha)) if other_alpha is not None else None
        shifts.append(None if oc is None or c is None else sign * (oc - c))
    if not flows:
        return vel
    flow = np.mean(flows, axis=0)
    known = [s for s in shifts if s is not None]
    if known:
        mask_motion = np.mean(known, axis=0)
        core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        core = core if core.sum() >= 20 else inside
        flow_motion = np.median(flow[core], axis=0)
        gap = float(np.hypot(*(flow_motion - mask_motion)))
        if gap > max(AGREE_PX, AGREE_SHARE * float(np.hypot(*mask_motion))):
            flow = np.broadcast_to(mask_motion, flow.shape).astype(np.float32)  # flow lost the object
    # every pixel takes the velocity of the nearest object pixel
    _, labels = cv2.distanceTransformWithLabels((~inside).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(inside)  # object pixels, row by row: the order the labels count them
    lut = np.zeros((labels.max() + 1, 2), np.float32)
    lut[1:len(ys) + 1] = flow[ys, xs]
    return lut[labels]


def smear(alpha, velocity: np.ndarray, shutter_angle: float, samples: int | None = None) -> np.ndarray:
    """The matte integrated over the open shutter: mean of `alpha` displaced by t * velocity for t
    evenly spread over [-s/2, s/2], s = shutter_angle / 360."""
    a = to_alpha(alpha)
    s = float(shutter_angle) / 360.0
    if s <= 0 or not a.any():
        return a.astype(np.float32)
    speed = float(np.abs(velocity).max()) if velocity.size else 0.0
    n = samples or int(np.clip(np.ceil(speed * s) + 1, 2, MAX_SAMPLES))
    h, w = a.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    acc = np.zeros((h, w), np.float32)
    for k in range(n):
        t = s * ((k + 0.5) / n - 0.5)
        acc += cv2.remap(a, gx - t * velocity[..., 0], gy - t * velocity[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(acc / n, 0.0, 1.0)


def blur_frame(frame: int, shutter_angle: float, read_image: Callable[[int], np.ndarray],
               read_alpha: Callable[[int], np.ndarray | None], alpha=None, frames=None) -> np.ndarray | None:
    """The motion-blurred matte of `frame`: `read_alpha` gives the tracked masks (this frame's and
    its neighbours' `frame - 1`, `frame + 1` where they exist, in `frames`), `alpha` the frame's
    matte when there is one (see the module doc)."""
    a = read_alpha(frame)
    if a is None:
        return None if alpha is None else to_alpha(alpha)
    if shutter_angle <= 0:
        return to_alpha(a if alpha is None else alpha)
    near = {}
    for f in (frame - 1, frame + 1):
        if frames is not None and f not in frames:
            continue
        other = read_alpha(f)
        if other is not None:
            near[f] = (read_image(f), other)
    image = read_image(frame)
    prev, nxt = near.get(frame - 1, (None, None)), near.get(frame + 1, (None, None))
    vel = object_velocity(image, a, prev[0], prev[1], nxt[0], nxt[1])
    smeared = smear((to_alpha(a) >= 0.5).astype(np.float32), vel, shutter_angle)
    if alpha is None:
        return smeared
    length = np.hypot(vel[..., 0], vel[..., 1]) * (shutter_angle / 360.0)
    w = np.clip(length / FULL_SMEAR, 0.0, 1.0).astype(np.float32)
    return (w * smeared + (1.0 - w) * to_alpha(alpha)).astype(np.float32)
