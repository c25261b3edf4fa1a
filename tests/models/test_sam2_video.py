"""SAM 2 video backend: same masks as the stock SAM2VideoPredictor, with bounded memory.

The model is SAM 2.1 tiny from its shipped config with seeded random weights at image size 128
(see sam2_fixtures.make_model). Stock reads the clip from a folder of JPEGs with init_state; ours
reads the same JPEGs lazily through a FrameSource. Outputs are compared exactly (bit for bit on the
soft alpha, hence also on the masks logits > 0): both run the same float32 operations in the same
order, so no tolerance is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sam2_fixtures import (JpegFrames, disc_centre, make_model, memo_backbone, square_box,  # noqa: E402
                           torch, write_clip)

from roto_studio.core.errors import ModelError  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.sam2.video import LazyFrames, Sam2VideoPropagator  # noqa: E402

N = 12  # frames: longer than the attention window (8 with this model), so memory is released


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "jpg", N)


def _stock_run(model, clip, mask_c):
    """The scenario on the stock predictor; returns {step: alpha array (objects, H, W)}."""
    out = {}
    sig = lambda m: torch.sigmoid(m[:, 0]).numpy()  # noqa: E731
    st = model.init_state(str(clip), offload_video_to_cpu=True, offload_state_to_cpu=False)
    with torch.inference_mode():
        _, _, m = model.add_new_points_or_box(st, 0, "a", points=np.array([disc_centre(0)], np.float32),
                                              labels=np.array([1], np.int32))
        out["click a"] = sig(m)[0]
        _, _, m = model.add_new_points_or_box(st, 0, "b", box=np.array(square_box(0), np.float32))
        out["box b"] = sig(m)[1]
        for f, _, m in model.propagate_in_video(st, 0):
            out[("forward", f)] = sig(m)
        # correction on a later frame, far enough back that its memory was released by us
        _, _, m = model.add_new_points_or_box(
            st, 3, "a", points=np.array([disc_centre(3), (5, 5)], np.float32), labels=np.array([1, 0], np.int32))
        out["correct a"] = sig(m)[0]
        for f, _, m in model.propagate_in_video(st, 3, max_frame_num_to_track=4):
            out[("forward again", f)] = sig(m)
        # an object added mid-shot with a mask, tracked backwards
        _, _, m = model.add_new_mask(st, 8, "c", mask_c)
        out["mask c"] = sig(m)[2]
        for f, _, m in model.propagate_in_video(st, 8, reverse=True):
            out[("reverse", f)] = sig(m)
    return out


def _our_run(prop, src, mask_c):
    out = {}
    first = src.frame_numbers[0]
    stack = lambda d: np.stack([d[k] for k in ("a", "b", "c") if k in d])  # noqa: E731
    prop.start(src)
    out["click a"] = prop.add_prompt(first, "a", Prompt(points=[disc_centre(0)], labels=[1]))
    out["box b"] = prop.add_prompt(first, "b", Prompt(box=square_box(0)))
    for f, d in prop.propagate(first):
        out[("forward", f - first)] = stack(d)
    held = prop.memory_frames()
    out["correct a"] = prop.add_prompt(first + 3, "a", Prompt(points=[disc_centre(3), (5, 5)], labels=[1, 0]))
    for f, d in prop.propagate(first + 3, stop=first + 7):
        out[("forward again", f - first)] = stack(d)
    out["mask c"] = prop.add_prompt(first + 8, "c", Prompt(mask=mask_c.astype(np.float32)))
    for f, d in prop.propagate(first + 8, reverse=True):
        out[("reverse", f - first)] = stack(d)
    return out, held


@pytest.mark.slow
def test_same_masks_as_stock_predictor(model, clip):
    stats = memo_backbone(model)
    mask_c = np.zeros((120, 160), bool)
    mask_c[40:80, 60:100] = True
    stock = _stock_run(model, clip, mask_c)
    misses_stock = stats["misses"]

    src = JpegFrames(clip, N)
    prop = Sam2VideoPropagator(model)
    ours, held = _our_run(prop, src, mask_c)

    # our lazy frames are the very tensors stock loaded: every backbone call hit the memo
    assert stats["misses"] == misses_stock == N
    assert ours.keys() == stock.keys()
    assert len([k for k in stock if k[0] == "forward"]) == N
    for key in stock:
        s, o = stock[key], ours[key]
        assert o.dtype == np.float32 and o.shape == s.shape, key
        assert np.array_equal(o, s), f"{key}: max diff {np.abs(o - s).max()}"
        assert np.array_equal(o > 0.5, s > 0.5), key
    # the comparison means something: masks are neither empty nor full and change over time
    fg = [float((stock[("forward", t)][1] > 0.5).mean()) for t in range(N)]
    assert all(0.02 < x < 0.99 for x in fg)
    assert not np.array_equal(stock[("forward", 0)], stock[("forward", 5)])
    assert not np.array_equal(stock[("forward", 5)], stock[("forward again", 5)])  # correction mattered

    # memory was really released: after the first pass only the window behind frame N-1 is held
    w = prop.window
    assert w == 8
    for frames in held.values():
        assert min(frames) >= N - 1 - w and len(frames) <= w + 1
    spills = [d["non_cond_frame_outputs"] for d in prop.state["output_dict_per_obj"].values()]
    assert sum(d.spilled for d in spills) > 0
    assert sum(d.loaded for d in spills) > 0  # the correction read released memory back
    assert len(prop.frames._cache) <= prop.frames.cache_frames
    prop.close()


def test_lazy_frames_match_stock_loader(clip):
    from sam2.utils.misc import load_video_frames

    images, h, w = load_video_frames(str(clip), 64, offload_video_to_cpu=True, compute_device=torch.device("cpu"))
    src = JpegFrames(clip, N)
    lazy = LazyFrames(src, 64, cache_frames=2)
    assert len(lazy) == N and (h, w) == (src.height, src.width)
    for i in (0, 5, N - 1, 5):
        assert torch.equal(lazy[i], images[i])
    assert lazy.decoded == 3 and len(lazy._cache) == 2  # LRU hit on the repeated frame, bounded


def test_objects_remove_reset_and_frame_numbers(model, clip):
    src = JpegFrames(clip, N, first=1001)
    prop = Sam2VideoPropagator(model)
    prop.start(src)
    assert src.reads == 0  # nothing decoded up front
    a = prop.add_prompt(1002, "a", Prompt(points=[disc_centre(1)], labels=[1]))
    assert a.shape == (120, 160) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and 0.0 < (a > 0.5).mean() < 1.0
    assert len(np.unique(a)) > 10  # soft alpha, not a hard threshold
    prop.add_prompt(1003, "b", Prompt(box=square_box(2)))
    frames = [(f, sorted(d)) for f, d in prop.propagate(1003, reverse=True, stop=1001)]
    assert frames == [(1003, ["a", "b"]), (1002, ["a", "b"]), (1001, ["a", "b"])]
    prop.remove_object("a")
    assert prop.object_ids == ["b"]
    frames = [f for f, d in prop.propagate(1003, stop=1004) if list(d) == ["b"]]
    assert frames == [1003, 1004]
    with pytest.raises(ModelError):
        prop.add_prompt(999, "b", Prompt(points=[(1, 1)], labels=[1]))
    with pytest.raises(ValueError):
        next(prop.propagate(1003, stop=1001))
    spill_dir = prop._spill_dir
    prop.reset()
    assert prop.object_ids == []
    prop.close()
    assert not spill_dir.exists()


LONG = 48  # frames: 3x the attention window of the shipped settings


@pytest.mark.slow
def test_shipped_window_long_clip_correction_on_a_spilled_frame(tmp_path):
    """The shipped sam2.1_hiera_t.yaml settings (7 memory frames, 16 object pointers: a window of
    16), a clip 3x that long, and a correction on a frame whose memory was already on disk:
    the same masks as the stock SAM2VideoPredictor used as its README shows."""
    model = make_model(max_obj_ptrs=None)
    assert (model.num_maskmem, model.max_obj_ptrs_in_encoder) == (7, 16)
    clip = write_clip(tmp_path / "jpg", LONG)
    stats = memo_backbone(model)
    sig = lambda m: torch.sigmoid(m[:, 0]).numpy()  # noqa: E731
    fix, again = 5, 4  # corrected after the whole clip was tracked (long out of the window), then 4 frames on
    fix_points = np.array([disc_centre(fix), (5, 5)], np.float32)

    stock = {}
    st = model.init_state(str(clip), offload_video_to_cpu=True)
    with torch.inference_mode():
        model.add_new_points_or_box(st, 0, "a", box=np.array(square_box(0), np.float32))
        for f, _, m in model.propagate_in_video(st, 0):
            stock[("forward", f)] = sig(m)[0]
        _, _, m = model.add_new_points_or_box(st, fix, "a", points=fix_points, labels=np.array([1, 0], np.int32))
        stock["correct"] = sig(m)[0]
        for f, _, m in model.propagate_in_video(st, fix, max_frame_num_to_track=again):
            stock[("again", f)] = sig(m)[0]
    del st

    src = JpegFrames(clip, LONG, first=1)
    prop = Sam2VideoPropagator(model)
    prop.start(src)
    ours = {}
    prop.add_prompt(1, "a", Prompt(box=square_box(0)))
    for f, d in prop.propagate(1):
        ours[("forward", f - 1)] = d["a"]
    assert prop.window == 16
    spill = prop.state["output_dict_per_obj"][0]["non_cond_frame_outputs"]
    assert fix in spill._cold and fix not in spill.in_memory()  # on disk, not in RAM
    assert len(spill.in_memory()) <= prop.window + 1
    loaded = spill.loaded
    ours["correct"] = prop.add_prompt(1 + fix, "a", Prompt(points=[tuple(p) for p in fix_points], labels=[1, 0]))
    for f, d in prop.propagate(1 + fix, stop=1 + fix + again):
        ours[("again", f - 1)] = d["a"]
    assert spill.loaded > loaded  # the correction read spilled memory back
    prop.close()

    assert stats["misses"] == LONG  # both runs saw the very same frame tensors
    assert ours.keys() == stock.keys() and len(stock) == LONG + 1 + again + 1
    for key in stock:
        assert np.array_equal(ours[key], stock[key]), f"{key}: max diff {np.abs(ours[key] - stock[key]).max()}"
    fg = [float((stock[("forward", t)] > 0.5).mean()) for t in range(LONG)]
    assert all(0.01 < x < 0.99 for x in fg)  # masks are neither empty nor full on every frame
    assert not np.array_equal(stock[("forward", fix + 2)], stock[("again", fix + 2)])  # the correction mattered
