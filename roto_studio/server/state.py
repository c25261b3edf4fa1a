"""The server's state: the model thread, sessions (one shot's backends) and jobs (streams).

- ModelThread: one thread owns the device; every model call runs there (torch inference mode
  and autocast entered inside), one at a time. A propagation submits one frame at a time, so a
  click from another client is answered between two frames.
- Session: a client's backend plan (SAM 2, Cutie or the CPU fallback) over one shot's frames,
  read by path (PathPolicy) or uploaded (UploadedFrames). Its models come from the ModelManager;
  when the manager unloads one, the session drops what it built on it and rebuilds on next use.
- Job: a background producer (propagation, weights download) feeding a bounded queue of events
  that a client streams as JSON lines; cancel stops it between frames. A session runs one job at
  a time (a second is answered 409); a session idle for longer than idle_s is closed, and its id
  is answered 410 afterwards (so abandoned sessions never fill the server).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

from roto_studio.core import wire
from roto_studio.core.errors import ModelError
from roto_studio.models import backends as backends_mod
from roto_studio.server.frames import FrameCache, ModelRoots, NotFound, PathPolicy, UploadedFrames
from roto_studio.server.manager import ModelManager

log = logging.getLogger(__name__)

MAX_SESSIONS = 64
MAX_JOBS = 32
SESSION_IDLE_S = 3600.0


class Conflict(ModelError):
    """The request does not fit the current state (answered with 409)."""


class TooMany(ModelError):
    """Too many sessions or jobs (answered with 429)."""


class Gone(ModelError):
    """A session closed for being idle too long (answered with 410)."""


EXPIRED_KEPT = 4096  # ids of expired sessions remembered (to answer 410, not 404)


class ModelThread:
    def __init__(self, device_choice=None):
        self.choice = device_choice
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roto-model")

    def run(self, fn: Callable[[], Any], torch: bool = True) -> Any:
        def call():
            if not torch or self.choice is None:
                return fn()
            from roto_studio.models import device as dev

            try:
                with dev.inference_context(self.choice):
                    return fn()
            except Exception as exc:
                if not dev.is_out_of_memory(exc):
                    raise
                dev.free_memory(self.choice.device)  # answered 507, with what the client may retry
                raise dev.out_of_memory_error(exc, self.choice.device) from None

        return self._pool.submit(call).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ManagedBackends(backends_mod.BackendSet):
    """BackendSet whose SAM 2 model (or Cutie propagator) is held by the ModelManager."""

    def __init__(self, plan, manager: ModelManager, session_id: str):
        super().__init__(plan)
        self.manager = manager
        self.session_id = session_id

    @property
    def key(self) -> str | None:
        p = self.plan
        if p.name == "sam2":
            what = f"random:{p.random[0]}@{p.random[1]}" if p.random else str(p.weights or p.model)
            return f"sam2:{what}:size={p.image_size or 'default'}:{p.device or 'auto'}"
        if p.name == "cutie":
            return f"cutie:{p.weights}:{self.session_id}"
        return None

    def _sam2(self):
        if self._sam2_model is None:
            loader = super()._sam2
            key = self.key if self.plan.name == "sam2" else f"sam2-clicks:{self._clicks_model}"
            assert key is not None  # a sam2 plan has a key
            self._sam2_model = self.manager.get(key, loader)
        return self._sam2_model

    @property
    def video(self):
        if self._video is None and self.plan.name == "cutie":
            key = self.key
            assert key is not None  # a cutie plan has a key
            self._video = self.manager.get(key, lambda: super(ManagedBackends, self).video)
        return super().video

    def drop(self) -> None:
        """Forget what was built (the manager unloaded the model); rebuilt on next use."""
        self._image = self._video = self._sam2_model = None


class Session:
    def __init__(self, state: "ServerState", plan, frames, mode: str, media_info: dict):
        self.id = secrets.token_hex(8)
        self.state = state
        self.plan = plan
        self.frames = frames  # FrameSource: server-opened Media or UploadedFrames
        self.mode = mode  # 'path' | 'upload'
        self.media_info = media_info
        self.backends = ManagedBackends(plan, state.manager, self.id)
        self.video_started = False
        self.lost = False  # video state dropped by an unload since the last reset
        self.last_used = time.time()
        self.numbers = set(int(f) for f in frames.frame_numbers)
        self.job: "Job | None" = None  # the job running on this session (one at a time)

    def touch(self) -> None:
        self.last_used = time.time()

    def keys(self) -> set[str]:
        k = self.backends.key
        return {k} if k else set()

    def dropped(self, key: str) -> None:
        if key in self.keys() or key.startswith("sam2-clicks:"):
            if self.video_started:
                self.lost = True
            self.video_started = False
            self.backends.drop()

    def busy(self) -> bool:
        return self.job is not None and self.job.state == "running"

    def claim(self, job: "Job") -> None:
        """Make `job` this session's job; Conflict (409) when another is still running.
        Called under state.lock."""
        if self.busy():
            assert self.job is not None  # busy: a job is running
            raise Conflict(f"this session is busy with a {self.job.kind} job ({self.job.id}); "
                           "wait for it to end or cancel it (POST /v1/jobs/ID/cancel).")
        self.job = job

    def release(self, job: "Job") -> None:
        with self.state.lock:
            if self.job is job:
                self.job = None
        self.touch()

    def check_frame(self, frame: int) -> int:
        if int(frame) not in self.numbers:
            raise NotFound(f"frame {frame} is not in the session's media.")
        return int(frame)

    def video(self):
        """The propagator, started on this session's frames (after a rebuild too)."""
        video = self.backends.video
        if not self.video_started:
            video.start(self.frames)
            self.video_started = True
        return video

    def close(self) -> None:
        video = self.backends.built_video
        if video is not None and hasattr(video, "close"):
            try:
                video.close()
            except Exception:  # noqa: BLE001
                pass
        self.backends.drop()
        if hasattr(self.frames, "close") and self.mode == "path":
            try:
                self.frames.close()
            except Exception:  # noqa: BLE001
                pass


class Job:
    def __init__(self, kind: str, total: int = 0):
        self.id = secrets.token_hex(8)
        self.kind = kind
        self.total = total
        self.done = 0
        self.state = "running"
        self.error: str | None = None
        self.events: queue.Queue = queue.Queue(maxsize=8)
        self.cancel = threading.Event()
        self.created = time.time()
        self.streaming = False
        self.ended = threading.Event()

    def put(self, event: dict, block: bool = True, stall_s: float = 120.0) -> None:
        """Queue an event for the stream; a stream nobody reads for stall_s cancels the job."""
        waited = 0.0
        while True:
            try:
                self.events.put(event, timeout=0.2)
                return
            except queue.Full:
                waited += 0.2
                if waited > stall_s:
                    self.cancel.set()  # the client went away without closing the stream
                if not block or (self.cancel.is_set() and "state" not in event):
                    return

    def finish(self, state: str, error: str | None = None, status: int | None = None,
               retry: tuple = ()) -> None:
        self.state = state
        self.error = error
        end = {"state": state, "done": self.done, "total": self.total}
        if error:
            end["error"] = error
        if status:
            end["status"] = int(status)  # the HTTP status the error would have had (507: out of memory)
        if retry:
            end["retry"] = list(retry)
        # the end event must arrive even when the client stopped reading: make room for it
        while True:
            try:
                self.events.put_nowait(end)
                self.ended.set()
                return
            except queue.Full:
                try:
                    self.events.get_nowait()
                except queue.Empty:
                    pass

    def stream(self) -> Iterator[dict]:
        while True:
            try:
                event = self.events.get(timeout=15.0)
            except queue.Empty:
                yield {"alive": True, "done": self.done, "total": self.total}
                continue
            yield event
            if "state" in event:
                return


class ServerState:
    def __init__(self, token: str, policy: PathPolicy, device_choice=None, budget_bytes: int | None = None,
                 cache_bytes: int = 4 * 2**30, idle_s: float = SESSION_IDLE_S, model_roots=()):
        self.token = token
        self.idle_s = float(idle_s)
        self.model_roots = ModelRoots(model_roots)
        self.expired: dict[str, float] = {}  # session id -> when it expired (oldest first)
        self.policy = policy
        self.choice = device_choice
        self.device = device_choice.device if device_choice is not None else "cpu"
        self.manager = ModelManager(budget_bytes, self.device)
        self.manager.on_unload(self._unloaded)
        self.cache = FrameCache(cache_bytes)
        self.models = ModelThread(device_choice)
        self.sessions: dict[str, Session] = {}
        self.jobs: dict[str, Job] = {}
        self.text_busy: set[str] = set()  # SAM 3 video trackers a track_text job is using
        self.lock = threading.RLock()
        self.started = time.time()

    def _unloaded(self, key: str) -> None:
        with self.lock:
            sessions = list(self.sessions.values())
        for s in sessions:
            s.dropped(key)

    # ---------------------------------------------------------------- sessions
    def open_session(self, backend: str, model: str | None, media: dict, image_size: int | None = None) -> Session:
        self._expire()
        with self.lock:
            if len(self.sessions) >= MAX_SESSIONS:
                raise TooMany(f"the server has {MAX_SESSIONS} open sessions; close some (or restart it).")
        plan = backends_mod.choose(backend, model=model, device=self.device)
        if image_size and plan.name == "sam2":
            from dataclasses import replace

            plan = replace(plan, image_size=int(image_size))
        frames, mode = self._frames_for(media)
        session = Session(self, plan, frames, mode, media)
        with self.lock:
            self.sessions[session.id] = session
        return session

    def _frames_for(self, media: dict):
        """(FrameSource, mode). A path is refused (403) outside the media roots, before anything is
        opened; a path the server cannot open (404) or that is other media (409) is refused too:
        the client then opens the session without a path and uploads the frames."""
        width, height, numbers = media["width"], media["height"], media["frame_numbers"]
        path = media.get("path")
        if not path:
            return UploadedFrames(self.cache, width, height, numbers), "upload"
        real = self.policy.resolve(path)
        from roto_studio.core.media import open_media

        try:
            opened = open_media(real)
        except Exception:  # noqa: BLE001 - say it in one line; the client uploads instead
            raise NotFound("the server cannot open that media; open the session without a path "
                           "and upload the frames.") from None
        if (int(opened.width), int(opened.height)) != (width, height) or list(opened.frame_numbers) != list(numbers):
            opened.close()
            raise Conflict("the server sees other media at that path (size or frames differ); "
                           "upload the frames instead.")
        return opened, "path"

    def session(self, sid: str) -> Session:
        self._expire()
        with self.lock:
            s = self.sessions.get(sid)
            gone = sid in self.expired
        if s is None:
            if gone:
                raise Gone(f"the session expired after {self.idle_s:g} s without a request; open a new one.")
            raise NotFound("no such session (the server may have restarted); open a new one.")
        s.touch()
        return s

    def close_session(self, sid: str) -> None:
        self._expire()
        with self.lock:
            s = self.sessions.pop(sid, None)
            gone = sid in self.expired
        if s is None:
            if gone:
                raise Gone(f"the session expired after {self.idle_s:g} s without a request; it is closed already.")
            raise NotFound("no such session.")
        self.models.run(s.close, torch=False)

    def _expire(self) -> None:
        now = time.time()
        with self.lock:
            old = [s for s in self.sessions.values() if now - s.last_used > self.idle_s and not s.busy()]
            for s in old:
                del self.sessions[s.id]
                self.expired[s.id] = now
            while len(self.expired) > EXPIRED_KEPT:
                del self.expired[next(iter(self.expired))]
            done = [j for j in self.jobs.values() if j.state != "running" and now - j.created > 600]
            for j in done:
                del self.jobs[j.id]
        for s in old:
            self.models.run(s.close, torch=False)

    # ---------------------------------------------------------------- jobs
    def new_job(self, kind: str, total: int = 0, session: Session | None = None) -> Job:
        """A new running job; on `session` (one job per session at a time) when given."""
        self._expire()
        with self.lock:
            running = sum(1 for j in self.jobs.values() if j.state == "running")
            if running >= MAX_JOBS:
                raise TooMany(f"the server runs {MAX_JOBS} jobs already; wait or cancel some.")
            job = Job(kind, total)
            if session is not None:
                session.claim(job)
            self.jobs[job.id] = job
        return job

    def job(self, jid: str) -> Job:
        with self.lock:
            j = self.jobs.get(jid)
        if j is None:
            raise NotFound("no such job.")
        return j

    def start_propagation(self, session: Session, start: int, reverse: bool, stop: int | None,
                          codec: str = "png16") -> Job:
        numbers = sorted(session.numbers)
        session.check_frame(start)
        if stop is not None:
            session.check_frame(stop)
            if (stop > start) if reverse else (stop < start):
                raise wire.WireError(f"stop frame {stop} lies behind start frame {start} for this direction; "
                                     "swap them or flip reverse.")
        if session.lost:
            raise Conflict("the server unloaded this session's model to make room; "
                           "reset the session and add the prompts again.")
        lo, hi = (stop if stop is not None else numbers[0], start) if reverse else \
                 (start, stop if stop is not None else numbers[-1])
        total = sum(1 for f in numbers if lo <= f <= hi and f != start)
        job = self.new_job("propagate", total, session)
        threading.Thread(target=self._propagate, args=(job, session, start, reverse, stop, codec),
                         name=f"roto-job-{job.id}", daemon=True).start()
        return job

    def _propagate(self, job: Job, session: Session, start: int, reverse: bool, stop, codec: str = "png16") -> None:
        keys = session.keys()
        for k in keys:
            self.manager.pin(k)
        frames = session.frames
        if isinstance(frames, UploadedFrames):
            frames.need = lambda f: job.put({"need": int(f)}, block=False)
            frames.cancelled = job.cancel.is_set
        gen = None
        end = object()
        torch = session.plan.uses_torch
        ending: tuple = ("failed",)
        try:
            video = self.models.run(session.video, torch=torch)
            gen = self.models.run(lambda: video.propagate(start, reverse=reverse, stop=stop), torch=torch)
            while not job.cancel.is_set():
                item = self.models.run(lambda: next(gen, end), torch=torch)
                if item is end:
                    break
                frame, alphas = item
                job.done += 1
                event: dict[str, Any] = {"frame": int(frame), "done": job.done, "total": job.total}
                if codec == "png16":  # JSON lines: base64 PNG per object
                    event["masks"] = {str(o): wire.b64(wire.mask_png16(a)) for o, a in alphas.items()}
                else:  # binary messages: raw (or zlib) 16-bit pixels after the header
                    blobs = [wire.mask_blob(a, codec) for a in alphas.values()]
                    event["masks"] = {str(o): meta for o, (meta, _) in zip(alphas, blobs)}
                    event["_blobs"] = [b for _, b in blobs]
                job.put(event)
            ending = ("cancelled" if job.cancel.is_set() else "succeeded",)
        except Exception as exc:  # noqa: BLE001 - reported in the stream, never a traceback
            from roto_studio.models.device import DeviceOutOfMemory

            oom = isinstance(exc, DeviceOutOfMemory)
            ending = ("cancelled",) if job.cancel.is_set() and not oom else \
                ("failed", public_message(exc), 507 if oom else None,
                 tuple(getattr(exc, "retry", ()) or ()) if oom else ())
        finally:
            if gen is not None:
                try:
                    self.models.run(gen.close, torch=torch)
                except Exception:  # noqa: BLE001
                    pass
            if isinstance(frames, UploadedFrames):
                frames.need = None
                frames.cancelled = lambda: False
            for k in keys:
                self.manager.unpin(k)
            session.release(job)
            job.finish(*ending)  # last: a client may start the next job as soon as it reads this

    def close(self) -> None:
        for j in list(self.jobs.values()):
            j.cancel.set()
        self.models.close()
        self.cache.close()


def public_message(exc: BaseException) -> str:
    """One line for the client; the traceback stays in the server log."""
    from roto_studio.core.errors import RotoError

    if isinstance(exc, RotoError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError):
        return "the server ran out of memory; try a smaller range."
    log.error("internal error", exc_info=exc)
    return f"internal server error ({type(exc).__name__}); see the server log."
