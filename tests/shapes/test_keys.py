"""Key reduction (ops.shapes.animate.thin_keys, the key tolerance): a disc gliding and an ellipse
growing and turning over many frames keep a handful of keys, and every frame between them, as
the interpolation plays it, stays within the key tolerance of that frame's matte."""

from __future__ import annotations

import cv2
import numpy as np

from roto_studio.ops.shapes.animate import WORST, key_error, track_object
from roto_studio.ops.shapes.fit import contours

W, H, N = 200, 140, 24


def disc(i: int) -> np.ndarray:
    a = np.zeros((H, W), np.float32)
    cv2.circle(a, (50 + 4 * i, 70), 30, 1.0, -1, lineType=cv2.LINE_AA)
    return cv2.GaussianBlur(a, (0, 0), 1.0)


def ellipse(i: int) -> np.ndarray:
    a = np.zeros((H, W), np.float32)
    cv2.ellipse(a, (100, 70), (36 + i // 2, 22), 2 * i, 0, 360, 1.0, -1, lineType=cv2.LINE_AA)
    return cv2.GaussianBlur(a, (0, 0), 1.0)


def plate(alpha: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(5)
    bg = cv2.GaussianBlur(rng.integers(20, 120, (H, W, 3)).astype(np.uint8), (0, 0), 1.0).astype(np.float32)
    return (bg * (1 - alpha[..., None]) + np.array([230, 180, 60], np.float32) * alpha[..., None]).astype(np.uint8)


def _check(matte, key_tolerance: float, most_keys: int, most_shapes: int) -> None:
    obj = track_object(matte, range(N), lambda f: plate(matte(f)), 1.0, key_tolerance=key_tolerance)
    assert len(obj.shapes) <= most_shapes, [(s.first, s.last) for s in obj.shapes]
    assert len(obj.key_frames()) <= most_keys, obj.key_frames()
    for f in range(N):
        (shape, key), = obj.at(f)
        p95, worst = key_error(key, contours(matte(f))[0].points)
        assert p95 <= key_tolerance and worst <= WORST * key_tolerance, (f, p95, worst)


def test_gliding_disc_keeps_a_handful_of_keys_within_the_key_tolerance():
    _check(disc, 2.0, 3, 1)


def test_growing_turning_ellipse_keeps_few_keys_within_the_key_tolerance():
    _check(ellipse, 2.0, 6, 2)


def test_a_tighter_key_tolerance_keeps_more_keys():
    loose = track_object(ellipse, range(N), None, 1.0, key_tolerance=3.0)
    tight = track_object(ellipse, range(N), None, 1.0, key_tolerance=1.0)
    count = [sum(len(s.keys) for s in o.shapes) for o in (loose, tight)]
    assert count[0] < count[1], count
