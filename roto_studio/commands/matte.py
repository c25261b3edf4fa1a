"""`roto-studio matte PROJECT [--object NAME] [--backend auto|vitmatte|classical] [--band PX]`

Turns each stored mask into a soft alpha (trimap from the mask, then ViTMatte or classical
matting) and writes it back to the project's mask store. Locked frames are left alone.
`matte_object` is the plain function the GUI's worker calls (progress + cancel).
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
    parser.add_argument("--colorspace", metavar="NAME",
                        help="the plate's input colour space (OCIO name), saved with the project")
    from roto_studio.commands.segment import add_server_arguments

    add_server_arguments(parser)


def matte_object(project, obj_id: str, matter, band: int | None = None,
                 frames: Iterable[int] | None = None, media=None,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None, skip_locked: bool = True) -> list[int]:
    """Matte every stored mask of `obj_id` (or `frames`), writing soft alpha back to the store.

    Returns the frames written. cancel() is checked before each frame; on cancel, Cancelled is
    raised and the frames already written stay written."""
    from roto_studio.core.edge_matte import matte_from_mask

    store = project.masks
    todo = sorted(frames) if frames is not None else store.frames(obj_id)
    todo = [f for f in todo if store.has(obj_id, f) and not (skip_locked and project.is_locked(obj_id, f))]
    own_media = media is None
    if own_media:
        media = project.open_media()
    done: list[int] = []
    try:
        for i, frame in enumerate(todo):
            if cancel is not None and cancel():
                raise Cancelled(f"matting cancelled after {len(done)} of {len(todo)} frames; those are kept.")
            alpha = store.get(obj_id, frame)
            if alpha is None:
                continue
            image = media.read(frame)
            if image.shape[:2] != alpha.shape:
                raise ProjectError(f"the mask of frame {frame} is {alpha.shape[1]}x{alpha.shape[0]} but the "
                                   f"media frame is {image.shape[1]}x{image.shape[0]}; re-link the right media.")
            store.set(obj_id, frame, matte_from_mask(image, alpha, matter, soft=alpha, band=band))
            done.append(frame)
            if progress is not None:
                progress(i + 1, len(todo))
    finally:
        if own_media:
            media.close()
    return done


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

            written = matte_object(project, obj.id, matter, args.band, media=media, progress=progress)
            if written:
                print(f"\r{obj.name}: {len(written)} frames matted in {time.monotonic() - start:.1f}s",
                      file=sys.stderr)
            else:
                print(f"{obj.name}: no unlocked masks to matte", file=sys.stderr)
            total += len(written)
    print(f"{total} frames written to {project.folder}", file=sys.stderr)
    return 0
