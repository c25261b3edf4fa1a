"""`roto-studio check PROJECT [--object NAME ...] [--json]`: the propagated frames that may need a
look because the mask may be leaking or drifting onto the background (ops.leak_check), the same
flags the window marks red on the timeline after a propagation."""

from __future__ import annotations

import json
import sys

HELP = "List propagated frames whose masks may be leaking or drifting (the timeline's red marks)."


def add_arguments(p) -> None:
    p.add_argument("project", help="the project folder (NAME.roto) or its project.json")
    p.add_argument("--object", dest="objects", action="extend", nargs="+", metavar="NAME",
                   help="check only these objects (by name); default: all")
    p.add_argument("--json", action="store_true", help="print {object: {frame: reason}} as JSON")


def run(args) -> int:
    from roto_studio.core.errors import ProjectError
    from roto_studio.core.project import load_project
    from roto_studio.ops.leak_check import leak_frames

    project = load_project(args.project)
    objects = project.objects
    if args.objects:
        missing = [n for n in args.objects if project.object_by_name(n) is None]
        if missing:
            names = ", ".join(o.name for o in project.objects) or "none"
            raise ProjectError(f"no object named {missing[0]!r} in the project; objects: {names}.")
        objects = [o for n in args.objects if (o := project.object_by_name(n)) is not None]
    found = {}
    with project.open_media() as media:
        numbers = list(media.frame_numbers)
        for obj in objects:
            keys = [f for f in project.prompted_frames(obj.id) if project.masks.has(obj.id, f)]
            frames = [f for f in project.masks.frames(obj.id) if f not in keys]
            found[obj.name] = leak_frames(project.masks, media, obj.id, frames, numbers, keys) if keys else {}
    if args.json:
        print(json.dumps({name: {str(f): why for f, why in sorted(flags.items())} for name, flags in found.items()},
                         indent=2))
        return 0
    for name, flags in found.items():
        if not flags:
            print(f"{name}: no frames flagged")
        for f, why in sorted(flags.items()):
            print(f"{name}: frame {f}: {why}")
    total = sum(len(v) for v in found.values())
    print(f"{total} frame{'s' if total != 1 else ''} may need a look", file=sys.stderr)
    return 0
