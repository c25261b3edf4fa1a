"""Tracking phrases through a shot with SAM 3 video: the text-specific part of Engine.track_steps.

It checks the phrases, the direction and the frames, starts the tracker on them, and turns each
tracker instance into an object id the first time it is seen (on the start frame, or appearing
mid-shot; one below the minimum score or with an empty mask is ignored), its first mask stored
by the caller's new_object. Every later frame goes through the engine's one propagation loop
(models.propagation.write_steps: keyframes and locked frames left alone, the background writer,
cancelling between frames). No Qt: the CLI and the workers layer both drive it.
"""

from __future__ import annotations

from typing import Callable, Generator, Sequence

import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.core.prompt import Prompt
from roto_studio.models.propagation import Frames, PropagationResult, Step
from roto_studio.models.text.backends import next_name

NewObject = Callable[[str, int, np.ndarray], str]  # (phrase, first frame, alpha) -> obj_id; stores the mask


class PhraseTrack:
    """One tracking run: which frames, and which object each tracker instance key became."""

    def __init__(self, engine, tracker, phrases: Sequence[str], start: int, direction: str,
                 stop: int | None, min_score: float, new_object: NewObject, result: PropagationResult):
        if direction not in ("forward", "backward"):
            raise ModelError("SAM 3 video tracks one way at a time: use --propagate forward or backward.")
        self.phrases = [p for p in phrases if p.strip()]
        if not self.phrases:
            raise ModelError("give at least one phrase to track, e.g. --text \"person, dog\".")
        start = engine.check_frame(start)
        numbers = list(engine.media.frame_numbers)
        i = numbers.index(start)
        last = engine.check_frame(stop) if stop is not None else None
        order = numbers[i:] if direction == "forward" else numbers[: i + 1][::-1]
        if last is not None:
            order = [f for f in order if (f <= last if direction == "forward" else f >= last)]
        self.engine, self.tracker, self.direction = engine, tracker, direction
        self.order: list[int] = order  # the frames tracked, in order (the start frame first)
        self.min_score, self.new_object, self.result = float(min_score), new_object, result
        self.ids: dict[str, str | None] = {}  # tracker key -> obj_id (None: ignored)
        self.wanted: dict[str, set[int]] = {}  # obj_id -> frames it may write (write_steps reads it)
        self.made: list[str] = []  # objects made on the frame just read

    def read(self) -> Frames:
        """The tracker's frames as (frame, {obj_id: alpha}) of the objects made on earlier frames;
        an instance seen for the first time becomes an object here (its first mask stored by
        new_object) or is ignored. write_steps pulls it through engine.guarded (device errors)."""
        tracker = self.tracker
        tracker.start(self.engine.media)
        for phrase in self.phrases:
            tracker.add_text(phrase, phrase)
        gen = tracker.propagate(self.order[0], reverse=self.direction == "backward", stop=self.order[-1])
        try:
            for frame, alphas in gen:
                frame = int(frame)
                self.made = []
                out = {}
                for key, alpha in alphas.items():
                    if key not in self.ids:
                        self.ids[key] = self._new(key, frame, alpha)
                    elif (obj_id := self.ids[key]) is not None:
                        out[obj_id] = alpha
                yield frame, out
        finally:
            gen.close()

    def _new(self, key: str, frame: int, alpha) -> str | None:
        if self.tracker.score_of(key) < self.min_score or not np.any(alpha):
            return None
        phrase = self.tracker.phrase_of(key)
        obj_id = self.new_object(phrase, frame, np.asarray(alpha, np.float32))
        self.result.created[obj_id] = (phrase, frame)
        self.result.written[obj_id] = [frame]
        self.result.locked[obj_id] = []
        self.wanted[obj_id] = set(self.order)
        self.made.append(obj_id)
        return obj_id

    def steps(self, loop: Generator[Step, None, PropagationResult]) -> Generator[Step, None, PropagationResult]:
        """The loop's Steps, each also naming the objects made on its frame; closing it closes the loop."""
        try:
            for step in loop:
                step.written[:0] = self.made
                yield step
        finally:
            loop.close()
        return self.result


def keyframed_objects(engine) -> NewObject:
    """The CLI's new_object: a project object named after its phrase ("person 3"), its first mask
    a keyframe (engine.prompt with the mask)."""
    def new_object(phrase: str, frame: int, alpha: np.ndarray) -> str:
        project = engine.project
        obj = project.add_object(next_name({o.name for o in project.objects}, phrase))
        engine.prompt(obj.id, frame, Prompt(mask=alpha))
        return obj.id

    return new_object
