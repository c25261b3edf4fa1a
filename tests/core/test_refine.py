"""Edge refinement settings and trimaps."""

import numpy as np
import pytest

from roto_studio.core import refine
from roto_studio.core.trimap import BACKGROUND, FOREGROUND, UNKNOWN, edge_complexity, make_trimap


def disk(h=100, w=120, cy=50, cx=60, r=30):
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.float32)


def test_defaults_change_nothing_and_input_untouched():
    a = disk()
    a[10, 10] = 0.5
    before = a.copy()
    out = refine.apply_refine(a, {})
    assert out.dtype == np.float32 and out.shape == a.shape
    np.testing.assert_array_equal(out, before)
    out[0, 0] = 0.7
    np.testing.assert_array_equal(a, before)  # a copy, never the stored array
    assert refine.is_identity({}) and refine.is_identity(None)
    assert not refine.is_identity({"grow": 2})


def test_normalize_clamps_and_drops_unknown_keys():
    s = refine.normalize({"grow": 10_000, "feather": -3, "bogus": 1, "temporal": "2", "smooth": float("nan")})
    assert s["grow"] == 200 and s["feather"] == 0.0 and s["temporal"] == 2 and s["smooth"] == 0.0
    assert "bogus" not in s
    assert refine.changed({"grow": 3, "feather": 0}) == {"grow": 3}
    assert refine.normalize({"fill_holes": True})["fill_holes"] > 10**6


def test_grow_grows_and_shrink_shrinks():
    a = disk()
    area = a.sum()
    grown = refine.apply_refine(a, {"grow": 4})
    shrunk = refine.apply_refine(a, {"grow": -4})
    assert grown.sum() > area + 2 * np.pi * 30 * 3  # about 2*pi*r*4 more
    assert shrunk.sum() < area - 2 * np.pi * 26 * 3
    assert np.all(grown >= a) and np.all(shrunk <= a)


def test_feather_softens_edge_keeps_mass():
    a = disk()
    f = refine.apply_refine(a, {"feather": 6})
    soft = lambda x: ((x > 0.02) & (x < 0.98)).sum()  # noqa: E731
    assert soft(a) == 0 and soft(f) > 3 * 2 * np.pi * 30
    assert abs(f.sum() - a.sum()) < 0.02 * a.sum()
    # maximum step between neighbours drops: the edge is gentler
    assert np.abs(np.diff(f, axis=1)).max() < 0.5 * np.abs(np.diff(a, axis=1)).max()


def test_smooth_removes_jaggies_but_keeps_edge_hard():
    a = disk(r=30)
    a[20:80:4, 88:92] = 1.0  # thin spikes sticking out of the right edge
    a[48:52, 32:36] = 0.0  # small notch inside the left edge
    s = refine.apply_refine(a, {"smooth": 3})
    assert s[20:80:4, 91].max() < 0.2  # spikes gone
    assert s[48:52, 34:36].min() > 0.9  # notch closed
    soft = ((s > 0.05) & (s < 0.95)).sum()
    assert soft < 4 * 2 * np.pi * 30  # still a hard-ish edge, not a feather


def test_fill_holes_fills_small_enclosed_holes_only():
    a = disk(r=35)
    a[45:50, 55:60] = 0  # 25 px hole
    a[20:40, 45:75] = 0  # 600 px hole
    out = refine.apply_refine(a, {"fill_holes": 100})
    assert out[45:50, 55:60].min() == 1.0
    assert out[25:35, 50:70].max() == 0.0  # larger than the limit: kept
    # a gap open to the frame border is not a hole
    b = np.zeros((50, 50), np.float32)
    b[:, 10:40] = 1
    b[0:20, 20:30] = 0
    np.testing.assert_array_equal(refine.apply_refine(b, {"fill_holes": 10**6}), b)
    assert refine.apply_refine(a, {"fill_holes": True})[25:35, 50:70].min() == 1.0


def test_remove_specks_drops_small_islands_with_their_soft_rim():
    a = disk()
    a[5:8, 5:8] = 1.0  # 9 px speck
    a[4, 4:9] = 0.3  # its soft rim
    a[90:97, 100:110] = 1.0  # 70 px island
    out = refine.apply_refine(a, {"remove_specks": 20})
    assert out[3:10, 3:10].max() == 0.0
    assert out[90:97, 100:110].min() == 1.0
    np.testing.assert_array_equal(out[20:80, 30:90], a[20:80, 30:90])


def chatter_shot(n=12, seed=1, moving=False):
    """A soft-edged disk (static or moving) whose masks chatter: per-frame edge jitter + noise."""
    rng = np.random.default_rng(seed)
    truth, noisy = [], []
    yy, xx = np.mgrid[0:80, 0:100].astype(np.float32)
    for i in range(n):
        cx = 40 + (4 * i if moving else 0)
        d = np.sqrt((yy - 40) ** 2 + (xx - cx) ** 2)
        t = np.clip(25.0 - d + 0.5, 0, 1).astype(np.float32)
        # chatter: the edge radius wobbles per pixel and frame
        wobble = rng.normal(0, 0.8, t.shape).astype(np.float32)
        m = np.clip(25.0 + wobble - d + 0.5, 0, 1).astype(np.float32)
        truth.append(t)
        noisy.append(m)
    return truth, noisy


def run_temporal(noisy, radius=2):
    out = []
    for i in range(len(noisy)):
        nb = {o: noisy[i + o] for o in range(-radius, radius + 1) if o and 0 <= i + o < len(noisy)}
        out.append(refine.apply_refine(noisy[i], {"temporal": radius}, nb))
    return out


def test_temporal_smoothing_reduces_flicker_on_a_static_edge():
    truth, noisy = chatter_shot()
    smooth = run_temporal(noisy)
    flicker = lambda seq: np.mean([np.abs(b - a).mean() for a, b in zip(seq, seq[1:])])  # noqa: E731
    assert flicker(smooth) < 0.6 * flicker(noisy)
    err = lambda seq: np.mean([np.abs(s - t).mean() for s, t in zip(seq, truth)])  # noqa: E731
    assert err(smooth) < err(noisy)


def test_temporal_smoothing_does_not_smear_a_moving_edge():
    truth, noisy = chatter_shot(moving=True)
    smooth = run_temporal(noisy)
    # plain averaging of the window would leave a ghost trail several px wide
    naive = [np.mean([noisy[j] for j in range(max(0, i - 2), min(len(noisy), i + 3))], axis=0)
             for i in range(len(noisy))]
    err = lambda seq: np.mean([np.abs(s - t).mean() for s, t in zip(seq[2:-2], truth[2:-2])])  # noqa: E731
    assert err(smooth) < 0.5 * err(naive)
    assert err(smooth) <= err(noisy) * 1.1
    # without neighbours the temporal setting is a no-op
    np.testing.assert_array_equal(refine.apply_refine(noisy[0], {"temporal": 2}), noisy[0])


def test_order_and_combination_stay_in_range():
    a = disk()
    a[45:50, 55:60] = 0
    out = refine.apply_refine(a, {"fill_holes": 50, "grow": -2, "smooth": 2, "feather": 3})
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.dtype == np.float32
    assert out[47, 57] > 0.95  # hole was filled before shrinking


def test_final_alpha_through_the_project(tmp_path):
    from roto_studio.core.project import create_project

    p = create_project(tmp_path / "shot.roto", tmp_path / "none.mp4")
    obj = p.add_object("ball")
    for f in range(1001, 1006):
        p.masks.set(obj.id, f, disk())
    assert refine.final_alpha(p, obj.id, 999) is None
    np.testing.assert_array_equal(refine.final_alpha(p, obj.id, 1001), disk())
    obj.refine = {"grow": 3, "temporal": 1}
    grown = p.final_alpha(obj.id, 1003)  # the project's display/export path
    assert grown.sum() > disk().sum() + 100
    np.testing.assert_allclose(grown, refine.final_alpha(p, obj.id, 1003))
    # the stored mask itself is untouched (non-destructive)
    np.testing.assert_array_equal(p.masks.get(obj.id, 1003), disk())


# -- trimaps

def test_trimap_band_widths():
    a = disk(r=30)
    t = make_trimap(a, erode=3, dilate=6, adaptive=False)
    assert set(np.unique(t)) == {BACKGROUND, UNKNOWN, FOREGROUND}
    row = t[50]  # horizontal line through the centre: edges at x=30 and x=90
    unk = np.flatnonzero(row == UNKNOWN)
    right = unk[unk > 60]
    assert 88 - 3 <= right.min() <= 88 and 96 - 1 <= right.max() <= 96 + 1
    assert t[50, 60] == FOREGROUND and t[50, 5] == BACKGROUND
    # soft input pixels are always unknown
    b = a.copy()
    b[50, 60] = 0.5
    assert make_trimap(b, 3, 3)[50, 60] == UNKNOWN
    # empty / full masks have no band
    assert (make_trimap(np.zeros((20, 20))) == BACKGROUND).all()
    assert (make_trimap(np.ones((20, 20), bool)) == FOREGROUND).all()


def test_trimap_is_wider_on_complex_edges():
    h, w = 160, 200
    a = np.zeros((h, w), np.float32)
    a[:, :100] = 1  # straight edge at x=100 in the top half...
    rng = np.random.default_rng(0)
    for y in range(80, 160):  # ...ragged "hair" edge in the bottom half
        a[y, 100:100 + int(rng.integers(0, 12))] = 1
        a[y, 100 - int(rng.integers(0, 6)):100] = 0
    cx = edge_complexity(a > 0.5, 21)
    assert cx[120, 95:110].max() > 2 * cx[30, 95:105].max()
    t = make_trimap(a, 4, 4, adaptive=True, max_scale=2.0)
    top = (t[20:60] == UNKNOWN).sum(axis=1).mean()
    bottom_band = (t[100:150] == UNKNOWN).sum(axis=1).mean()
    assert bottom_band > top * 1.6
    flat = make_trimap(a, 4, 4, adaptive=False)
    assert (flat[20:60] == UNKNOWN).sum(axis=1).mean() == pytest.approx(top, abs=1)


def test_trimap_keeps_a_known_core_in_small_gaps():
    a = disk(r=40)
    a[45:56, 55:66] = 0  # an 11x11 gap the 8 px band would swallow whole
    t = make_trimap(a, 8, 8, adaptive=False)
    assert (t[45:56, 55:66] == BACKGROUND).any()
    assert (t[45:56, 55:66] == UNKNOWN).any()
