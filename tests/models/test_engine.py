"""Engine logic (keyframes, spans, locks, cancel, undo reporting, OOM) with tiny fake backends,
plus an end-to-end run with the real classical backend on generated frames."""

from __future__ import annotations

import numpy as np
import pytest

from roto_studio.core.errors import ModelError, ProjectError
from roto_studio.core.project import create_project
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import ImageSegmenter, Prediction, VideoPropagator
from roto_studio.models.device import DeviceOutOfMemory
from roto_studio.models.engine import Engine

H, W = 24, 32
FRAMES = list(range(1001, 1013))  # plate numbers


class FakeMedia:
    """A FrameSource: frame f is a flat grey image of value f % 256."""

    path = "fake://clip"

    def __init__(self, frames=FRAMES):
        self.frame_numbers = list(frames)
        self.width, self.height = W, H
        self.reads = []

    def read(self, frame):
        assert frame in self.frame_numbers
        self.reads.append(frame)
        return np.full((H, W, 3), frame % 256, np.uint8)


class FakeImage(ImageSegmenter):
    """A box -> that box filled; clicks -> 5 px squares; records what it was given."""

    name = "fake"

    def __init__(self):
        self.calls = []
        self.keys = []

    def set_image(self, image, key=None):
        self.keys.append(key)

    def predict(self, prompt, mask_logits=None, multimask=None):
        self.calls.append((prompt, mask_logits))
        a = np.zeros((H, W), np.float32)
        if prompt.box is not None:
            x1, y1, x2, y2 = (int(v) for v in prompt.box)
            a[y1:y2, x1:x2] = 1
        for (x, y), lab in zip(prompt.points, prompt.labels):
            a[max(0, int(y) - 2):int(y) + 3, max(0, int(x) - 2):int(x) + 3] = float(lab)
        return Prediction(a, 0.9, logits=np.full((4, 4), len(self.calls), np.float32))


class FakeVideo(VideoPropagator):
    """Tracks by copying: each frame's alpha is the conditioning mask nearest behind it (in the
    direction of travel) times 0.5 + frame/10000, so tests can tell frames and sources apart."""

    name = "fake"

    def __init__(self, fail_at=None):
        self.cond = {}
        self.started = 0
        self.resets = 0
        self.runs = []
        self.fail_at = fail_at
        self.yielded = []

    def start(self, frames):
        self.frames = frames
        self.started += 1
        self.cond = {}

    def add_prompt(self, frame, obj_id, prompt):
        self.cond.setdefault(obj_id, {})[frame] = np.asarray(prompt.mask, np.float32)
        return self.cond[obj_id][frame]

    def propagate(self, start, reverse=False, stop=None):
        numbers = list(self.frames.frame_numbers)
        i = numbers.index(start)
        e = numbers.index(stop) if stop is not None else (0 if reverse else len(numbers) - 1)
        order = range(i, e - 1, -1) if reverse else range(i, e + 1)
        self.runs.append((start, reverse, stop))
        for p in order:
            f = numbers[p]
            if self.fail_at == f:
                import torch

                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            out = {}
            for obj, conds in self.cond.items():
                behind = [c for c in conds if (c >= f if reverse else c <= f)]
                if not behind:
                    continue
                src = min(behind) if reverse else max(behind)
                out[obj] = conds[src] * 0.5 + f / 10000.0 if src != f else conds[src]
            self.yielded.append(f)
            yield f, out

    def remove_object(self, obj_id):
        self.cond.pop(obj_id, None)

    def reset(self):
        self.resets += 1
        self.cond = {}


def make(tmp_path, video=None, objects=1):
    project = create_project(tmp_path / "shot.roto", tmp_path / "clip.mp4")
    objs = [project.add_object() for _ in range(objects)]
    media = FakeMedia()
    engine = Engine.given(project, image=FakeImage(), video=video or FakeVideo(), media=media)
    return project, objs, engine


def box_mask(x1, y1, x2, y2):
    m = np.zeros((H, W), np.float32)
    m[y1:y2, x1:x2] = 1
    return m


def test_prompt_box_stores_mask_and_keyframe(tmp_path):
    project, (obj,), engine = make(tmp_path)
    alpha = engine.prompt(obj.id, 1003, Prompt(box=(4, 2, 12, 10)))
    assert alpha.dtype == np.float32 and alpha.shape == (H, W)
    assert alpha[5, 6] == 1 and alpha[20, 20] == 0
    np.testing.assert_allclose(project.masks.get(obj.id, 1003), alpha, atol=1 / 65535)
    fp = project.prompts[obj.id][1003]
    assert fp.box == (4.0, 2.0, 12.0, 10.0) and fp.points == [] and not fp.has_mask
    assert engine.image.keys[-1] == ("fake://clip", None, 1003)  # path, colour view (none here), frame


def test_clicks_refine_with_previous_logits_only_when_extended(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1002, Prompt(points=[(5, 5)], labels=[1]))
    engine.prompt(obj.id, 1002, Prompt(points=[(5, 5), (20, 10)], labels=[1, 0]))
    calls = engine.image.calls
    assert calls[0][1] is None
    assert calls[1][1] is not None and calls[1][1][0, 0] == 1  # logits of the first answer
    # dropping a click starts over (no stale logits)
    engine.prompt(obj.id, 1002, Prompt(points=[(20, 10)], labels=[0]))
    assert calls[2][1] is None
    assert project.prompts[obj.id][1002].clicks == [(20.0, 10.0, 0)]


def test_mask_prompt_and_empty_prompt(tmp_path):
    project, (obj,), engine = make(tmp_path)
    m = (box_mask(1, 1, 9, 9) * 255).astype(np.uint8)
    alpha = engine.prompt(obj.id, 1001, Prompt(mask=m))
    assert alpha.max() == 1.0 and engine.image.calls == []  # a mask alone needs no model
    assert project.prompts[obj.id][1001].has_mask
    with pytest.raises(ModelError, match="frame's size"):
        engine.prompt(obj.id, 1001, Prompt(mask=np.ones((5, 5), np.float32)))
    engine.prompt(obj.id, 1001, Prompt())
    assert 1001 not in project.prompts.get(obj.id, {})
    assert not project.masks.has(obj.id, 1001)


def test_prompt_rejects_unknown_frame_and_locked_frame(tmp_path):
    project, (obj,), engine = make(tmp_path)
    with pytest.raises(ModelError, match="not in the media"):
        engine.prompt(obj.id, 5, Prompt(box=(1, 1, 5, 5)))
    project.lock_range(obj.id, 1005, 1006)
    with pytest.raises(ProjectError, match="locked"):
        engine.prompt(obj.id, 1005, Prompt(box=(1, 1, 5, 5)))


def test_forward_stops_before_next_keyframe_and_backward_to_start(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1003, Prompt(mask=box_mask(0, 0, 10, 10)))
    engine.prompt(obj.id, 1008, Prompt(mask=box_mask(10, 10, 20, 20)))
    key8 = project.masks.get(obj.id, 1008)
    res = engine.propagate([obj.id], 1003, "forward")
    assert res.written[obj.id] == [1004, 1005, 1006, 1007]
    assert not res.cancelled
    np.testing.assert_allclose(project.masks.get(obj.id, 1008), key8)
    assert not project.masks.has(obj.id, 1009)
    # the far keyframe conditioned the run too
    assert set(engine.video.cond[obj.id]) == {1003, 1008}
    np.testing.assert_allclose(project.masks.get(obj.id, 1005), box_mask(0, 0, 10, 10) * 0.5 + 0.1005, atol=1e-4)
    res = engine.propagate([obj.id], 1003, "backward")
    assert res.written[obj.id] == [1002, 1001]
    assert engine.video.runs[-1] == (1003, True, 1001)


def test_both_directions_with_progress_and_stop(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1006, Prompt(mask=box_mask(0, 0, 10, 10)))
    seen = []
    res = engine.propagate([obj.id], 1006, "both", progress=lambda d, t: seen.append((d, t)))
    assert res.written[obj.id] == [1007, 1008, 1009, 1010, 1011, 1012, 1005, 1004, 1003, 1002, 1001]
    assert seen[-1] == (11, 11) and [d for d, _ in seen] == list(range(1, 12))
    res = engine.propagate([obj.id], 1006, "forward", stop=1008)
    assert res.written[obj.id] == [1007, 1008]
    res = engine.propagate([obj.id], 1006, "both", stop=(1004, 1007))
    assert res.written[obj.id] == [1007, 1005, 1004]
    with pytest.raises(ModelError):
        engine.propagate([obj.id], 1006, "both", stop=1008)
    with pytest.raises(ModelError, match="direction"):
        engine.propagate([obj.id], 1006, "sideways")


def test_locked_frames_are_never_written(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 10, 10)))
    locked_alpha = box_mask(20, 5, 30, 15)
    project.masks.set(obj.id, 1004, locked_alpha)
    project.lock_range(obj.id, 1004, 1005)
    res = engine.propagate([obj.id], 1001, "forward")
    assert 1004 not in res.written[obj.id] and 1005 not in res.written[obj.id]
    assert res.locked[obj.id] == [1004, 1005]
    assert res.written[obj.id] == [1002, 1003] + list(range(1006, 1013))
    np.testing.assert_allclose(project.masks.get(obj.id, 1004), locked_alpha)
    assert not project.masks.has(obj.id, 1005)
    # a whole-object lock keeps everything
    project.object(obj.id).locked = True
    res = engine.propagate([obj.id], 1001, "forward")
    assert res.written[obj.id] == []


def test_cancel_keeps_finished_frames(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 10, 10)))
    done = []
    res = engine.propagate([obj.id], 1001, "forward", progress=lambda d, t: done.append(d),
                           cancel=lambda: len(done) >= 3)
    assert res.cancelled
    assert res.written[obj.id] == [1002, 1003, 1004]
    assert project.masks.frames(obj.id) == [1001, 1002, 1003, 1004]
    # the propagator was not asked for more frames than needed (generator closed between frames)
    assert engine.video.yielded[-1] == 1004


def test_correction_repropagates_only_its_span(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 10, 10)))
    engine.propagate([obj.id], 1001, "forward")
    before = {f: project.masks.get(obj.id, f) for f in FRAMES}
    # correct frame 1006 by a brush fix (a keyframe), propagate from it forward
    engine.set_mask(obj.id, 1006, box_mask(15, 5, 25, 20))
    res = engine.propagate([obj.id], 1006, "forward")
    assert res.written[obj.id] == list(range(1007, 1013))
    for f in range(1001, 1006):
        np.testing.assert_array_equal(project.masks.get(obj.id, f), before[f])
    np.testing.assert_allclose(project.masks.get(obj.id, 1010), box_mask(15, 5, 25, 20) * 0.5 + 0.101, atol=1e-4)
    # backward from the correction stops before the first keyframe
    res = engine.propagate([obj.id], 1006, "backward")
    assert res.written[obj.id] == [1005, 1004, 1003, 1002]
    assert engine.video.started == 1 and engine.video.resets >= 2  # one session, fresh state per run


def test_undo_hook_gets_previous_alpha(tmp_path):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 10, 10)))
    old = box_mask(5, 5, 6, 6)
    project.masks.set(obj.id, 1003, old)
    got = {}
    engine.propagate([obj.id], 1001, "forward", stop=1004,
                     on_write=lambda o, f, a: got.__setitem__(f, a))
    assert sorted(got) == [1002, 1003, 1004]
    assert got[1002] is None
    np.testing.assert_allclose(got[1003], old)


def test_several_objects_own_spans(tmp_path):
    project, (a, b), engine = make(tmp_path, objects=2)
    engine.prompt(a.id, 1002, Prompt(mask=box_mask(0, 0, 5, 5)))
    engine.prompt(b.id, 1002, Prompt(mask=box_mask(10, 10, 20, 20)))
    engine.prompt(b.id, 1005, Prompt(mask=box_mask(12, 12, 20, 20)))
    res = engine.propagate([a.id, b.id], 1002, "forward")
    assert res.written[a.id] == list(range(1003, 1013))
    assert res.written[b.id] == [1003, 1004]
    assert project.masks.get(b.id, 1005).sum() == box_mask(12, 12, 20, 20).sum()


def test_object_without_mask_at_start_is_skipped_or_refused(tmp_path):
    project, (a, b), engine = make(tmp_path, objects=2)
    with pytest.raises(ModelError, match="no mask on frame 1003"):
        engine.propagate([a.id], 1003, "forward")
    engine.prompt(a.id, 1003, Prompt(mask=box_mask(0, 0, 5, 5)))
    res = engine.propagate([a.id, b.id], 1003, "forward")
    assert b.id in res.skipped and res.written[a.id]


def test_start_without_keyframe_uses_stored_mask(tmp_path):
    project, (obj,), engine = make(tmp_path)
    project.masks.set(obj.id, 1004, box_mask(2, 2, 8, 8))  # e.g. an earlier propagation result
    res = engine.propagate([obj.id], 1004, "forward", stop=1006)
    assert res.written[obj.id] == [1005, 1006]
    assert 1004 not in project.prompts.get(obj.id, {})


def test_out_of_memory_is_a_clear_error_and_keeps_frames(tmp_path):
    pytest.importorskip("torch")
    project, (obj,), engine = make(tmp_path, video=FakeVideo(fail_at=1005))
    engine.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 10, 10)))
    with pytest.raises(DeviceOutOfMemory, match="out of memory") as info:
        engine.propagate([obj.id], 1001, "forward")
    assert info.value.result.written[obj.id] == [1002, 1003, 1004]
    assert project.masks.frames(obj.id) == [1001, 1002, 1003, 1004]
    with pytest.raises(ModelError, match="cannot be rebuilt"):
        engine.retry("cpu")


# ------------------------------------------------------------------ real classical backend

def _moving_square_clip(n=8, size=(64, 80)):
    h, w = size
    frames = {}
    masks = {}
    rng = np.random.default_rng(1)
    bg = rng.integers(20, 60, (h, w, 3)).astype(np.uint8)
    for i in range(n):
        img = bg.copy()
        x = 10 + 3 * i
        img[20:44, x:x + 24] = (220, 60, 40)
        m = np.zeros((h, w), np.float32)
        m[20:44, x:x + 24] = 1
        frames[100 + i] = img
        masks[100 + i] = m
    return frames, masks


class DictMedia:
    path = "mem://square"

    def __init__(self, frames):
        self._f = frames
        self.frame_numbers = sorted(frames)
        self.height, self.width = next(iter(frames.values())).shape[:2]

    def read(self, f):
        return self._f[f]


def test_end_to_end_with_classical_backend(tmp_path):
    from roto_studio.models import classical

    assert issubclass(classical.FlowPropagator, VideoPropagator)
    frames, truth = _moving_square_clip()
    project = create_project(tmp_path / "sq.roto", tmp_path / "sq.mp4")
    obj = project.add_object("square")
    engine = Engine.given(project, image=classical.GrabCutSegmenter(), video=classical.FlowPropagator(),
                    media=DictMedia(frames))
    alpha = engine.prompt(obj.id, 100, Prompt(box=(8, 18, 36, 46)))
    iou0 = ((alpha > 0.5) & (truth[100] > 0.5)).sum() / ((alpha > 0.5) | (truth[100] > 0.5)).sum()
    assert iou0 > 0.8
    project.lock_range(obj.id, 105, 105)
    res = engine.propagate([obj.id], 100, "forward")
    assert res.written[obj.id] == [101, 102, 103, 104, 106, 107]
    assert not project.masks.has(obj.id, 105)
    for f in res.written[obj.id]:
        a = project.masks.get(obj.id, f) > 0.5
        t = truth[f] > 0.5
        assert (a & t).sum() / (a | t).sum() > 0.7, f


# ------------------------------------------------------------------ backend choice and device

def test_importing_the_engine_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, roto_studio.models.backends, roto_studio.models.engine, roto_studio.models.weights.store, "
            "roto_studio.models.device, roto_studio.commands.segment, roto_studio.commands.models; "
            "assert 'torch' not in sys.modules and 'sam2' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_choice(tmp_path, monkeypatch):
    from roto_studio.models import backends
    from roto_studio.models.weights import registry

    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    monkeypatch.delenv("ROTO_SAM2_RANDOM_WEIGHTS", raising=False)
    monkeypatch.delenv("ROTO_SAM2_MODEL", raising=False)
    assert backends.choose("classical").name == "classical"
    with pytest.raises(ModelError, match="unknown backend"):
        backends.choose("magic")
    sam2_there = backends._installed("sam2") and backends._installed("torch")
    plan = backends.choose("auto")
    assert plan.name == "classical"
    if sam2_there:
        assert "roto-studio models download sam2.1-tiny" in plan.reason
        with pytest.raises(ModelError, match="roto-studio models download sam2.1-tiny"):
            backends.choose("sam2")
        monkeypatch.setenv("ROTO_SAM2_RANDOM_WEIGHTS", "tiny@128")
        plan = backends.choose("auto")
        assert plan.name == "sam2" and plan.random == ("tiny", 128) and "random" in plan.describe()
        monkeypatch.delenv("ROTO_SAM2_RANDOM_WEIGHTS")
        # weights present (a stand-in file registered under the real name): auto picks SAM 2
        (tmp_path / "w" / "sam2.1-small").mkdir(parents=True)
        (tmp_path / "w" / "sam2.1-small" / "sam2.1_hiera_small.pt").write_bytes(b"12345")
        monkeypatch.setattr(registry, "SPECS", [registry.WeightSpec(
            "sam2.1-small", "sam2", "f/s", "a" * 40, (registry.WeightFile("sam2.1_hiera_small.pt", None, 5),))])
        plan = backends.choose("auto")
        assert plan.name == "sam2" and plan.model == "sam2.1-small"
        assert plan.weights == tmp_path / "w" / "sam2.1-small" / "sam2.1_hiera_small.pt"
        # a folder given as --weights is searched as an offline folder
        other = tmp_path / "usb"
        other.mkdir()
        (tmp_path / "w" / "sam2.1-small" / "sam2.1_hiera_small.pt").rename(other / "sam2.1_hiera_small.pt")
        try:
            plan = backends.choose("auto", weights=other)
            assert plan.weights == other / "sam2.1_hiera_small.pt"
        finally:
            from roto_studio.models.weights import store as weights

            weights.set_offline_folders([])
    else:
        with pytest.raises(ModelError, match="not installed"):
            backends.choose("sam2")


def test_retry_plans():
    from roto_studio.models import backends

    plan = backends.BackendPlan("sam2", "x", model="sam2.1-tiny")
    assert backends.retry_options(plan, "cuda") == ("offload", "smaller", "cpu")
    assert backends.retry_plan(plan, "smaller").image_size == 768
    assert backends.retry_plan(backends.retry_plan(plan, "smaller"), "smaller").image_size == 512
    assert backends.retry_plan(plan, "offload").offload
    assert backends.retry_plan(plan, "cpu").device == "cpu"
    assert backends.retry_options(backends.BackendPlan("classical", "x"), "cpu") == ()
    with pytest.raises(ModelError):
        backends.retry_plan(backends.BackendPlan("classical", "x"), "smaller")


def test_device_choice_and_oom_detection(monkeypatch):
    torch = pytest.importorskip("torch")
    from roto_studio.models import device

    assert device.choose_device("cpu") == device.DeviceChoice("cpu", "float32", "CPU requested")
    if not torch.cuda.is_available():
        monkeypatch.setenv("ROTO_DEVICE", "cuda")
        with pytest.raises(ModelError, match="no CUDA GPU"):
            device.choose_device()
        monkeypatch.setenv("ROTO_DEVICE", "auto")
        assert device.choose_device().device in ("cpu", "mps")
    monkeypatch.setenv("ROTO_DEVICE", "tpu")
    with pytest.raises(ModelError, match="unknown device"):
        device.choose_device()
    assert device.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert device.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not device.is_out_of_memory(RuntimeError("shape mismatch"))
    err = device.out_of_memory_error(RuntimeError("CUDA out of memory"), "cuda")
    assert err.retry == ("smaller", "cpu") and "retry on the CPU" in str(err)
    with device.inference_context(device.cpu()):
        assert torch.is_inference_mode_enabled()
    assert not torch.is_inference_mode_enabled()


def test_background_writes_are_all_saved_and_errors_surface(tmp_path, monkeypatch):
    project, (obj,), engine = make(tmp_path)
    engine.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 10, 10)))
    saved = []
    res = engine.propagate([obj.id], 1001, "forward")
    assert project.masks.frames(obj.id) == FRAMES and res.count == 11
    real_set = project.masks.set

    def failing_set(o, f, a):
        if f == 1006:
            raise OSError(28, "No space left on device")
        saved.append(f)
        real_set(o, f, a)

    monkeypatch.setattr(project.masks, "set", failing_set)
    with pytest.raises(OSError, match="No space") as info:
        engine.propagate([obj.id], 1001, "forward")
    assert 1006 not in saved and saved[:4] == [1002, 1003, 1004, 1005]
    assert info.value.result.written[obj.id][:4] == [1002, 1003, 1004, 1005]
    # inline writes (write_behind = 0) behave the same
    monkeypatch.setattr(project.masks, "set", real_set)
    engine.write_behind = 0
    res = engine.propagate([obj.id], 1001, "forward", stop=1004)
    assert res.written[obj.id] == [1002, 1003, 1004]
