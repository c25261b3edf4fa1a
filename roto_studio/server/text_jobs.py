"""Text-tracking jobs: SAM 3 video follows phrases through a session's shot on the server.

The client (client.remote_text.RemoteTextTracker) starts one with the phrases and a direction;
the job runs the tracker frame by frame in the model thread and streams, per frame, every
instance's mask (binary or JSON lines, as propagation jobs), plus the phrase and score of each
instance the first time it is seen. The client decides what becomes an object (min score,
locked frames), exactly as in-process tracking does. Cancel stops it between frames.
"""

from __future__ import annotations

import threading
from typing import Any

from roto_studio.core import wire
from roto_studio.server.frames import UploadedFrames
from roto_studio.server.state import Conflict, Job, ServerState, Session, public_message


def start_text_tracking(state: ServerState, session: Session, phrases: list[str], start: int,
                        reverse: bool, stop: int | None, codec: str = "png16") -> Job:
    from roto_studio.models.text import backends as text_backends

    numbers = sorted(session.numbers)
    start = session.check_frame(start)
    if stop is not None:
        stop = session.check_frame(stop)
    frames = [f for f in numbers if (f <= start if reverse else f >= start)]
    if stop is not None:
        frames = [f for f in frames if (f >= stop if reverse else f <= stop)]
    plan = text_backends.choose("sam3")  # a one-line 400 when SAM 3 is not on the server
    what = "random" if plan.random else str(plan.folder)
    key = f"sam3-video:{what}:{state.device}"
    with state.lock:
        busy = state.text_busy
        if key in busy:
            raise Conflict("the server's SAM 3 video tracker is busy with another job; wait or cancel it.")
        busy.add(key)
    try:
        job = state.new_job("track_text", len(frames), session)
    except Exception:
        with state.lock:
            busy.discard(key)
        raise
    threading.Thread(target=_run, args=(state, job, session, plan, key, phrases, start, reverse, stop, codec),
                     name=f"roto-job-{job.id}", daemon=True).start()
    return job


def _run(state: ServerState, job: Job, session: Session, plan, key: str, phrases, start, reverse, stop,
         codec) -> None:
    from roto_studio.models.text import backends as text_backends

    models = state.models
    frames = session.frames
    if isinstance(frames, UploadedFrames):
        frames.need = lambda f: job.put({"need": int(f)}, block=False)
        frames.cancelled = job.cancel.is_set
    gen = tracker = None
    end = object()
    pinned = False
    ending: tuple = ("failed",)
    try:
        tracker = models.run(lambda: state.manager.get(
            key, lambda: text_backends.build_video(plan, device=state.device)))
        state.manager.pin(key)
        pinned = True

        def begin():
            tracker.start(frames)
            for phrase in phrases:
                tracker.add_text(phrase, phrase)
            return tracker.propagate(start, reverse=reverse, stop=stop)

        gen = models.run(begin)
        seen: set[str] = set()
        while not job.cancel.is_set():
            item = models.run(lambda: next(gen, end))
            if item is end:
                break
            frame, alphas = item
            job.done += 1
            event: dict[str, Any] = {"frame": int(frame), "done": job.done, "total": job.total}
            new = {str(k): {"phrase": tracker.phrase_of(k), "score": float(tracker.score_of(k))}
                   for k in alphas if k not in seen}
            seen.update(alphas)
            if new:
                event["new"] = new
            if codec == "png16":
                event["masks"] = {str(o): wire.b64(wire.mask_png16(a)) for o, a in alphas.items()}
            else:
                blobs = [wire.mask_blob(a, codec) for a in alphas.values()]
                event["masks"] = {str(o): meta for o, (meta, _) in zip(alphas, blobs)}
                event["_blobs"] = [b for _, b in blobs]
            job.put(event)
        ending = ("cancelled" if job.cancel.is_set() else "succeeded",)
    except Exception as exc:  # noqa: BLE001 - reported in the stream, never a traceback
        from roto_studio.models.device import DeviceOutOfMemory

        oom = isinstance(exc, DeviceOutOfMemory)
        ending = ("failed", public_message(exc), 507 if oom else None,
                  tuple(getattr(exc, "retry", ()) or ()) if oom else ())
    finally:
        for fn in ((gen.close if gen is not None else None), (tracker.close if tracker is not None else None)):
            if fn is not None:
                try:
                    models.run(fn)
                except Exception:  # noqa: BLE001
                    pass
        if isinstance(frames, UploadedFrames):
            frames.need = None
            frames.cancelled = lambda: False
        if pinned:
            state.manager.unpin(key)
        with state.lock:
            state.text_busy.discard(key)
        session.release(job)
        job.finish(*ending)  # last: a client may start the next job as soon as it reads this
