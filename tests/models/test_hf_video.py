"""EdgeTAM and SAM 3 video propagation equal transformers' inference sessions driven directly.

Tiny configs with seeded random weights (no weights, no network). Upstream is driven as the
transformers documentation shows: `processor.init_video_session(video=frames)`, inputs added with
`add_inputs_to_inference_session` / `add_text_prompt`, `model(session, frame_idx)`,
`propagate_in_video_iterator`, masks through the processor's post-processing. Our backends read
the same frames lazily from a FrameSource and spill memory beyond the attention window to disk.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("timm")

from roto_studio.models.hf import build as hf_build  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.hf.video import HFVideoPropagator  # noqa: E402
from tests.models.sam2_fixtures import scene  # noqa: E402

W, H = 120, 90


class Frames:
    """A FrameSource over generated frames, counting reads."""

    def __init__(self, frames, first=1001):
        self.frames = frames
        self.first = first
        self.height, self.width = frames[0].shape[:2]
        self.reads = 0

    @property
    def frame_numbers(self):
        return list(range(self.first, self.first + len(self.frames)))

    def read(self, frame):
        self.reads += 1
        return self.frames[frame - self.first]


def _disc(t):
    yy, xx = np.mgrid[:H, :W]
    cx, cy = 30 + 5 * t, 50 + 2 * np.sin(t / 3)
    return (xx - cx) ** 2 + (yy - cy) ** 2 < 15 ** 2


def _square(t):
    yy, xx = np.mgrid[:H, :W]
    sx, sy = 120 - 3 * t, 30 + t
    return (abs(xx - sx) < 12) & (abs(yy - sy) < 10)


@pytest.fixture(scope="module")
def edgetam():
    return hf_build.random_edgetam(tiny=True)


def _upstream_alphas(processor, out, h, w):
    logits = processor.post_process_masks([out.pred_masks], original_sizes=[[h, w]], binarize=False)[0]
    return torch.sigmoid(logits.float())[:, 0].numpy()


def test_edgetam_two_objects_correction_long_clip_equal_upstream(edgetam, tmp_path):
    model, processor = edgetam
    n = 8  # the tiny model attends to 5 frames: part of the clip lies beyond its memory
    frames = [scene(t, W, H) for t in range(n)]
    fix = 6
    click = (float(30 + 5 * fix), float(50 + 2 * np.sin(fix / 3)))

    # upstream, as documented
    sess = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    up_first = []
    for oid, mask in ((1, _disc(0)), (2, _square(0))):
        processor.add_inputs_to_inference_session(inference_session=sess, frame_idx=0, obj_ids=oid, input_masks=mask)
        out = model(inference_session=sess, frame_idx=0)
        up_first.append(_upstream_alphas(processor, out, H, W)[out.object_ids.index(oid)])
    up_pass1 = {o.frame_idx: _upstream_alphas(processor, o, H, W)
                for o in model.propagate_in_video_iterator(sess, start_frame_idx=0)}
    processor.add_inputs_to_inference_session(inference_session=sess, frame_idx=fix, obj_ids=1,
                                              input_points=[[[list(click)]]], input_labels=[[[1]]])
    up_fix = _upstream_alphas(processor, model(inference_session=sess, frame_idx=fix), H, W)[0]
    up_pass2 = {o.frame_idx: _upstream_alphas(processor, o, H, W)
                for o in model.propagate_in_video_iterator(sess, start_frame_idx=fix)}

    # ours, through the VideoPropagator interface
    source = Frames(frames)
    ours = HFVideoPropagator(model, processor, spill_dir=tmp_path)
    assert model._roto_constant_caches >= 3  # position encodings cached (upstream above ran without)
    ours.start(source)
    assert source.reads == 0  # nothing decoded up front
    first = [ours.add_prompt(1001, "a", Prompt(mask=_disc(0))), ours.add_prompt(1001, "b", Prompt(mask=_square(0)))]
    pass1 = dict(ours.propagate(1001))
    fixed = ours.add_prompt(1001 + fix, "a", Prompt(points=[click], labels=[1]))
    pass2 = dict(ours.propagate(1001 + fix))

    for a, b in zip(first, up_first):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fixed, up_fix)
    assert sorted(pass1) == [1001 + i for i in sorted(up_pass1)]
    assert sorted(pass2) == [1001 + i for i in sorted(up_pass2)]
    for got, want in ((pass1, up_pass1), (pass2, up_pass2)):
        for i, alphas in want.items():
            np.testing.assert_array_equal(got[1001 + i]["a"], alphas[0])
            np.testing.assert_array_equal(got[1001 + i]["b"], alphas[1])
    # the masks are real masks, not empty ones (random weights biased to see the object)
    assert 0.01 < float((pass1[1007]["a"] > 0.5).mean()) < 0.99
    # memory stays within the attention window; the rest went to disk
    window = ours.window
    for frames_in_memory in ours.memory_frames().values():
        assert len(frames_in_memory) <= 2 * window + 1
    spilled = [d["non_cond_frame_outputs"].spilled for d in ours.session.output_dict_per_obj.values()]
    assert min(spilled) > 0
    assert len(ours.frames._cache) <= ours.frames.cache_frames


def test_edgetam_engine_spans_locks_and_cancel(edgetam, tmp_path):
    """The engine drives EdgeTAM like SAM 2: span up to the next keyframe, locked frames kept, cancel."""
    from roto_studio.core.project import create_project
    from roto_studio.models.engine import Engine

    model, processor = edgetam
    frames = [scene(t, W, H) for t in range(9)]
    source = Frames(frames)
    folder = tmp_path / "shot"
    folder.mkdir()
    import cv2

    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"plate.{1001 + i:04d}.png"), f[..., ::-1])
    project = create_project(tmp_path / "p.roto", str(folder / "plate.####.png"))
    obj = project.add_object("disc")
    engine = Engine.given(project, video=HFVideoPropagator(model, processor, spill_dir=tmp_path), media=source)
    engine.set_mask(obj.id, 1001, _disc(0).astype(np.float32))
    engine.set_mask(obj.id, 1008, _disc(7).astype(np.float32))
    project.lock_range(obj.id, 1003, 1004)
    result = engine.propagate([obj.id], 1001, "forward")
    assert result.written[obj.id] == [1002, 1005, 1006, 1007]  # stops before keyframe 1008
    assert result.locked[obj.id] == [1003, 1004]
    assert not project.masks.has(obj.id, 1003)
    calls = []
    result = engine.propagate([obj.id], 1008, "backward", cancel=lambda: len(calls) >= 2,
                              progress=lambda d, t: calls.append(d))
    assert result.cancelled and result.written[obj.id] == [1007, 1006]  # finished frames kept


def test_edgetam_fused_backbone_close_to_stock(tmp_path):
    """The opt-in fused backbone (BN folded into convs) tracks like the stock one, within float noise."""
    frames = [scene(t, W, H) for t in range(4)]
    runs = []
    for fuse in (False, True):
        model, processor = hf_build.random_edgetam(tiny=True)
        ours = HFVideoPropagator(model, processor, spill_dir=tmp_path, fuse=fuse)
        ours.start(Frames(frames))
        ours.add_prompt(1001, "a", Prompt(mask=_disc(0)))
        runs.append(dict(ours.propagate(1001)))
        bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.vision_encoder.backbone.modules())
        assert (bn == 0) == fuse
    for f, alphas in runs[0].items():
        np.testing.assert_allclose(runs[1][f]["a"], alphas["a"], atol=1e-3)


@pytest.fixture(scope="module")
def sam3_video():
    return hf_build.random_sam3_video()


def _sam3_scene(t):
    img = scene(0, W, H)
    img[30:60, 10 + 4 * t: 40 + 4 * t] = (220, 40, 40)
    if t >= 5:
        img[5:25, 80:110] = (40, 200, 60)
    return img


def test_sam3_video_equals_upstream_and_stays_flat(sam3_video, tmp_path):
    from roto_studio.models.hf.sam3_video import Sam3VideoPropagator

    model, processor = sam3_video
    n = 12  # tracker window + hotstart delay: 7 frames; a conditioning frame every 2 (tiny config)
    frames = [_sam3_scene(t) for t in range(n)]
    sess = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    processor.add_text_prompt(inference_session=sess, text=["person"])
    want = {}
    for out in model.propagate_in_video_iterator(inference_session=sess):
        want[out.frame_idx] = processor.postprocess_outputs(sess, out)

    ours = Sam3VideoPropagator(model, processor, spill_dir=tmp_path)
    ours.start(Frames(frames))
    ours.add_text("person", "person")
    got = dict(ours.propagate(1001))
    assert sorted(got) == [1001 + i for i in sorted(want)]
    seen = set()
    for i, post in want.items():
        alphas = got[1001 + i]
        ids = post["object_ids"].tolist()
        assert sorted(int(k.split("#")[1]) for k in alphas) == sorted(ids)
        for j, oid in enumerate(ids):
            key = next(k for k in alphas if k.endswith(f"#{oid}"))
            np.testing.assert_array_equal(alphas[key], post["masks"][j].float().numpy())
            phrase = next(p for p, o in post["prompt_to_obj_ids"].items() if oid in o)
            assert ours.phrase_of(key) == phrase
            assert ours.score_of(key) == pytest.approx(float(post["scores"][j]))
            seen.add(key)
    assert seen, "random weights found nothing: the comparison would be empty"
    for frames_in_memory in ours.memory_frames().values():
        assert len(frames_in_memory) <= 2 * ours.window + 1
    # conditioning frames pile up (6 for the first instance); only the closest stay whole in memory
    cond = {i: sorted(d["cond_frame_outputs"]) for i, d in ours.session.output_dict_per_obj.items()}
    whole = ours.conditioning_in_memory()
    assert max(len(c) for c in cond.values()) >= 5
    assert all(len(w) <= 3 for w in whole.values()), whole
