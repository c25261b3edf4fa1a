"""Matting one object's stored masks into soft alpha mattes, written back to the mask store:
each frame guided by its predecessor (ops.temporal_matte) unless asked per frame, then smeared
along the object's motion when its shutter angle says so (ops.motion_blur). Locked frames are left
alone. `roto-studio matte` and the window's worker call `matte_object` (progress + cancel)."""

from __future__ import annotations

from typing import Callable, Iterable

from roto_studio.core.errors import Cancelled, ProjectError


def shutter_of(project, obj_id: str, override: float | None = None) -> float:
    """The shutter angle to matte `obj_id` with: `override`, else its edge setting."""
    from roto_studio.core import refine

    if override is not None:
        if not 0 <= override <= 360:
            raise ProjectError(f"--shutter-angle must be 0 to 360 degrees, not {override:g}.")
        return float(override)
    obj = project.object(obj_id)
    return float(refine.normalize(getattr(obj, "refine", None))["shutter_angle"])


def matte_object(project, obj_id: str, matter, band: int | None = None,
                 frames: Iterable[int] | None = None, media=None,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None, skip_locked: bool = True,
                 temporal: bool = True, shutter_angle: float | None = None) -> list[int]:
    """Matte every stored mask of `obj_id` (or `frames`), writing soft alpha back to the store.

    temporal: consecutive frames guide each other (ops.temporal_matte). shutter_angle: motion blur
    (None: the object's edge setting). Returns the frames written. cancel() is checked before each
    frame; on cancel, Cancelled is raised and the frames already written stay written."""
    from roto_studio.ops.temporal_matte import TemporalMatter

    shutter = shutter_of(project, obj_id, shutter_angle)
    store = project.masks
    todo = sorted(frames) if frames is not None else store.frames(obj_id)
    todo = [f for f in todo if store.has(obj_id, f) and not (skip_locked and project.is_locked(obj_id, f))]
    own_media = media is None
    if own_media:
        media = project.open_media()
    done: list[int] = []
    guided = TemporalMatter(matter, band)
    pending: list[int] = []  # matted, waiting for their next frame before motion blur
    sharp: dict[int, tuple] = {}  # frame -> (tracked mask, sharp matte) the motion blur reads
    try:
        for i, frame in enumerate(todo):
            if cancel is not None and cancel():
                raise Cancelled(f"matting cancelled after {len(done)} of {len(todo)} frames; those are kept.")
            alpha = store.get(obj_id, frame)
            if alpha is None:
                guided.reset()
                continue
            image = media.read(frame)
            if image.shape[:2] != alpha.shape:
                raise ProjectError(f"the mask of frame {frame} is {alpha.shape[1]}x{alpha.shape[0]} but the "
                                   f"media frame is {image.shape[1]}x{image.shape[0]}; re-link the right media.")
            if not temporal:
                guided.reset()
            matte = guided.matte(frame, image, alpha, soft=alpha)
            if shutter <= 0:
                store.set(obj_id, frame, matte)
                done.append(frame)
            else:
                sharp[frame] = (alpha, matte)
                pending.append(frame)
                done += _blur_ready(store, obj_id, media, sharp, pending, shutter, frame)
            if progress is not None:
                progress(i + 1, len(todo))
        done += _blur_ready(store, obj_id, media, sharp, pending, shutter, None)
    finally:
        if own_media:
            media.close()
    return done


def _blur_ready(store, obj_id, media, sharp, pending, shutter, newest) -> list[int]:
    """Motion-blur and store the pending frames whose next frame is matted (all when newest is
    None); sharp mattes no longer needed are dropped."""
    from roto_studio.ops.motion_blur import blur_frame

    def mask_of(f):
        return sharp[f][0] if f in sharp else store.get(obj_id, f)

    written = []
    while pending and (newest is None or pending[0] < newest):
        f = pending.pop(0)
        store.set(obj_id, f, blur_frame(f, shutter, media.read, mask_of, alpha=sharp[f][1]))
        written.append(f)
        for old in [k for k in sharp if k < f]:
            del sharp[old]
    return written
