"""Long jobs off the GUI thread, with progress and cancel, reported through Qt signals.

Job runs `fn(progress, cancelled)` in a Python thread: `progress(done, total, info=None)` reports,
`cancelled()` says whether the user asked to stop (checked by fn between frames). Signals reach
the GUI thread queued, so slots there may touch widgets. No widgets here.

FrameReader decodes frames for scrubbing in its own thread: the newest request wins, and the
frames around it are prefetched into the media's cache while the user looks.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any
from enum import Enum

from PySide6.QtCore import QObject, Signal

from roto_studio.core.errors import Cancelled, RotoError

log = logging.getLogger(__name__)


class JobKind(str, Enum):
    """The window's kinds of job; the value is what the progress row and the jobEnded signal say."""

    PROPAGATE = "propagate"
    MATTE = "matte"
    EXPORT = "export"
    CLEAN_PLATE = "clean plate"
    TRACK = "track"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def plain_message(exc: BaseException, what: str = "the job") -> str:
    """One line for the user; the traceback goes to the log only."""
    if isinstance(exc, RotoError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{what} ran out of memory; try a smaller range or close other programs."
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"{what} failed: {exc.strerror or exc}{where}."
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{what} failed: {text}"


def mask_area(alpha) -> int:
    """Pixels of a soft mask at or above one half."""
    import numpy as np

    return int(np.count_nonzero(alpha >= 0.5))


def attention_frames(store, obj_id: str, frames, numbers, change: float = 0.3, cancelled=None) -> list[int]:
    """Frames of `frames` (those a propagation wrote, in the order it wrote them) whose mask area
    jumps versus the frame they were propagated from: by more than `change` (0.3 = 30%) of that
    frame's area, or to / from an empty mask. The frame propagated from is the plate neighbour
    written just before, or (at the start of a run) the neighbour the run did not write.
    Reads masks from the store (cheap: one decode per frame)."""
    frames = [int(f) for f in frames]
    order = {f: k for k, f in enumerate(frames)}
    index = {f: i for i, f in enumerate(numbers)}
    areas: dict[int, int | None] = {}

    def area(f):
        if f not in areas:
            a = store.get(obj_id, f)
            areas[f] = None if a is None else mask_area(a)
        return areas[f]

    flagged = []
    for f in frames:
        if cancelled is not None and cancelled():
            break
        i = index.get(f)
        if i is None:
            continue
        near = [numbers[j] for j in (i - 1, i + 1) if 0 <= j < len(numbers)]
        source = [n for n in near if n in order and order[n] < order[f]] or [n for n in near if n not in order]
        if not source:
            continue
        a0, a1 = area(source[0]), area(f)
        if a0 is None or a1 is None or (a0 == 0 and a1 == 0):
            continue
        if a0 == 0 or a1 == 0 or abs(a1 - a0) > change * a0:
            flagged.append(f)
    return sorted(flagged)


class Job(QObject):
    progress = Signal(int, int, object)  # done, total, info
    succeeded = Signal(object)  # fn's result
    failed = Signal(str)  # plain message
    cancelled = Signal()
    ended = Signal()  # after any of the three above

    def __init__(self, fn, name: str = "job", parent=None):
        super().__init__(parent)
        self.fn = fn
        self.name = name
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.result = None
        self.error: str | None = None
        self.done = 0
        self.total = 0
        self.started_at = 0.0
        self.state = "new"  # new, running, succeeded, failed, cancelled
        self.run_info: dict[str, Any] = {}  # what the window shows at the end (e.g. out_dir)

    # -- control (GUI thread)
    def start(self) -> "Job":
        self.state = "running"
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"roto-{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()

    def rate(self) -> tuple[float, float | None]:
        """(items per second, seconds left or None)."""
        elapsed = time.perf_counter() - self.started_at
        if self.done <= 0 or elapsed <= 0:
            return 0.0, None
        fps = self.done / elapsed
        left = (self.total - self.done) / fps if self.total >= self.done and fps > 0 else None
        return fps, left

    # -- worker thread
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int, info=None) -> None:
        self.done, self.total = int(done), int(total)
        self.progress.emit(self.done, self.total, info)

    def _run(self) -> None:
        try:
            self.result = self.fn(self._progress, self.is_cancelled)
        except Cancelled:
            self.state = "cancelled"
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a plain message
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self.error = plain_message(exc, self.name)
            self.state = "failed"
        else:
            self.state = "cancelled" if self._cancel.is_set() else "succeeded"
        if self.state == "succeeded":
            self.succeeded.emit(self.result)
        elif self.state == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(self.error)
        self.ended.emit()


class FrameReader(QObject):
    """Loads what the canvas shows for a frame in a thread; the newest request wins.

    load(frame) -> anything (e.g. the image and the masks), emitted with frameReady;
    prefetch(frame) warms caches for the frames around the last one shown."""

    frameReady = Signal(int, object)  # frame, load(frame)
    failed = Signal(int, str)

    def __init__(self, load, numbers, prefetch=None, ahead: int = 3, parent=None):
        super().__init__(parent)
        self.load = load
        self.numbers = list(numbers)
        self.prefetch = prefetch
        self.ahead = ahead
        self._want: int | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._in_flight = 0  # frames emitted but not yet received by the GUI thread
        self.frameReady.connect(self._received)  # first slot: runs with the window's, queued
        self._thread = threading.Thread(target=self._loop, name="roto-frames", daemon=True)
        self._thread.start()

    def request(self, frame: int) -> None:
        with self._cond:
            self._want = int(frame)
            self._cond.notify()

    def idle(self) -> bool:
        """Nothing asked for is still loading or on its way to the GUI thread."""
        with self._cond:
            return self._want is None and not self._busy and self._in_flight == 0

    def _received(self, frame: int, result) -> None:
        with self._cond:
            self._in_flight -= 1

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(2.0)

    def _loop(self) -> None:
        index = {f: i for i, f in enumerate(self.numbers)}
        while True:
            with self._cond:
                while self._want is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                frame, self._want = self._want, None
                self._busy = True
            try:
                result = self.load(frame)
            except Exception as exc:  # noqa: BLE001
                log.error("loading frame %s failed:\n%s", frame, traceback.format_exc())
                self.failed.emit(frame, plain_message(exc, f"reading frame {frame}"))
                result = None
            with self._cond:
                if result is not None:
                    self._in_flight += 1
                self._busy = False
            if result is not None:
                self.frameReady.emit(frame, result)
            # prefetch neighbours unless a new request came in
            i = index.get(frame)
            if i is None or self.prefetch is None:
                continue
            for j in (i + 1, i - 1, *range(i + 2, i + 1 + self.ahead)):
                with self._cond:
                    if self._want is not None or self._stop:
                        break
                if 0 <= j < len(self.numbers):
                    try:
                        self.prefetch(self.numbers[j])
                    except Exception:  # noqa: BLE001 - shown when actually requested
                        pass
