"""`roto-studio matte PROJECT [--object NAME] [--backend auto|vitmatte|classical] [--band PX]
[--per-frame] [--shutter-angle DEG]`

Turns each stored mask into a soft alpha (trimap from the mask, then ViTMatte or classical
matting) and writes it back to the project's mask store. Consecutive frames are matted with
their predecessor as a guide (ops.temporal_matte: the band and alpha carried along the motion) so
hair does not shimmer; `--per-frame` mattes each frame alone. With a shutter angle (the object's
edge setting, or `--shutter-angle`) the matte is then smeared along the object's motion
(ops.motion_blur). Locked frames are left alone. The work is ops.matte's
`matte_object`, which the window's worker calls too.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from roto_studio.core.errors import ProjectError
from roto_studio.ops.matte import matte_object

if TYPE_CHECKING:
    from roto_studio.models.base import Matter

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
    from roto_studio.commands.common import add_server_arguments

    add_server_arguments(parser)


def run(args) -> int:
    from roto_studio.core.project import load_project
    from roto_studio.models.matting.vitmatte import make_matter

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
    from roto_studio.commands.common import server_client

    client = server_client(args)
    if client is not None:
        from roto_studio.client.remote import RemoteMatter

        matter: Matter = RemoteMatter(client, args.backend)
    else:
        matter = make_matter(args.backend)
    note = ""
    if client is None and args.backend == "auto" and matter.name != "vitmatte":
        from roto_studio.models.matting.vitmatte import why_not

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
