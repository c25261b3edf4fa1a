"""`roto-studio matte PROJECT [--object NAME] [--backend auto|vitmatte|classical] [--band PX]
[--per-frame] [--shutter-angle DEG]`

Turns each stored mask into a soft alpha (trimap from the mask, then ViTMatte or classical
matting) and writes it back to the project's mask store. Consecutive frames are matted with
their predecessor as a guide (ops.temporal_matte: the band and alpha carried along the motion) so
hair does not shimmer; `--per-frame` mattes each frame alone. With a shutter angle (the object's
edge setting, or `--shutter-angle`) the matte is then smeared along the object's motion
(ops.motion_blur). Locked frames are left alone. `matte_object` is the plain function the GUI's
worker calls (progress + cancel).
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Iterable

from roto_studio.core.errors import Cancelled, ProjectError

HELP = "Refine stored masks into soft alpha mattes (ViTMatte when installed, else classical matting)."


def add_arguments(parser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="the project folder (NAME.roto) or its project.json")
    parser.add_argument("--object", metavar="NAME", default=None, help="only this object (default: every object)")
    parser.add_argument("--backend", choices=("auto", "vitmatte", "classical"), default="auto",
                        help="auto (default) = ViTMatte when its weights are installed, else classical")
    parser.add_argument("--band", metavar="PX", type=int, default=None,
                        help="base width in pixels of the unknown band around the mask edge (default: about "
                             "0.5%% of the frame diagonal); it widens up to 4x where the colours say the edge "
                             "is soft (hair, fur, blur) and stays thin on hard edges")
    parser.add_argument("--per-frame", action="store_true",
                        help="matte each frame on its own (default: consecutive frames guide each other)")
    parser.add_argument("--shutter-angle", metavar="DEG", type=float, default=None,
                        help="motion blur: smear the matte along the object's motion over this share of a "
                             "frame (0-360; 180 = common film; default: the object's edge setting, else 0)")
    parser.add_argument("--colorspace", metavar="NAME",
                        help="the plate's input colour space (OCIO name), saved with the project")
    from roto_studio.commands.segment import add_server_arguments

    add_server_arguments(parser)


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


def run(args) -> int:
    from roto_studio.core.project import load_project
    from roto_studio.models.vitmatte import make_matter

    project = load_project(args.project)
    if getattr(args, "colorspace", None):
        project.settings["colorspace"] = args.colorspace
    if args.object is not None:
        obj = project.object_by_name(args.object)
        if obj is None:
            names = ", ".join(o.name for o in project.objects) or "none"
            raise ProjectError(f"no object named {args.object!r} in the project; objects: {names}.")
        objects = [obj]
    else:
        objects = list(project.objects)
    if args.band is not None and args.band < 1:
        raise ProjectError("--band must be at least 1 pixel.")
    from roto_studio.commands.segment import server_client

    client = server_client(args)
    if client is not None:
        from roto_studio.client.remote import RemoteMatter

        matter = RemoteMatter(client, args.backend)
    else:
        matter = make_matter(args.backend)
    note = ""
    if client is None and args.backend == "auto" and matter.name != "vitmatte":
        from roto_studio.models.vitmatte import why_not

        reason = why_not()
        note = f" (ViTMatte not used: {reason})" if reason else ""
    print(f"matting with {matter.name}{note}", file=sys.stderr)
    total = 0
    with project.open_media() as media:
        for obj in objects:
            start = time.monotonic()

            def progress(done, n, name=obj.name):
                print(f"\r{name}: {done}/{n} frames", end="", file=sys.stderr, flush=True)

            written = matte_object(project, obj.id, matter, args.band, media=media, progress=progress,
                                   temporal=not args.per_frame, shutter_angle=args.shutter_angle)
            if written:
                print(f"\r{obj.name}: {len(written)} frames matted in {time.monotonic() - start:.1f}s",
                      file=sys.stderr)
            else:
                print(f"{obj.name}: no unlocked masks to matte", file=sys.stderr)
            total += len(written)
    print(f"{total} frames written to {project.folder}", file=sys.stderr)
    return 0
