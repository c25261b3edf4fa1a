"""Jobs the model service runs for the window (propagation, matting), shaped like a
workers.jobs.Job so the jobs controller treats both alike: state, progress rate, cancel."""

from __future__ import annotations

import time
from typing import Any


class ServiceTask:
    """A job run by the model service; `on_end()` is called once when it finishes."""

    def __init__(self, service, kind: str, on_end):
        self.service, self.kind, self.on_end = service, kind, on_end
        self.request_id: int | None = None
        self.before: dict = {}  # {(obj_id, frame): 16-bit PNG bytes | None}: what the run replaced
        self.result: Any = None  # the job's answer (a PropagationResult for a propagation)
        self.error: str | None = None
        self.state = "running"
        self.done = self.total = 0
        self.started_at = time.perf_counter()
        self.cancel_requested = False
        self.run_info: dict = {}

    def is_running(self) -> bool:
        return self.state == "running"

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.request_id is not None:
            self.service.cancel(self.request_id)

    def wait(self, timeout=None) -> bool:
        return not self.is_running()

    def rate(self):
        elapsed = time.perf_counter() - self.started_at
        if self.done <= 0 or elapsed <= 0:
            return 0.0, None
        fps = self.done / elapsed
        return fps, (self.total - self.done) / fps if fps > 0 else None

    def finish(self, state: str, result, error: str | None = None) -> None:
        if self.state != "running":
            return
        self.state, self.result = state, result
        if error:
            self.error = error
        self.on_end()


class PropagationTask(ServiceTask):
    """A propagation run: a Job snapshots the masks it may replace, then the service propagates."""

    def __init__(self, service, on_end, obj_ids, start, direction, stop):
        super().__init__(service, "propagate", on_end)
        self.obj_ids, self.start_frame, self.direction, self.stop = obj_ids, start, direction, stop
        self.prep = None  # the snapshot Job
        self.skip = None  # {obj_id: frames} an interrupted run finished (resuming it)
        self.smaller_retry = False  # this run is the one retry at a smaller size after out of GPU memory

    @property
    def key(self):
        """What makes two runs the same job (for resuming)."""
        stop = tuple(self.stop) if isinstance(self.stop, (list, tuple)) else self.stop
        return (tuple(self.obj_ids), self.start_frame, self.direction, stop)

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.request_id is not None:
            self.service.cancel(self.request_id)
        elif self.prep is not None:
            self.prep.cancel()

    def interruption(self, prior: dict | None) -> tuple[dict, int, int | None]:
        """What resuming this run cut short needs (its frames finished so far, with `prior`'s if
        that was the same job interrupted before), the number of finished frames, and the last
        frame written (None when none was)."""
        written = {o: list(fs) for o, fs in (self.result.written if self.result is not None else {}).items()}
        prior = prior if prior and prior["key"] == self.key else None
        done = {o: sorted(set(written.get(o, [])) | set(prior["done"].get(o, []) if prior else []))
                for o in self.obj_ids}
        info = {"key": self.key, "obj_ids": list(self.obj_ids), "start": self.start_frame,
                "direction": self.direction, "stop": self.stop, "done": done}
        last = [fs[-1] for fs in written.values() if fs]
        return info, sum(len(v) for v in done.values()), last[0] if last else None
