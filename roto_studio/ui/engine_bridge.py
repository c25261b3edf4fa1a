"""Qt signals over the engine (roto_studio.models.engine via roto_studio.workers.service).

The one place in ui/ that knows the engine's call shapes. Nothing here imports torch: the
engine (and with it the backend) is created on the first request, in a worker thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback

from PySide6.QtCore import QObject, Signal

from roto_studio.workers.jobs import plain_message

log = logging.getLogger(__name__)


class EngineBridge(QObject):
    maskReady = Signal(int, str, int, object)  # request id, obj_id, frame, alpha (HxW float32)
    requestFailed = Signal(int, str)  # request id, message
    backendChanged = Signal(str)  # name of the backend in use

    def __init__(self, project, backend: str = "auto", device: str | None = None, parent=None):
        super().__init__(parent)
        self.project = project
        self.backend = backend
        self.device = device
        self._engine = None
        self._engine_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending = None  # newest interactive request: (id, obj_id, frame, prompt)
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="roto-prompts", daemon=True)
        self._thread.start()

    # -- the engine (created lazily, in a worker thread)
    def engine(self):
        with self._engine_lock:
            if self._engine is None:
                from roto_studio.models.engine import Engine

                self._engine = Engine(self.project, backend=self.backend, device=self.device)
                name = getattr(self._engine, "backend_name", None) or self.backend
                self.backendChanged.emit(str(name))
            return self._engine

    def set_backend(self, backend: str, device: str | None = None) -> None:
        with self._engine_lock:
            if (backend, device) != (self.backend, self.device):
                self.backend, self.device = backend, device
                self._close_engine()

    def _close_engine(self) -> None:
        if self._engine is not None and hasattr(self._engine, "close"):
            try:
                self._engine.close()
            except Exception:  # noqa: BLE001
                log.warning("closing the engine failed", exc_info=True)
        self._engine = None

    # -- interactive prompts: newest wins
    def request(self, obj_id: str, frame: int, prompt) -> int:
        """Ask for obj_id's mask on frame from `prompt` (core FramePrompt); returns a request id.
        An older request that has not started yet is dropped."""
        rid = next(self._ids)
        with self._cond:
            self._pending = (rid, obj_id, int(frame), prompt)
            self._cond.notify()
        return rid

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                rid, obj_id, frame, prompt = self._pending
                self._pending = None
            try:
                alpha = self.engine().prompt(obj_id, frame, prompt)
            except Exception as exc:  # noqa: BLE001
                log.error("prompt failed:\n%s", traceback.format_exc())
                self.requestFailed.emit(rid, plain_message(exc, "segmenting"))
                continue
            self.maskReady.emit(rid, obj_id, frame, alpha)

    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None

    # -- propagation (called inside a Job's thread)
    def propagate(self, obj_ids, frame: int, direction: str, first: int, last: int, on_frame, cancelled):
        """Blocking: propagate from `frame` ('forward' | 'backward' | 'both') within [first, last];
        on_frame(frame) after each frame is written to the mask store; stops when cancelled()."""
        return self.engine().propagate(obj_ids, frame, direction=direction, frame_range=(first, last),
                                       on_frame=on_frame, cancel=cancelled)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(2.0)
        with self._engine_lock:
            self._close_engine()
