"""Leak and drift flags (core.leaks, ops.leak_check) on generated shots: a disc whose mask slowly
swallows a same-coloured "reflection", a mask that moves onto a background colour, and the
quiet cases (a clean track, a shape that changes on every frame) that must not be flagged."""

from __future__ import annotations

import numpy as np
import pytest

from roto_studio.core.leaks import KeyModel, flag_run, measure
from roto_studio.ops.leak_check import leak_frames

H, W, N = 96, 160, 14
YY, XX = np.mgrid[0:H, 0:W]


def _background(seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(np.array([70, 110, 90], np.float32) + rng.normal(0, 8, (H, W, 3)), 0, 255)


def _disc(i, r=16.0):
    return ((XX - (40 + 4 * i)) ** 2 + (YY - 40) ** 2 <= r * r)


def _reflection(i, grow):
    cx = 40 + 4 * i
    return ((XX - cx) / 14.0) ** 2 + ((YY - (40 + 16 + 3 * grow)) / (3.0 * grow + 1)) ** 2 <= 1


class Store:
    def __init__(self):
        self.m = {}

    def get(self, oid, f):
        return self.m.get((oid, f))


class Frames:
    def __init__(self, images):
        self.images = images

    def read(self, f):
        return self.images[f]


def _shot(leak_from=None):
    """Images and masks: the disc moves right; from `leak_from` a dark red reflection grows under
    it and the mask takes it in."""
    bg = _background()
    images, store = {}, Store()
    for i in range(N):
        img = bg.copy()
        d = _disc(i)
        img[d] = (200, 50, 45)
        mask = d.copy()
        if leak_from is not None and i >= leak_from:
            r = _reflection(i, min(i - leak_from + 1, 4)) & ~d
            img[r] = (150, 45, 45)
            mask |= r
        images[i] = img.astype(np.uint8)
        store.m[("o", i)] = mask.astype(np.float32)
    return images, store


def test_a_mask_swallowing_a_reflection_is_flagged_where_it_does():
    images, store = _shot(leak_from=9)
    flags = leak_frames(store, Frames(images), "o", range(1, N), list(range(N)), [0])
    assert sorted(flags) == list(range(9, N))
    assert "outside the object's outline on its key frame" in flags[10]


def test_a_clean_track_is_not_flagged():
    images, store = _shot(leak_from=None)
    assert leak_frames(store, Frames(images), "o", range(1, N), list(range(N)), [0]) == {}


def test_the_key_frame_is_the_one_propagated_from():
    """Propagated backward from the last frame (its mask leaked there): the leaky frames are the
    key's own look, so nothing is flagged; propagated forward from frame 0 they are."""
    images, store = _shot(leak_from=9)
    back = leak_frames(store, Frames(images), "o", range(N - 2, -1, -1), list(range(N)), [N - 1])
    assert not set(back) & set(range(9, N - 1))
    fwd = leak_frames(store, Frames(images), "o", range(1, N), list(range(N)), [0])
    assert set(range(9, N)) <= set(fwd)


def test_an_object_that_changes_shape_all_the_time_is_judged_against_its_own_change():
    """A blob that breathes (its outline 10-25% off the key's on every frame) is not flagged; the
    one frame where it also spreads much further is."""
    bg = _background()
    key_img = bg.copy()
    key = _disc(0, 16)
    key_img[key] = (200, 50, 45)
    model = KeyModel(key_img.astype(np.uint8), key.astype(np.float32))
    checks = []
    for i in range(1, N):
        m = ((XX - 40) / (22 + 6 * (i % 2))) ** 2 + ((YY - 40) / 16.0) ** 2 <= 1
        if i == 7:
            m |= ((XX - 40) / 20.0) ** 2 + ((YY - 74) / 21.0) ** 2 <= 1
        img = bg.copy()
        img[m] = (200, 50, 45)
        checks.append(measure(model, img.astype(np.uint8), m.astype(np.float32), None, i))
    assert max(c.spread for c in checks if c.frame != 7) > 0.03  # it does change shape
    assert sorted(flag_run(checks)) == [7]


def test_a_mask_moving_onto_background_colours_is_flagged_by_colour():
    """The mask takes in a strip of the yellow wall that lay beside the object on the key frame,
    too little (2% of it) for the outline rule: its colour flags it."""
    bg = _background()
    bg[:, 60:] = (220, 200, 60)  # a wall beside the disc
    images, store = {}, Store()
    for i in range(N):
        img = bg.copy()
        d = ((XX - 40) ** 2 + (YY - 48) ** 2 <= 18 ** 2)
        img[d] = (200, 50, 45)
        mask = d.copy()
        if i == 8:
            mask |= (XX >= 60) & (XX < 62) & (YY >= 36) & (YY < 60)
        images[i] = img.astype(np.uint8)
        store.m[("o", i)] = mask.astype(np.float32)
    flags = leak_frames(store, Frames(images), "o", range(1, N), list(range(N)), [0])
    assert sorted(flags) == [8]
    assert "coloured like the background" in flags[8]


def test_an_empty_key_mask_is_skipped():
    images, store = _shot()
    store.m[("o", 0)] = np.zeros((H, W), np.float32)
    assert leak_frames(store, Frames(images), "o", range(1, N), list(range(N)), [0]) == {}
    with pytest.raises(ValueError):
        KeyModel(images[0], np.zeros((H, W), np.float32))
