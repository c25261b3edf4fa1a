"""Tracking phrases through a shot with SAM 3 video: every instance becomes a project object.

An instance seen for the first time (on the start frame, or appearing mid-shot) becomes a new
object named after its phrase ("person 3"), its mask on that frame stored as a keyframe; later
frames are written as propagated masks. Locked frames are never written; cancelling between frames
keeps what was written. No Qt: the CLI and the workers layer both drive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.core.prompt import Prompt
from roto_studio.models.text.backends import next_name


@dataclass
class TrackResult:
    created: dict[str, tuple[str, int]] = field(default_factory=dict)  # obj_id -> (phrase, first frame)
    written: dict[str, list[int]] = field(default_factory=dict)  # obj_id -> frames written, in order
    locked: dict[str, list[int]] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.written.values())


def walk(engine, tracker, phrases: Sequence[str], start: int, direction: str = "forward",
         stop: int | None = None) -> Iterator[tuple[int, dict, int, int]]:
    """The one loop over a phrase tracker's frames (the CLI's tracking and the window's both walk
    it): yields (frame, {instance key: alpha}, done, total); closing it stops between frames.
    `tracker` is a Sam3VideoPropagator (or the server's); device errors come through engine.guarded."""
    if direction not in ("forward", "backward"):
        raise ModelError("SAM 3 video tracks one way at a time: use --propagate forward or backward.")
    phrases = [p for p in phrases if p.strip()]
    if not phrases:
        raise ModelError("give at least one phrase to track, e.g. --text \"person, dog\".")
    start = engine.check_frame(start)
    numbers = list(engine.media.frame_numbers)
    i = numbers.index(start)
    if stop is not None:
        stop = engine.check_frame(stop)
    frames = numbers[i:] if direction == "forward" else numbers[: i + 1][::-1]
    if stop is not None:
        frames = [f for f in frames if (f <= stop if direction == "forward" else f >= stop)]
    total = len(frames)
    engine.guarded(lambda: tracker.start(engine.media))
    for phrase in phrases:
        tracker.add_text(phrase, phrase)
    gen = tracker.propagate(start, reverse=direction == "backward", stop=frames[-1])
    done = 0
    try:
        while True:
            try:
                frame, alphas = engine.guarded(lambda: next(gen))
            except StopIteration:
                return
            done += 1
            yield frame, alphas, done, total
    finally:
        gen.close()


def track_phrases(engine, tracker, phrases: Sequence[str], start: int, direction: str = "forward",
                  stop: int | None = None, min_score: float = 0.5,
                  result: TrackResult | None = None) -> Iterator[tuple[int, int, int]]:
    """Generator: yields (frame, done, total) per frame; closing it cancels between frames.
    Every instance becomes a project object; `result` is filled in as frames are written."""
    result = result if result is not None else TrackResult()
    project = engine.project
    objects: dict[str, str | None] = {}  # tracker key -> obj_id (None: below min_score, ignored)
    steps = walk(engine, tracker, phrases, start, direction, stop)
    try:
        for frame, alphas, done, total in steps:
            for key, alpha in alphas.items():
                if key not in objects:
                    objects[key] = _new_object(engine, tracker, key, frame, alpha, min_score, result)
                    continue
                obj_id = objects[key]
                if obj_id is None:
                    continue
                if project.is_locked(obj_id, frame):
                    result.locked[obj_id].append(frame)
                    continue
                if frame in project.prompts.get(obj_id, {}):
                    continue
                project.masks.set(obj_id, frame, np.asarray(alpha, np.float32))
                result.written[obj_id].append(frame)
            yield frame, done, total
    except GeneratorExit:
        result.cancelled = True
        raise
    finally:
        steps.close()
    return result


def _new_object(engine, tracker, key: str, frame: int, alpha, min_score: float, result: TrackResult):
    if tracker.score_of(key) < min_score or not np.any(alpha):
        return None
    phrase = tracker.phrase_of(key)
    project = engine.project
    obj = project.add_object(next_name({o.name for o in project.objects}, phrase))
    engine.prompt(obj.id, frame, Prompt(mask=np.asarray(alpha, np.float32)))
    result.created[obj.id] = (phrase, frame)
    result.written[obj.id] = [frame]
    result.locked[obj.id] = []
    return obj.id


def run_tracking(engine, tracker, phrases, start, direction="forward", stop=None, min_score=0.5,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> TrackResult:
    result = TrackResult()
    steps = track_phrases(engine, tracker, phrases, start, direction, stop, min_score, result)
    try:
        for _, done, total in steps:
            if progress is not None:
                progress(done, total)
            if cancel is not None and cancel():
                result.cancelled = True
                break
    finally:
        steps.close()
    return result
