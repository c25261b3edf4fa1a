"""Tracking phrases (Engine.track_steps, the CLI's and the window's job alike) runs on the engine's
one propagation loop: every tracked object's frames are written as propagated masks unless locked
(recorded in result.locked) or keyframed meanwhile, a Step per frame, closing between frames keeps
and stores what was written, and a failure carries the result. A stand-in phrase tracker (the shape
of models.hf.sam3_video.Sam3VideoPropagator) plays the model; the engine and the worker are real."""

from __future__ import annotations

import numpy as np
import pytest

from roto_studio.core.errors import ModelError
from roto_studio.models.device import DeviceOutOfMemory
from roto_studio.models.propagation import PropagationResult, Step
from roto_studio.workers.find_work import track_text
from tests.models.test_engine import H, W, box_mask, make


class FakeTracker:
    """Instances per key: (phrase, score, first frame in the shot, x). Its alpha on frame f is a box
    at x of value 0.5 + (f - 1000) / 100, so each stored frame can be told apart."""

    name = "fake-sam3-video"

    def __init__(self, instances, fail_at=None):
        self.instances = instances
        self.fail_at = fail_at
        self.phrases: dict[str, str] = {}
        self.yielded: list[int] = []
        self.closed = False

    def start(self, frames):
        self.frames = frames
        self.phrases.clear()

    def add_text(self, group, phrase):
        self.phrases[group] = phrase

    def phrase_of(self, key):
        return self.instances[key][0]

    def score_of(self, key):
        return self.instances[key][1]

    @staticmethod
    def alpha(x, frame):
        a = np.zeros((H, W), np.float32)
        if x is not None:
            a[4:12, x:x + 6] = 0.5 + (frame - 1000) / 100
        return a

    def propagate(self, start, reverse=False, stop=None):
        numbers = list(self.frames.frame_numbers)
        i, e = numbers.index(start), numbers.index(stop)
        order = numbers[e:i + 1][::-1] if reverse else numbers[i:e + 1]
        try:
            for f in order:
                if f == self.fail_at:
                    import torch

                    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                self.yielded.append(f)
                yield f, {k: self.alpha(x, f) for k, (p, _, first, x) in self.instances.items()
                          if p in self.phrases.values() and f >= first}
        finally:
            self.closed = True

    def close(self):
        pass


INSTANCES = {
    "person#1": ("person", 0.9, 1003, 2),  # on the start frame
    "person#2": ("person", 0.2, 1003, 10),  # below min_score: ignored throughout
    "dog#3": ("dog", 0.8, 1005, 18),  # appears mid-shot: an object from 1005
    "dog#4": ("dog", 0.9, 1003, None),  # an empty mask when first seen: ignored
}


def _tracking(tmp_path, **kw):
    project, _, engine = make(tmp_path, objects=0)
    return project, engine, FakeTracker(INSTANCES, **kw)


def _stored(project, oid, frame):
    return project.masks.get(oid, frame)


def test_tracked_objects_leave_locked_frames_and_new_keyframes_alone(tmp_path):
    project, engine, tracker = _tracking(tmp_path)
    result = PropagationResult()
    steps = engine.track_steps(tracker, ["person", "dog"], 1003, "forward", stop=1009, min_score=0.5,
                               result=result)
    first = next(steps)
    assert isinstance(first, Step) and (first.frame, first.done, first.total) == (1003, 1, 7)
    (person,) = project.objects
    assert person.name == "person 1" and first.written == [person.id]
    assert project.prompts[person.id][1003].has_mask  # its first frame is a keyframe
    # meanwhile the artist locks two frames (one with a mask kept) and keyframes another
    kept = box_mask(20, 5, 30, 15)
    project.masks.set(person.id, 1005, kept)
    project.lock_range(person.id, 1005, 1006)
    engine.set_mask(person.id, 1008, kept)
    rest = list(steps)
    assert [s.frame for s in rest] == list(range(1004, 1010)) and rest[-1].done == 7
    dog = project.objects[1]
    assert [o.name for o in project.objects] == ["person 1", "dog 1"]
    assert result.created == {person.id: ("person", 1003), dog.id: ("dog", 1005)}
    assert result.written[person.id] == [1003, 1004, 1007, 1009]
    assert result.locked[person.id] == [1005, 1006]
    assert result.written[dog.id] == list(range(1005, 1010)) and result.locked[dog.id] == []
    assert project.prompted_frames(dog.id) == [1005]
    np.testing.assert_allclose(_stored(project, person.id, 1005), kept, atol=1 / 65535)
    assert not project.masks.has(person.id, 1006)
    np.testing.assert_allclose(_stored(project, person.id, 1008), kept, atol=1 / 65535)
    for oid, x in ((person.id, 2), (dog.id, 18)):
        for f in result.written[oid]:
            np.testing.assert_allclose(_stored(project, oid, f), tracker.alpha(x, f), atol=1 / 65535)
    assert not result.cancelled and result.count == 9


def test_closing_mid_shot_keeps_and_stores_what_was_written(tmp_path):
    project, engine, tracker = _tracking(tmp_path)
    engine.write_behind = 4  # masks go through the background writer
    result = PropagationResult()
    steps = engine.track_steps(tracker, ["person", "dog"], 1003, result=result)
    for step in steps:
        if step.frame == 1006:
            break
    steps.close()
    assert result.cancelled and tracker.closed and tracker.yielded[-1] == 1006
    person, dog = (o.id for o in project.objects)
    assert result.written == {person: [1003, 1004, 1005, 1006], dog: [1005, 1006]}
    for oid, x in ((person, 2), (dog, 18)):
        assert project.masks.frames(oid) == result.written[oid]  # all in the store once closed
        for f in result.written[oid]:
            np.testing.assert_allclose(_stored(project, oid, f), tracker.alpha(x, f), atol=1 / 65535)


def test_a_failure_mid_shot_carries_what_was_written(tmp_path):
    pytest.importorskip("torch")
    project, engine, tracker = _tracking(tmp_path, fail_at=1007)
    with pytest.raises(DeviceOutOfMemory, match="out of memory") as info:
        list(engine.track_steps(tracker, ["person", "dog"], 1003))
    person, dog = (o.id for o in project.objects)
    assert info.value.result.written == {person: [1003, 1004, 1005, 1006], dog: [1005, 1006]}
    assert project.masks.frames(person) == [1003, 1004, 1005, 1006]


def test_backward_and_the_errors_of_old(tmp_path):
    project, engine, tracker = _tracking(tmp_path)
    result = PropagationResult()
    steps = list(engine.track_steps(tracker, ["person"], 1006, "backward", stop=1004, result=result))
    assert [(s.frame, s.direction) for s in steps] == [(1006, "backward"), (1005, "backward"), (1004, "backward")]
    (person,) = project.objects
    assert result.written == {person.id: [1006, 1005, 1004]}
    with pytest.raises(ModelError, match="^SAM 3 video tracks one way at a time: use --propagate forward or "
                                         "backward.$"):
        next(engine.track_steps(tracker, ["person"], 1003, "both"))
    with pytest.raises(ModelError, match="^give at least one phrase to track, e.g. --text \"person, dog\".$"):
        next(engine.track_steps(tracker, [" "], 1003))


def test_the_window_job_writes_only_masks_under_fresh_ids(tmp_path):
    """workers.find_work.track_text (the model thread's job): ids not taken, masks in the store,
    the project's objects and keyframes left to the window; cancelling keeps what was written."""
    project, engine, tracker = _tracking(tmp_path)
    engine.helpers["text_tracker"] = tracker
    seen = []
    value = track_text(engine, lambda d, t: seen.append((d, t)), lambda: len(seen) >= 4, ["person", "dog"],
                       1003, "forward", None, 0.5, {"trk1"})
    assert seen == [(1, 10), (2, 10), (3, 10), (4, 10)] and tracker.closed
    assert value == {"created": [("trk2", "person", 1003), ("trk3", "dog", 1005)],
                     "written": {"trk2": [1003, 1004, 1005, 1006], "trk3": [1005, 1006]}}
    assert project.objects == [] and project.prompts.get("trk2", {}) == {}
    for oid, x in (("trk2", 2), ("trk3", 18)):
        assert project.masks.frames(oid) == value["written"][oid]
        for f in value["written"][oid]:
            np.testing.assert_allclose(_stored(project, oid, f), tracker.alpha(x, f), atol=1 / 65535)
