"""What a propagation is made of, below the engine: the spans it plans (per object and direction,
ending before the next keyframe), the result and progress steps it reports, the bounded
background writer that stores masks while the model computes the next frame, and the one loop
(write_steps) that turns a model's frames into stored masks, for Engine.propagate_steps and
Engine.track_steps alike. No Qt, no torch."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Container, Generator, Iterable, Mapping

import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.core.masks import to_alpha

DIRECTIONS = ("forward", "backward", "both")


@dataclass
class Span:
    obj_id: str
    direction: str  # 'forward' | 'backward'
    first: int  # first frame written (plate number), in propagation order
    last: int  # last frame written, in propagation order
    frames: list[int] = field(default_factory=list)  # every frame of the span, in order

    def __contains__(self, frame: int) -> bool:
        a, b = sorted((self.first, self.last))
        return a <= frame <= b and frame in self.frames


@dataclass
class PropagationResult:
    written: dict[str, list[int]] = field(default_factory=dict)  # obj_id -> frames written, in order
    locked: dict[str, list[int]] = field(default_factory=dict)  # frames left alone because locked
    spans: list[Span] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # obj_id -> why it was not propagated
    created: dict[str, tuple[str, int]] = field(default_factory=dict)  # tracking: obj_id -> (phrase, first frame)
    cancelled: bool = False
    error: str = ""  # the failure that cut the run short after `written` (one line), else ""
    retry: tuple[str, ...] = ()  # what may work after that failure ('resume', 'smaller', 'cpu')

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.written.values())


@dataclass
class Step:
    """One propagated frame: progress for the caller."""

    frame: int
    done: int
    total: int
    written: list[str]  # objects written on this frame
    direction: str


class MaskWriter:
    """Writes masks to the store on a background thread (PNG encoding releases the GIL), so the
    model computes the next frame meanwhile. Bounded: put() waits when `depth` frames are queued.
    A write error is raised by the next put() or by flush()."""

    def __init__(self, store, depth: int = 4, on_saved: Callable[[str, int], None] | None = None,
                 threads: int | None = None):
        import os

        self.store = store
        self.depth = max(1, int(depth))
        self.on_saved = on_saved
        self.threads = max(1, threads if threads is not None else min(self.depth, (os.cpu_count() or 2) - 1, 4))
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._busy = 0
        self._error: BaseException | None = None
        self._alive = 0

    def put(self, obj_id: str, frame: int, alpha: np.ndarray) -> None:
        with self._cond:
            self._raise()
            while len(self._queue) + self._busy >= self.depth and self._error is None:
                self._cond.wait()
            self._raise()
            self._queue.append((obj_id, frame, alpha))
            if self._alive < self.threads and self._alive < len(self._queue) + self._busy:
                self._alive += 1
                threading.Thread(target=self._run, name="roto-mask-writer", daemon=True).start()
            self._cond.notify_all()

    def pending(self, obj_id: str, frame: int) -> np.ndarray | None:
        with self._cond:
            for o, f, a in reversed(self._queue):
                if o == obj_id and f == frame:
                    return a
        return None

    def flush(self) -> None:
        with self._cond:
            while (self._queue or self._busy) and self._error is None:
                self._cond.wait()
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            self._queue.clear()
            raise err

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._alive -= 1
                    self._cond.notify_all()
                    return
                obj_id, frame, alpha = self._queue.popleft()
                self._busy += 1
            try:
                self.store.set(obj_id, frame, alpha)
                if self.on_saved is not None:
                    self.on_saved(obj_id, frame)
            except BaseException as exc:  # handed to the model thread
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()


Frames = Generator[tuple[int, Mapping[str, Any]], None, None]  # (frame, {obj_id: alpha}) from a model


@dataclass
class Pass:
    """One frame generator run through write_steps: opened when the pass begins, closed when it
    ends (which cancels the model's run)."""

    direction: str  # 'forward' | 'backward', for the Steps
    frames: Callable[[], Frames]
    wanted: Mapping[str, Container[int]]  # obj_id -> frames it may write (it may gain objects as it runs)
    start: int | None = None  # a frame passed over, uncounted (the one propagation starts from)
    last: int | None = None  # the pass ends after this frame


def write_steps(project, guarded: Callable[[Callable[[], Any]], Any], passes: Iterable[Pass],
                result: PropagationResult, total: int, depth: int = 4,
                skip: Mapping[str, Container[int]] | None = None,
                on_write: Callable[[str, int, np.ndarray | None], None] | None = None,
                on_saved: Callable[[str, int], None] | None = None) -> Generator[Step, None, PropagationResult]:
    """The one propagation loop: each pass's frames pulled through guarded(next) (device errors
    made clear); per frame, each wanted object's alpha is written unless the frame is its keyframe
    (one made meanwhile, a click during the run), locked (recorded in result.locked) or in
    skip (finished by an interrupted run being resumed); result.written grows and a Step is
    yielded. Masks go through a MaskWriter of `depth` frames (0: stored inline); every frame is
    stored when the loop ends, is closed (result.cancelled) or fails (the exception carries
    `result`, what was written before, for undo). on_write(obj_id, frame, previous alpha) comes
    before each write, on_saved(obj_id, frame) once the frame is in the store."""
    skip = skip or {}
    writer = MaskWriter(project.masks, depth, on_saved) if depth else None
    done = 0
    try:
        for one in passes:
            gen = one.frames()
            try:
                while True:
                    try:
                        frame, alphas = guarded(lambda: next(gen))
                    except StopIteration:
                        break
                    if frame == one.start:
                        continue
                    wrote = []
                    for obj_id, frames in one.wanted.items():
                        if frame not in frames:
                            continue
                        if frame in project.prompts.get(obj_id, {}):
                            continue  # became a keyframe meanwhile (a click during the run)
                        if project.is_locked(obj_id, frame):
                            result.locked.setdefault(obj_id, []).append(frame)
                            continue
                        if frame in skip.get(obj_id, ()):
                            continue  # finished by the interrupted run: kept as it is
                        alpha = alphas.get(obj_id)
                        if alpha is None:
                            continue
                        if on_write is not None:
                            on_write(obj_id, frame, project.masks.get(obj_id, frame))
                        if writer is not None:
                            writer.put(obj_id, frame, to_alpha(alpha))
                        else:
                            project.masks.set(obj_id, frame, to_alpha(alpha))
                            if on_saved is not None:
                                on_saved(obj_id, frame)
                        result.written.setdefault(obj_id, []).append(frame)
                        wrote.append(obj_id)
                    done += 1
                    yield Step(frame, done, total, wrote, one.direction)
                    if frame == one.last:
                        break
            finally:
                gen.close()
    except GeneratorExit:
        result.cancelled = True
        if writer is not None:
            writer.flush()
        raise
    except Exception as exc:
        if writer is not None:
            try:
                writer.flush()
            except Exception:
                pass
        setattr(exc, "result", result)  # what was written before the failure (for undo)
        raise
    if writer is not None:
        writer.flush()
    return result


def run_steps(steps: Generator[Step, None, PropagationResult], result: PropagationResult,
              progress: Callable[[int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> PropagationResult:
    """Drive a Step generator to its end: progress(done, total) per frame; cancel() -> True stops
    between frames and keeps what was written (result.cancelled is set)."""
    try:
        for step in steps:
            if progress is not None:
                progress(step.done, step.total)
            if cancel is not None and cancel():
                result.cancelled = True
                break
    finally:
        steps.close()
    return result


def union_frames(spans: list[Span]) -> list[int]:
    """Frames of several same-direction spans, in propagation order."""
    if not spans:
        return []
    forward = spans[0].direction == "forward"
    frames = sorted({f for s in spans for f in s.frames}, reverse=not forward)
    return frames


def split_stop(direction: str, stop) -> dict[str, int | None]:
    if stop is None:
        return {"forward": None, "backward": None}
    if isinstance(stop, (tuple, list)):
        back, fwd = stop
        return {"forward": fwd, "backward": back}
    if direction == "both":
        raise ModelError("for direction 'both' give stop as (backward_stop, forward_stop) or None.")
    return {"forward": stop if direction == "forward" else None,
            "backward": stop if direction == "backward" else None}
