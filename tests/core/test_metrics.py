import math

import numpy as np
import pytest

from roto_studio.core.metrics import (boundary_f, boundary_map, boundary_tolerance, davis_scores,
                                      iou)


def square(h=100, w=120, y0=20, x0=30, size=40):
    m = np.zeros((h, w), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_iou_identical_and_disjoint_and_empty():
    m = square()
    assert iou(m, m) == 1.0
    assert iou(m, square(x0=75)) == 0.0
    empty = np.zeros_like(m)
    assert iou(empty, empty) == 1.0
    assert iou(m, empty) == 0.0


def test_iou_half_overlap_and_input_types():
    a = square(size=40)
    b = square(x0=50, size=40)  # 20 of 40 columns shared
    assert iou(a, b) == pytest.approx(800 / 2400)
    # 0/255 uint8 and soft float alpha binarise the same way
    assert iou(a.astype(np.uint8) * 255, (b * 0.9).astype(np.float32)) == pytest.approx(800 / 2400)
    assert iou(a, (b * 0.4).astype(np.float32)) == 0.0  # 0.4 is below the 0.5 cut


def test_boundary_map_marks_pixels_that_differ_from_right_lower_neighbours():
    m = square(h=10, w=10, y0=3, x0=3, size=4)  # rows/cols 3..6
    b = boundary_map(m)
    # inside pixels next to the right / lower edge, outside pixels before the left / upper edge
    assert b[3, 6] and b[6, 3] and b[2, 4] and b[4, 2]
    assert b[2, 2]  # lower-right neighbour (3, 3) differs
    assert not b[4, 4] and not b[0, 0] and not b[9, 9]
    assert not boundary_map(np.ones((5, 5), bool)).any()


def test_boundary_tolerance_davis_480p():
    assert boundary_tolerance((480, 854)) == math.ceil(0.008 * math.hypot(480, 854)) == 8


def test_boundary_f_known_shifts():
    m = square(h=480, w=854, y0=100, x0=100, size=200)
    assert boundary_f(m, m) == 1.0
    # a shift within the tolerance (8 px) keeps F at 1, a large one brings it to 0
    assert boundary_f(np.roll(m, 5, axis=1), m) == 1.0
    assert boundary_f(np.roll(m, 400, axis=1), m) == 0.0
    # shifted by 20 px: only the top and bottom edges (minus 20 + 8 px of their ends) match
    f = boundary_f(np.roll(m, 20, axis=1), m)
    assert 0.3 < f < 0.6
    empty = np.zeros_like(m)
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(empty, m) == 0.0


def test_davis_scores_drop_first_and_last_frames():
    gt = [square() for _ in range(5)]
    wrong = np.zeros_like(gt[0])
    preds = [wrong, gt[1], gt[2], gt[3], wrong]  # only the scored frames are right
    s = davis_scores(preds, gt)
    assert s["J"] == 1.0 and s["F"] == 1.0 and s["JF"] == 1.0 and len(s["J_frames"]) == 3
    preds[2] = wrong
    s = davis_scores(preds, gt)
    assert s["J"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        davis_scores(preds[:3], gt)
