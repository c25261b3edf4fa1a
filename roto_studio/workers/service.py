"""The model service: one thread owns a device's models; the GUI talks to it through a queue and
Qt signals. No widgets.

- Requests queue to the model thread. Interactive prompts: the newest request for an
  (object, frame) wins (an older one still waiting is dropped, `dropped` is emitted). Prefetches:
  only the newest waits.
- Propagation reports progress per frame, can be cancelled between frames and keeps the frames it
  finished. While it runs, waiting prompts are answered between frames, so clicking stays live.
- torch inference mode and autocast (CUDA) are entered inside the model thread.
- Jobs (job()): fn(engine, progress, cancelled, ...) runs in the model thread with per-frame
  progress and cancel (matting); clicks that arrive meanwhile are answered between frames.
- Out of GPU memory: `failed(request, message, retry_options)`; call retry(request, option) with
  'offload', 'smaller' or 'cpu' to rebuild the backends that way and run the request again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from roto_studio.core.errors import RotoError

if TYPE_CHECKING:
    from roto_studio.models.engine import Engine

log = logging.getLogger(__name__)


_leak: bool | None = None


def emit(signal, *args) -> None:
    """signal.emit(*args), working around PySide6 6.12 on Python < 3.12: there each Python-side
    emit() drops one reference to True, and after enough emits the interpreter aborts
    ("bool_dealloc"). The lost reference is given back (a no-op where emit is fixed)."""
    global _leak
    if _leak is None:
        _leak = _emit_leaks_true()
    signal.emit(*args)
    if _leak:
        _incref(True)


def _incref(obj) -> None:
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _emit_leaks_true() -> bool:
    import sys

    if sys.version_info >= (3, 12):  # bools are immortal there
        return False

    class Probe(QObject):
        sig = Signal(int)

    probe = Probe()
    before = sys.getrefcount(True)
    probe.sig.emit(0)
    after = sys.getrefcount(True)
    if after < before:
        _incref(True)
        return True
    return False


class _Thread(QThread):
    """A Qt thread (signals emitted from it are queued to the GUI thread safely)."""

    def __init__(self, target):
        super().__init__()
        self._target = target

    def run(self):
        threading.current_thread().name = "roto-model-service"
        self._target()


@dataclass
class _Request:
    id: int
    kind: str  # 'prompt' | 'propagate' | 'call' | 'job' | 'prefetch' | 'retry'
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    cancelled: bool = False

    @property
    def key(self):
        return (self.args[0], self.args[1]) if self.kind == "prompt" else None


class ModelService(QObject):
    ready = Signal(str)  # what backend is in use and why (once the engine is built)
    promptDone = Signal(int, str, int, object)  # request id, obj_id, frame, alpha (HxW float32)
    progress = Signal(int, int, int)  # job id, frames done, frames total
    frameWritten = Signal(int, int, object)  # job id, frame, [obj_id computed on it]
    frameSaved = Signal(int, str, int)  # job id, obj_id, frame: that mask is in the store now
    jobFinished = Signal(int, object)  # job id, engine.PropagationResult (result.cancelled when cancelled)
    callDone = Signal(int, object)  # request id, return value of a call()
    jobDone = Signal(int, str, object)  # job() id, 'succeeded' | 'cancelled', fn's return value (None if cancelled)
    failed = Signal(int, str, object)  # request id, one-line message, retry options (tuple of str)
    dropped = Signal(int)  # request id superseded by a newer prompt before it ran
    busy = Signal(int)  # 1 while a request runs, 0 when idle

    def __init__(self, engine_factory: Callable[[], Any] | None = None, project=None, backend: str = "auto",
                 weights=None, parent: QObject | None = None):
        """engine_factory() -> models.engine.Engine, called in the model thread; by default
        Engine.local(project, backend=backend, weights=weights)."""
        super().__init__(parent)
        if engine_factory is None:
            if project is None:
                raise ValueError("give an engine_factory or a project")

            def engine_factory():
                from roto_studio.models.engine import Engine

                return Engine.local(project, backend=backend, weights=weights)
        self._factory = engine_factory
        self._engine: Engine | None = None
        self._ids = itertools.count(1)
        self._queue: list[_Request] = []
        self._cond = threading.Condition()
        self._current: _Request | None = None
        self._failed: dict[int, _Request] = {}
        self._stopping = False
        self._look: int | None = None
        self._thread = _Thread(self._loop)
        self._thread.setObjectName("roto-model-service")
        self._thread.start()

    # ------------------------------------------------------------------ requests (any thread)
    def prompt(self, obj_id: str, frame: int, prompt) -> int:
        """Ask for obj_id's alpha on frame from `prompt` (all clicks on that frame so far)."""
        return self._submit("prompt", (obj_id, int(frame), prompt))

    def propagate(self, obj_ids, start: int, direction: str = "forward", stop=None, skip=None) -> int:
        """skip {obj_id: frames}: resuming an interrupted run, those frames are kept (not written)."""
        return self._submit("propagate", (list(obj_ids), int(start), direction, stop), {"skip": skip})

    def call(self, fn: Callable, *args, **kwargs) -> int:
        """Run fn(engine, *args, **kwargs) in the model thread; callDone(id, value) answers."""
        return self._submit("call", (fn,) + args, kwargs)

    def job(self, fn: Callable, *args, **kwargs) -> int:
        """Run fn(engine, progress, cancelled, *args, **kwargs) in the model thread.

        progress(done, total) emits `progress`; cancelled() -> True once cancel(id) was called
        (fn stops between frames, keeping what it finished, and may raise core.errors.Cancelled).
        jobDone(id, state, value) answers; an error answers with failed(id, message, ())."""
        return self._submit("job", (fn,) + args, kwargs)

    def prefetch(self, frames) -> int:
        return self._submit("prefetch", (list(frames),))

    def look(self, frame: int) -> None:
        """The artist shows `frame`: while idle, the model thread embeds its neighbours
        (engine.ahead; a look at another frame replaces what was not done yet)."""
        with self._cond:
            self._look = int(frame)
            self._cond.notify_all()

    def cancel(self, request_id: int | None = None) -> None:
        """Cancel the running job (or a given request, running or waiting); finished frames stay."""
        with self._cond:
            cur = self._current
            if cur is not None and (request_id is None or cur.id == request_id):
                cur.cancelled = True
            for r in list(self._queue):
                if request_id is not None and r.id == request_id:
                    self._queue.remove(r)
                    self._emit_cancelled(r)

    def retry(self, request_id: int, option: str) -> int:
        """Rebuild the backends with `option` ('offload', 'smaller', 'cpu') and run a failed request again."""
        with self._cond:
            failed = self._failed.pop(request_id, None)
        if failed is None:
            raise KeyError(f"no failed request {request_id}")
        while failed.kind == "retry":  # retrying a retry: run the first request again
            failed = failed.args[1]
        return self._submit("retry", (option, failed))

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (self._current is not None)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel everything, finish the current frame, close the models and end the thread."""
        with self._cond:
            self._stopping = True
            if self._current is not None:
                self._current.cancelled = True
            self._queue.clear()
            self._cond.notify_all()
        self._thread.wait(int(timeout * 1000))

    def is_running(self) -> bool:
        return self._thread.isRunning()

    # ------------------------------------------------------------------ queue
    def _submit(self, kind: str, args: tuple, kwargs: dict | None = None) -> int:
        req = _Request(next(self._ids), kind, args, kwargs or {})
        dropped = []
        with self._cond:
            if self._stopping:
                raise RuntimeError("the model service has stopped")
            if kind == "prompt":
                dropped = [r for r in self._queue if r.kind == "prompt" and r.key == req.key]
            elif kind == "prefetch":
                dropped = [r for r in self._queue if r.kind == "prefetch"]
            for r in dropped:
                self._queue.remove(r)
            self._queue.append(req)
            self._cond.notify_all()
        for r in dropped:
            emit(self.dropped, r.id)
        return req.id

    def _take(self, block: bool = True, interactive_only: bool = False, idle=None) -> _Request | None:
        """The next request; idle() -> True: return None instead of waiting (work ahead to do)."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                for r in self._queue:
                    if not interactive_only or r.kind == "prompt":
                        self._queue.remove(r)
                        return r
                if not block or (idle is not None and idle()):
                    return None
                self._cond.wait()

    def _ahead_waiting(self) -> bool:
        """Called holding the lock: a look to apply, or neighbours left to embed."""
        engine = self._engine
        return engine is not None and (self._look is not None or engine.ahead.pending())

    def _work_ahead(self) -> None:
        """One neighbouring embedding (engine.ahead), between requests; errors only logged."""
        engine = self._engine
        assert engine is not None  # _ahead_waiting() said there is work ahead: the engine is built
        with self._cond:
            look, self._look = self._look, None
        try:
            if look is not None:
                engine.ahead.look(look)
            if engine.ahead.pending():
                with self._context(engine):
                    engine.ahead.step()
        except Exception:  # noqa: BLE001 - only a head start; the click itself says what fails
            log.debug("embedding ahead failed", exc_info=True)
            engine.ahead.cancel()

    # ------------------------------------------------------------------ the model thread
    def _loop(self) -> None:
        try:
            while True:
                req = self._take(idle=self._ahead_waiting)
                if req is None:
                    if self._stopping:
                        break
                    self._work_ahead()
                    continue
                with self._cond:
                    self._current = req
                emit(self.busy, 1)
                try:
                    self._handle(req)
                finally:
                    with self._cond:
                        self._current = None
                    emit(self.busy, 0)
        finally:
            if self._engine is not None:
                try:
                    self._engine.close()
                except Exception:  # closing must not raise out of the thread
                    log.exception("closing the engine")

    def _get_engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine = self._factory()
            emit(self.ready, engine.describe())
            return engine
        return self._engine

    def _context(self, engine):
        from roto_studio.models.device import inference_context

        return inference_context(engine.device)

    def _handle(self, req: _Request) -> None:
        try:
            engine = self._get_engine()
            with self._context(engine):
                self._dispatch(engine, req)
        except Exception as exc:  # report, never kill the thread
            self._report(req, exc)

    def _dispatch(self, engine, req: _Request) -> None:
        if req.kind == "prompt":
            obj_id, frame, prompt = req.args
            alpha = engine.prompt(obj_id, frame, prompt, record=False)  # the GUI thread records prompts
            emit(self.promptDone, req.id, obj_id, frame, alpha)
        elif req.kind == "propagate":
            self._propagate(engine, req)
        elif req.kind == "call":
            fn, *args = req.args
            emit(self.callDone, req.id, fn(engine, *args, **req.kwargs))
        elif req.kind == "job":
            self._job(engine, req)
        elif req.kind == "prefetch":
            engine.prefetch(req.args[0])
        elif req.kind == "retry":
            option, original = req.args
            engine.retry(option)
            emit(self.ready, engine.describe())
            original.cancelled = False
            with self._cond:
                self._current = original
            self._dispatch(engine, original)

    def _propagate(self, engine, req: _Request) -> None:
        from roto_studio.models.engine import PropagationResult

        obj_ids, start, direction, stop = req.args
        result = PropagationResult()
        steps = engine.propagate_steps(obj_ids, start, direction, stop, result=result,
                                       on_saved=lambda o, f: emit(self.frameSaved, req.id, o, f),
                                       skip=req.kwargs.get("skip"))
        try:
            for step in steps:
                emit(self.frameWritten, req.id, step.frame, list(step.written))
                emit(self.progress, req.id, step.done, step.total)
                if req.cancelled:
                    result.cancelled = True
                    break
                self._answer_waiting(engine, req)  # clicks that arrived meanwhile
        except Exception as exc:
            # what was written before the failure (_report hands it on), as Engine.propagate does
            setattr(exc, "result", getattr(exc, "result", result))
            raise
        finally:
            steps.close()
        if req.cancelled:
            result.cancelled = True
        emit(self.jobFinished, req.id, result)

    def _answer_waiting(self, engine, req: _Request) -> None:
        """Answer clicks that arrived while `req` runs (called between two frames)."""
        while not req.cancelled:
            waiting = self._take(block=False, interactive_only=True)
            if waiting is None:
                break
            try:
                self._dispatch(engine, waiting)
            except Exception as exc:
                self._report(waiting, exc)

    def _job(self, engine, req: _Request) -> None:
        from roto_studio.core.errors import Cancelled

        fn, *args = req.args

        def progress(done: int, total: int) -> None:
            emit(self.progress, req.id, int(done), int(total))
            self._answer_waiting(engine, req)

        try:
            value = fn(engine, progress, lambda: req.cancelled, *args, **req.kwargs)
        except Cancelled:
            emit(self.jobDone, req.id, "cancelled", None)
            return
        emit(self.jobDone, req.id, "cancelled" if req.cancelled else "succeeded", value)

    def _emit_cancelled(self, req: _Request) -> None:
        if req.kind in ("propagate", "retry"):
            from roto_studio.models.engine import PropagationResult

            emit(self.jobFinished, req.id, PropagationResult(cancelled=True))
        elif req.kind == "job":
            emit(self.jobDone, req.id, "cancelled", None)
        elif req.kind == "prompt":
            emit(self.dropped, req.id)

    def _report(self, req: _Request, exc: Exception) -> None:
        retry = tuple(getattr(exc, "retry", ()) or ())
        if retry:
            with self._cond:
                self._failed[req.id] = req
        if isinstance(exc, RotoError):
            message = str(exc)
        else:
            log.error("model service: %s", "".join(traceback.format_exception(exc)))
            message = f"internal error in the model thread ({type(exc).__name__}: {exc}); see the log."
        partial = getattr(exc, "result", None)
        if partial is not None and req.kind in ("propagate", "retry"):
            partial.cancelled, partial.error, partial.retry = True, message, retry
            emit(self.jobFinished, req.id, partial)  # what was written before the failure, and the failure
        emit(self.failed, req.id, message, retry)
