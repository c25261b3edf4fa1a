"""Qt signals over the segmentation engine (roto_studio.models.engine).

The one place in ui/ that knows the engine's call shapes. One model thread owns the engine (it is
not thread-safe, and torch's inference mode is per thread): interactive prompts go to it with
the newest one winning, and propagation runs in it too, while the caller (a Job thread) waits
and relays progress. Nothing here imports torch: the engine and its backend are built on the
first request, inside the model thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback

from PySide6.QtCore import QObject, Signal

from roto_studio.workers.jobs import plain_message

log = logging.getLogger(__name__)


def to_model_prompt(fp):
    """core FramePrompt (points as (x, y, label)) -> models.base.Prompt."""
    from roto_studio.models.base import Prompt

    return Prompt(points=[(float(x), float(y)) for x, y, _ in fp.points],
                  labels=[int(lab) for _, _, lab in fp.points],
                  box=tuple(fp.box) if fp.box is not None else None)


class _Task:
    def __init__(self, fn):
        self.fn = fn
        self.done = threading.Event()
        self.result = None
        self.error: BaseException | None = None


class EngineBridge(QObject):
    maskReady = Signal(int, str, int, object)  # request id, obj_id, frame, alpha (HxW float32)
    requestFailed = Signal(int, str)  # request id, message
    backendChanged = Signal(str)  # what the engine uses, in words

    def __init__(self, project, backend: str = "auto", device: str | None = None, parent=None):
        super().__init__(parent)
        self.project = project
        self.backend = backend
        self.device = device
        self._engine = None
        self._ids = itertools.count(1)
        self._pending = None  # newest interactive request: (id, obj_id, frame, prompt)
        self._tasks: list[_Task] = []
        self._cond = threading.Condition()
        self._stop = False
        self._working = False
        self._thread = threading.Thread(target=self._loop, name="roto-model", daemon=True)
        self._thread.start()

    # -- model thread only
    def _get_engine(self):
        if self._engine is None:
            from roto_studio.models.engine import Engine

            self._engine = Engine(self.project, backend=self.backend, device=self.device)
            self.backendChanged.emit(self._engine.describe())
        return self._engine

    def _context(self):
        from roto_studio.models.device import inference_context

        return inference_context(self._engine.device if self._engine is not None else None)

    def _close_engine(self) -> None:
        if self._engine is not None:
            try:
                self._engine.close()
            except Exception:  # noqa: BLE001
                log.warning("closing the engine failed", exc_info=True)
        self._engine = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._tasks and not self._stop:
                    self._cond.wait()
                if self._stop:
                    break
                # interactive work first: the artist is waiting for it
                req, task = (self._pending, None) if self._pending is not None else (None, self._tasks.pop(0))
                self._pending = None
                self._working = True
            try:
                if req is not None:
                    self._answer(*req)
                else:
                    try:
                        task.result = task.fn()
                    except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                        task.error = exc
                    finally:
                        task.done.set()
            finally:
                with self._cond:
                    self._working = False
        self._close_engine()

    def _answer(self, rid: int, obj_id: str, frame: int, fp) -> None:
        try:
            engine = self._get_engine()
            with self._context():
                alpha = engine.prompt(obj_id, frame, to_model_prompt(fp))
        except Exception as exc:  # noqa: BLE001
            log.error("prompt failed:\n%s", traceback.format_exc())
            self.requestFailed.emit(rid, plain_message(exc, "segmenting"))
            return
        self.maskReady.emit(rid, obj_id, frame, alpha)

    def _submit(self, fn):
        """Run fn() in the model thread; block the calling (worker) thread until it is done."""
        task = _Task(fn)
        with self._cond:
            if self._stop:
                raise RuntimeError("the model thread has stopped")
            self._tasks.append(task)
            self._cond.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result

    # -- any thread
    def request(self, obj_id: str, frame: int, prompt) -> int:
        """Ask for obj_id's mask on frame from `prompt` (core FramePrompt with every click of that
        frame); returns a request id. An older request that has not started yet is dropped."""
        rid = next(self._ids)
        with self._cond:
            self._pending = (rid, obj_id, int(frame), prompt)
            self._cond.notify()
        return rid

    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or bool(self._tasks) or self._working

    def set_backend(self, backend: str, device: str | None = None) -> None:
        if (backend, device) == (self.backend, self.device):
            return
        self.backend, self.device = backend, device
        self._submit(self._close_engine)

    def propagate(self, obj_ids, start: int, direction: str, first: int, last: int, on_frame, cancelled,
                  on_write=None):
        """Blocking (call it from a Job thread): propagate from `start` ('forward' | 'backward' |
        'both') within [first, last]. on_frame(frame, done, total) after each frame is stored;
        on_write(obj_id, frame, old_alpha) before a mask is replaced (for undo). Stops between
        frames when cancelled() is true; finished frames stay. Returns the engine's result."""
        stop = {"forward": last, "backward": first, "both": (first, last)}[direction]

        def run():
            engine = self._get_engine()
            with self._context():
                steps = engine.propagate_steps(obj_ids, start, direction, stop, on_write=on_write)
                try:
                    for step in steps:
                        on_frame(step.frame, step.done, step.total)
                        if cancelled():
                            break
                finally:
                    steps.close()

        return self._submit(run)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(10.0)
