"""Work the window hands to the model thread: building the engine for a shot (with the thread's
priority lowered so the GUI stays smooth), matting frames one by one with undo data, and the
stored-mask snapshots a run takes before it replaces masks. No Qt here: these run inside
workers.service.ModelService or a workers.jobs.Job."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)


def mask_png_bytes(masks, obj_id: str, frame: int) -> bytes | None:
    """The stored mask as 16-bit PNG bytes (the store's own file, not decoded); None without one.
    The mask store writes every mask to its file at once, so no file means no mask."""
    path = masks.path(obj_id, frame)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def snapshot_masks(masks, obj_id: str, lo: int, hi: int, skip: int, cancelled) -> dict:
    """{(obj_id, frame): PNG bytes} of obj_id's masks in lo..hi except frame `skip`: what a run
    over that span may replace, for undo."""
    before = {}
    for f in masks.frames(obj_id):
        if lo <= f <= hi and f != skip:
            before[(obj_id, f)] = mask_png_bytes(masks, obj_id, f)
        if cancelled():
            break
    return before


def lower_thread_priority() -> None:
    """The calling thread (and the threads it starts, e.g. the mask writers) at nice 10."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def leave_room_for_the_gui(engine) -> None:
    """Called in the model thread: lower its priority (Linux threads have their own nice value,
    and the threads torch starts from it inherit it) and, for a torch model on the CPU, leave one
    core to the GUI thread, so painting and scrubbing stay smooth while a model runs."""
    lower_thread_priority()
    try:
        plan = engine.plan
        if plan.uses_torch and (engine.device is None or engine.device.kind == "cpu"):
            import torch

            cores = os.cpu_count() or 1
            if cores > 1 and torch.get_num_threads() >= cores:
                torch.set_num_threads(cores - 1)
    except Exception:  # noqa: BLE001 - only a scheduling hint
        log.debug("could not adjust model thread priority", exc_info=True)


def engine_factory(project, backend: str, device):
    """A factory for ModelService: builds the shot's Engine in the model thread, then makes room
    for the GUI."""

    def factory():
        from roto_studio.models.engine import Engine

        engine = Engine.local(project, backend=backend, device=device)
        leave_room_for_the_gui(engine)
        return engine

    return factory


def server_engine_factory(host, project, backend: str):
    """A factory for ModelService whose engine runs the models on the model server (`host`, a
    workers.server_host.ServerHost): waits in the model thread until the server is up."""

    def factory():
        from roto_studio.client.remote import remote_engine

        # not niced, unlike the in-process model thread: this thread and the mask writers it starts
        # use little CPU, but they take the GIL; niced on a busy machine they could be kept off
        # the CPU while holding it, and the GUI thread would wait for them
        return remote_engine(project, host.client(), backend)

    return factory


def matte_frames(engine, progress, cancelled, obj_id, frames, backend, band, before):
    """Model thread (ModelService.job): matte `frames` of obj_id one by one, recording each
    replaced mask in `before` (for undo) just before it is overwritten. Returns the frames written."""
    from roto_studio.ops.matte import matte_object

    cache = engine.helpers.setdefault("matters", {})
    if backend not in cache:
        if engine.server_session is not None:  # matting on the model server too
            from roto_studio.client.remote import RemoteMatter

            cache[backend] = RemoteMatter(engine.server_session.client, backend)
        else:
            from roto_studio.models.matting.vitmatte import make_matter

            cache[backend] = make_matter(backend)
    matter = cache[backend]
    masks, written = engine.project.masks, []
    for i, f in enumerate(frames):
        if cancelled():
            break
        if not masks.has(obj_id, f) or engine.project.is_locked(obj_id, f):
            continue
        before[(obj_id, f)] = mask_png_bytes(masks, obj_id, f)
        matte_object(engine.project, obj_id, matter, band, frames=[f], media=engine.media)
        written.append(f)
        progress(i + 1, len(frames))
    return written
