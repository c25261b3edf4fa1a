"""The segmentation engine the GUI (through workers.service) and the CLI both drive. No Qt.

- prompt(): clicks / box / mask on one frame -> the object's alpha on that frame, stored in the
  project's mask store, the prompt recorded in project.prompts (a keyframe).
- propagate(): from a frame forward, backward or both. For each object the span written ends just
  before its next keyframe in that direction (so a correction on a later frame re-propagates only
  what it affects), never touches frames in the object's locked ranges, writes soft alpha frame by
  frame (finished frames stay when cancelled) and reports what it wrote (for undo).
- track_steps(): SAM 3 video follows phrases through the shot, every instance an object, written
  by the same loop as propagate (models.propagation.write_steps: locks, cancelling, the writer).

The video propagator is conditioned on the stored masks of the keyframes, so what propagates is
exactly what the artist sees on those frames (brush fixes included).
"""

from __future__ import annotations

import bisect
from functools import partial
from typing import TYPE_CHECKING, Callable, Generator, Iterable, Sequence

import numpy as np

from roto_studio.core.errors import ModelError, ProjectError
from roto_studio.core.masks import to_alpha
from roto_studio.models import backends as backends_mod
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import Backends, ImageSegmenter, VideoPropagator
from roto_studio.models.propagation import (DIRECTIONS, MaskWriter, Pass, PropagationResult, Span, Step,
                                            run_steps, split_stop, union_frames, write_steps)

if TYPE_CHECKING:
    from roto_studio.models.frame_stream import StreamFrames
    from roto_studio.models.text.tracking import NewObject

__all__ = ["DIRECTIONS", "Engine", "MaskWriter", "PropagationResult", "Span", "Step"]


class Engine:
    """Owns one project's backends: an ImageSegmenter for clicks, a VideoPropagator for tracking.

    Not thread-safe: use it from one thread (workers.service runs it in the model thread).
    """

    def __init__(self, project, backends: Backends, media=None, own_media: bool | None = None):
        """backends: the models.base.Backends this engine drives: a local set (Engine.local), the
        caller's own models (Engine.given) or a model server session (client.remote). The engine
        writes the project whichever it is. own_media: close the media with the engine (default:
        when it opened them itself)."""
        self.project = project
        self._media = media
        self._colour = self._colour_settings()
        self._own_media = media is None if own_media is None else bool(own_media)
        self.helpers: dict = {}  # built once per engine by the layers above (text finder, matting models)
        self._image: ImageSegmenter | None = None
        self._video: VideoPropagator | None = None
        self.backends = backends
        self.plan = backends.plan
        self._video_started = False
        self._stream: StreamFrames | None = None
        self.write_behind = 4  # masks queued to the background writer during propagation (0: write inline)
        self._last: dict[tuple[str, int], tuple[Prompt, np.ndarray | None]] = {}  # for refinement
        from roto_studio.models.ahead import Ahead

        self.ahead = Ahead(self)  # neighbours' embeddings, computed between requests (workers.service)

    @classmethod
    def local(cls, project, backend: str = "auto", weights=None, model: str | None = None,
              device: str | None = None, media=None, plan: backends_mod.BackendPlan | None = None) -> Engine:
        """An engine over models in this process: `plan`, else the one backends.choose makes of
        backend, weights, model and device."""
        plan = plan or backends_mod.choose(backend, weights=weights, model=model, device=device)
        return cls(project, backends_mod.BackendSet(plan, spill_root(project)), media=media)

    @classmethod
    def given(cls, project, image: ImageSegmenter | None = None, video: VideoPropagator | None = None,
              media=None, plan: backends_mod.BackendPlan | None = None, own_media: bool | None = None) -> Engine:
        """An engine over models the caller built (they are not rebuilt after out of memory)."""
        return cls(project, backends_mod.GivenBackends(image, video, plan), media=media, own_media=own_media)

    # ---------------------------------------------------------------- plumbing
    @property
    def spill_dir(self):
        """Where SAM 2 spills memory: the project's cache folder (the user cache folder while the
        project is not on disk or cannot be written). Spill folders of crashed runs there are removed."""
        return spill_root(self.project)

    @property
    def media(self):
        if self._media is None:
            self._media = self.project.open_media()
            self._colour = self._colour_settings()
        elif self._colour != self._colour_settings() and hasattr(self._media, "configure_colour"):
            # the artist chose another colour space or view: the models see what the canvas shows
            wanted = self._colour = self._colour_settings()
            self._media.configure_colour(self._media.colour_config, *wanted)
        return self._media

    def _colour_settings(self) -> tuple:
        settings = getattr(self.project, "settings", None) or {}
        return tuple(settings.get(k) or None for k in ("colorspace", "display", "view"))

    @property
    def image(self) -> ImageSegmenter:
        if self._image is None:
            self._image = self.backends.image
        return self._image

    @property
    def video(self) -> VideoPropagator:
        if self._video is None:
            self._video = self.backends.video
        return self._video

    @property
    def server_session(self):
        """The model server session the backends run in, or None (models in this process)."""
        return self.backends.session

    @property
    def device(self):
        """DeviceChoice when a torch backend is in use (for inference contexts), else None."""
        return self.backends.device

    def describe(self) -> str:
        return self.plan.describe()

    @property
    def frames(self) -> list[int]:
        return list(self.media.frame_numbers)

    def check_frame(self, frame: int) -> int:
        """The frame as an int when the media has it; else ModelError naming the frames it has."""
        frame = int(frame)
        numbers = self.media.frame_numbers
        i = bisect.bisect_left(numbers, frame)
        if i >= len(numbers) or numbers[i] != frame:
            if not numbers:
                raise ModelError("the media has no frames.")
            raise ModelError(f"frame {frame} is not in the media (frames {numbers[0]}-{numbers[-1]}"
                             f"{', some missing' if len(numbers) != numbers[-1] - numbers[0] + 1 else ''}).")
        return frame

    def image_key(self, frame: int):
        view = getattr(self.media, "view", None)
        return (str(getattr(self.media, "path", id(self.media))), view.key() if view is not None else None,
                int(frame))

    def guarded(self, fn):
        """Call fn(), turning device out-of-memory into DeviceOutOfMemory with retry options."""
        try:
            return fn()
        except Exception as exc:
            err = self.backends.out_of_memory(exc)
            if err is None:
                raise
            raise err from None

    def retry_options(self, where: str) -> tuple[str, ...]:
        """What retry() can do after an out-of-memory on device `where`."""
        return self.backends.retry_options(where)

    def retry(self, option: str) -> None:
        """After running out of memory: rebuild the backends ('offload', 'smaller' or 'cpu'); on a
        model server only 'smaller' (a new server session at a smaller SAM 2 size)."""
        self.backends = self.backends.retried(option)
        self.plan = self.backends.plan
        self._image = self._video = None
        self._video_started = False
        self._last.clear()

    def close(self) -> None:
        self.backends.close()
        self._image = self._video = None
        self._video_started = False
        if self._own_media and self._media is not None and hasattr(self._media, "close"):
            self._media.close()
            self._media = None

    # ---------------------------------------------------------------- single frame
    def set_frame(self, frame: int) -> None:
        """Make `frame` current in the image segmenter (embedding computed or taken from cache)."""
        frame = self.check_frame(frame)
        self.guarded(lambda: self.image.set_image(self.media.read(frame), key=self.image_key(frame)))

    def prefetch(self, frames: Iterable[int]) -> None:
        numbers = set(self.media.frame_numbers)
        pairs = [(self.image_key(f), self.media.read(f)) for f in frames if f in numbers]
        if pairs:
            self.guarded(lambda: self.image.prefetch(pairs))

    def prompt(self, obj_id: str, frame: int, prompt: Prompt, refine: bool = True, record: bool = True) -> np.ndarray:
        """The object's alpha on `frame` from clicks / box / mask; stored, and recorded as a keyframe.

        `prompt` holds every click on that frame so far (not just the new one); when it extends
        the previous prompt of the same frame, the previous low-res logits refine the answer.
        An empty prompt clears the frame's keyframe and mask. record=False leaves the project's
        prompts to the caller (the window records them on the GUI thread, through its undo commands).
        """
        self.project.object(obj_id)  # ProjectError when unknown
        frame = self.check_frame(frame)
        if self.project.is_locked(obj_id, frame):
            raise ProjectError(f"frame {frame} of {self.project.object(obj_id).name} is locked; unlock it first.")
        h, w = int(self.media.height), int(self.media.width)
        if prompt.is_empty():
            if record:
                self.project.set_prompt(obj_id, frame, None)
            self.project.masks.delete(obj_id, frame)
            self._last.pop((obj_id, frame), None)
            return np.zeros((h, w), np.float32)
        if prompt.mask is not None:
            mask = to_alpha(prompt.mask)
            if mask.shape != (h, w):
                raise ModelError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the frame is {w}x{h}; "
                                 "give a mask of the frame's size.")
            prompt = Prompt(list(prompt.points), list(prompt.labels), prompt.box, mask)
        if prompt.points and len(prompt.labels) != len(prompt.points):
            prompt = Prompt(list(prompt.points), (list(prompt.labels) + [1] * len(prompt.points))[: len(prompt.points)],
                            prompt.box, prompt.mask)
        if prompt.mask is not None and not prompt.points and prompt.box is None:
            alpha = prompt.mask
            logits = None
        else:
            logits_in = None
            prev = self._last.get((obj_id, frame))
            if refine and prev is not None and _extends(prev[0], prompt):
                logits_in = prev[1]
            try:
                self.set_frame(frame)
                pred = self.guarded(lambda: self.image.predict(prompt, mask_logits=logits_in))
            except dev_oom() as exc:
                if "smaller" not in exc.retry or "smaller" not in self.backends.retries_by_itself:
                    raise
                self.retry("smaller")  # the model server's GPU is full: once more at a smaller size
                self.set_frame(frame)
                pred = self.guarded(lambda: self.image.predict(prompt, mask_logits=None))
            alpha = to_alpha(pred.alpha)
            logits = pred.logits
            self.ahead.look(frame)
            if alpha.shape != (h, w):
                raise ModelError(f"the {self.plan.name} backend answered a {alpha.shape} mask for a {w}x{h} frame.")
        self._last[(obj_id, frame)] = (prompt, logits)
        self.project.masks.set(obj_id, frame, alpha)
        if record:
            self.project.set_prompt(obj_id, frame, prompt.stored())
        return alpha

    def set_mask(self, obj_id: str, frame: int, alpha: np.ndarray, keyframe: bool = True) -> None:
        """Store an edited mask (e.g. a brush fix); as a keyframe it conditions later propagation."""
        self.project.object(obj_id)
        frame = self.check_frame(frame)
        if self.project.is_locked(obj_id, frame):
            raise ProjectError(f"frame {frame} of {self.project.object(obj_id).name} is locked; unlock it first.")
        self.project.masks.set(obj_id, frame, alpha)
        if keyframe:
            old = self.project.prompts.get(obj_id, {}).get(frame)
            self.project.set_prompt(obj_id, frame, old.keyed() if old else Prompt(has_mask=True))
        self._last.pop((obj_id, frame), None)

    def clear_keyframe(self, obj_id: str, frame: int, delete_mask: bool = False) -> None:
        self.project.set_prompt(obj_id, frame, None)
        self._last.pop((obj_id, frame), None)
        if delete_mask:
            self.project.masks.delete(obj_id, frame)

    # ---------------------------------------------------------------- propagation
    def plan_spans(self, obj_ids: Iterable[str], start: int, direction: str = "forward",
                   stop=None) -> tuple[list[Span], dict[str, str]]:
        """The frames each object would get: up to (not including) its next keyframe that way."""
        if direction not in DIRECTIONS:
            raise ModelError(f"unknown direction {direction!r}; use forward, backward or both.")
        start = self.check_frame(start)
        numbers = list(self.media.frame_numbers)
        pos = bisect.bisect_left(numbers, start)
        stops = split_stop(direction, stop)
        spans: list[Span] = []
        skipped: dict[str, str] = {}
        for obj_id in obj_ids:
            name = self.project.object(obj_id).name
            if not self.project.masks.has(obj_id, start):
                skipped[obj_id] = f"{name} has no mask on frame {start}; click on it there first"
                continue
            keys = sorted(f for f in self.project.prompted_frames(obj_id) if f != start)
            for d in (("forward", "backward") if direction == "both" else (direction,)):
                if d == "forward":
                    nxt = [k for k in keys if k > start]
                    end = bisect.bisect_left(numbers, nxt[0]) - 1 if nxt else len(numbers) - 1
                    stop_at = stops[d]
                    if stop_at is not None:
                        end = min(end, bisect.bisect_right(numbers, int(stop_at)) - 1)
                    frames = numbers[pos + 1: end + 1]
                else:
                    prv = [k for k in keys if k < start]
                    end = bisect.bisect_right(numbers, prv[-1]) if prv else 0
                    stop_at = stops[d]
                    if stop_at is not None:
                        end = max(end, bisect.bisect_left(numbers, int(stop_at)))
                    frames = numbers[end:pos][::-1]
                if frames:
                    spans.append(Span(obj_id, d, frames[0], frames[-1], frames))
        return spans, skipped

    def propagate_steps(self, obj_ids: Iterable[str], start: int, direction: str = "forward", stop=None,
                        on_write: Callable[[str, int, np.ndarray | None], None] | None = None,
                        result: PropagationResult | None = None,
                        on_saved: Callable[[str, int], None] | None = None,
                        skip: dict[str, Iterable[int]] | None = None) -> Generator[Step, None, PropagationResult]:
        """Generator form of propagate(): yields a Step per frame; closing it cancels between
        frames (finished frames stay). `result` (given, or the generator's return value) is
        filled in as frames are written. Masks are saved by a background writer (write_behind
        frames queued at most); on_saved(obj_id, frame) is called (from the writer thread) once a
        frame is in the store; when the generator ends or is closed every frame is saved.

        skip {obj_id: frames}: frames a run cut short already finished (resuming it). They are
        computed again, so the model's memory is what an uninterrupted run had, but not written."""
        skip_sets = {o: set(int(f) for f in fs) for o, fs in (skip or {}).items()}
        obj_ids = list(dict.fromkeys(obj_ids))
        spans, skipped = self.plan_spans(obj_ids, start, direction, stop)
        result = result if result is not None else PropagationResult()
        result.spans, result.skipped = spans, skipped
        active = [o for o in obj_ids if o not in skipped]
        if not active:
            reasons = "; ".join(skipped.values()) or "no objects given"
            raise ModelError(f"nothing to propagate: {reasons}.")
        for o in active:
            result.written[o] = []
            result.locked[o] = []
        by_dir = {d: [s for s in spans if s.direction == d] for d in ("forward", "backward")}
        total = sum(len(union_frames(by_dir[d])) for d in by_dir)
        self._condition(active, start, spans)
        passes = []
        for d, todo in by_dir.items():
            if todo:
                last = union_frames(todo)[-1]
                frames = partial(self.video.propagate, start, reverse=d == "backward", stop=last)
                passes.append(Pass(d, frames, {s.obj_id: set(s.frames) for s in todo}, start=start, last=last))
        return (yield from write_steps(self.project, self.guarded, passes, result, total, self.write_behind,
                                       skip_sets, on_write, on_saved))

    def propagate(self, obj_ids: Iterable[str], start: int, direction: str = "forward", stop=None,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool] | None = None,
                  on_write: Callable[[str, int, np.ndarray | None], None] | None = None) -> PropagationResult:
        """Propagate and write the results; progress(done, total) per frame; cancel() -> True
        stops between frames and keeps what was written (result.cancelled is set)."""
        result = PropagationResult()
        if cancel is not None and cancel():
            result.cancelled = True
            return result
        steps = self.propagate_steps(obj_ids, start, direction, stop, on_write=on_write, result=result)
        return run_steps(steps, result, progress, cancel)

    def track_steps(self, tracker, phrases: Sequence[str], start: int, direction: str = "forward",
                    stop: int | None = None, min_score: float = 0.5, new_object: NewObject | None = None,
                    result: PropagationResult | None = None) -> Generator[Step, None, PropagationResult]:
        """SAM 3 video (`tracker`, a Sam3VideoPropagator or the server's) follows `phrases` from
        `start` one way, through the same loop as propagate_steps: a Step per frame (the start
        frame too); closing it cancels between frames, finished frames stay. An instance seen for
        the first time (on the start frame, or appearing later) with a score of at least
        min_score and a non-empty mask gets its object id from new_object(phrase, frame, alpha),
        which stores that first mask (default: a project object named after the phrase, the
        mask its keyframe); its later frames are written as propagated masks, locked frames
        never. result.created: obj_id -> (phrase, first frame)."""
        from roto_studio.models.text import tracking

        result = result if result is not None else PropagationResult()
        track = tracking.PhraseTrack(self, tracker, phrases, start, direction, stop, min_score,
                                     new_object or tracking.keyframed_objects(self), result)
        passes = [Pass(track.direction, track.read, track.wanted)]
        return (yield from track.steps(write_steps(self.project, self.guarded, passes, result, len(track.order),
                                                   self.write_behind)))

    def _condition(self, active: list[str], start: int, spans: list[Span]) -> None:
        """Fresh video session state conditioned on the start masks and the keyframes that bound
        each span (the far side of the span is a keyframe the model may attend to)."""
        if not self._video_started:
            from roto_studio.models.frame_stream import StreamFrames

            # the pass does not fill the shot's frame cache (a model server reads its own frames)
            own = self.backends.reads_own_frames
            self._stream = None if own else StreamFrames(self.media)
            self.guarded(lambda: self.video.start(self._stream or self.media))
            self._video_started = True
        else:
            if self._stream is not None:
                self._stream.clear()  # the colour view may have changed since the last run
            self.guarded(self.video.reset)
        numbers = list(self.media.frame_numbers)
        cond: dict[str, set[int]] = {o: {start} for o in active}
        for s in spans:
            keys = set(self.project.prompted_frames(s.obj_id))
            if s.direction == "forward":
                i = bisect.bisect_right(numbers, s.last)
            else:
                i = bisect.bisect_left(numbers, s.last) - 1
            if 0 <= i < len(numbers) and numbers[i] in keys:
                cond[s.obj_id].add(numbers[i])
        for obj_id in active:
            for f in sorted(cond[obj_id]):
                alpha = self.project.masks.get(obj_id, f)
                if alpha is None:
                    continue
                self.guarded(lambda: self.video.add_prompt(f, obj_id, Prompt(mask=alpha)))


def spill_root(project):
    """The project's usable spill folder, with the folders a crashed run left there removed."""
    from roto_studio.core import spill

    root = spill.usable_spill_root(getattr(project, "folder", None))
    spill.clean_stale(root)
    return root


def dev_oom():
    from roto_studio.models.device import DeviceOutOfMemory

    return DeviceOutOfMemory


def _extends(old: Prompt, new: Prompt) -> bool:
    """True when `new` adds clicks to `old` (same box, old clicks kept in order)."""
    if old.box != new.box or len(new.points) <= len(old.points):
        return False
    n = len(old.points)
    return list(new.points[:n]) == list(old.points) and list(new.labels[:n]) == list(old.labels)
