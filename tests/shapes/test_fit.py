"""ops.shapes on drawn mattes: corners stay corners, holes are holes, the tolerance holds (checked
by rasterising with cv2's own polygon fill), carried anchors keep their order along the outline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roto_studio.ops.shapes.animate import key_error
from roto_studio.ops.shapes.carry import in_order
from roto_studio.ops.shapes.fit import contours, fit_alpha
from roto_studio.ops.shapes.model import path_data


def test_rectangle_keeps_its_four_corners():
    a = np.zeros((120, 160), np.float32)
    a[30:90, 40:130] = 1.0
    (c, key, _), = fit_alpha(a)
    corners = {(x, y) for x, y in np.round(key.points).astype(int)}
    assert {(40, 30), (130, 30), (130, 90), (40, 90)} <= {(x + dx, y + dy) for x, y in corners
                                                          for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    assert len(key) <= 8
    tin, tout = key.tin, key.tout
    cos = np.sum(-tin * tout, 1) / (np.linalg.norm(tin, axis=1) * np.linalg.norm(tout, axis=1))
    assert np.count_nonzero(cos < 0.3) >= 4  # broken tangents at the corners


def test_disc_with_hole_within_tolerance():
    a = np.zeros((200, 240), np.float32)
    cv2.circle(a, (120, 100), 70, 1.0, -1)
    cv2.circle(a, (130, 90), 25, 0.0, -1)
    fitted = fit_alpha(a, tol=1.0)
    assert sorted(c.hole for c, _, _ in fitted) == [False, True]
    for c, key, _ in fitted:
        p95, worst = key_error(key, c.points)
        assert worst <= 1.0 + 0.05
    # the curves cover the matte: rasterised by resvg (an independent renderer) from the SVG path
    resvg_py = pytest.importorskip("resvg_py")
    d = " ".join(path_data(k) for _, k, _ in fitted)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="240" height="200" viewBox="0 0 240 200">'
           f'<path fill="#fff" fill-rule="evenodd" d="{d}"/></svg>')
    img = cv2.imdecode(np.frombuffer(bytes(resvg_py.svg_to_bytes(svg_string=svg)), np.uint8), cv2.IMREAD_UNCHANGED)
    drawn, truth = img[..., 3] >= 128, a >= 0.5
    assert np.count_nonzero(drawn & truth) / np.count_nonzero(drawn | truth) > 0.98


def test_point_budget_and_looser_tolerance_use_fewer_points():
    a = np.zeros((200, 240), np.float32)
    pts = np.array([[40, 40], [200, 60], [180, 170], [120, 120], [60, 180]], np.int32)
    cv2.fillPoly(a, [pts], 1.0)
    a = cv2.GaussianBlur(a, (0, 0), 3)
    tight = sum(len(k) for _, k, _ in fit_alpha(a, tol=0.3))
    loose = sum(len(k) for _, k, _ in fit_alpha(a, tol=3.0))
    capped = sum(len(k) for _, k, _ in fit_alpha(a, tol=0.3, max_points=6))
    assert loose < tight and capped <= 6


def test_carried_anchors_are_put_back_in_order():
    a = np.zeros((200, 200), np.float32)
    cv2.circle(a, (100, 100), 60, 1.0, -1)
    outline = contours(a)[0].points
    m = len(outline)
    idx = np.linspace(0, m, 12, endpoint=False).astype(int)
    moved = outline[idx].copy()
    moved[[4, 5]] = moved[[5, 4]]  # two anchors swapped by a bad flow
    _, near = __import__("scipy.spatial", fromlist=["cKDTree"]).cKDTree(outline).query(moved)
    fixed = in_order(outline, moved, np.asarray(near))
    assert fixed is not None
    steps = (np.roll(fixed, -1) - fixed) % m
    assert np.all(steps > 0) and steps.sum() == m  # once round, in order
