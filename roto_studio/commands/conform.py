"""`roto-studio conform EDIT --media ROOT [--handles N] [--fps RATE] --out DIR [--dry-run] [--json]`:
one project per shot of an edit (CMX 3600 EDL, FCP XML, OpenTimelineIO), ready for `batch` and
`render` (ops.conform), and a summary of the shots found, missing media and overlaps."""

from __future__ import annotations

import json

HELP = "Make one project per shot of an edit (EDL, FCP XML, .otio) over the plates under a media folder."


def add_arguments(p) -> None:
    p.add_argument("edit", metavar="EDIT", help="a CMX 3600 .edl, an FCP .xml or an OpenTimelineIO .otio file")
    p.add_argument("--media", required=True, metavar="ROOT",
                   help="the folder holding the plates (searched by clip name, reel name and file name)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the projects (NAME.roto each)")
    p.add_argument("--handles", type=int, default=0, metavar="N",
                   help="frames added before and after each cut (clamped to the plate; default 0)")
    p.add_argument("--fps", metavar="RATE", default="24",
                   help="the EDL's frame rate (24, 25, 23.976...; FCP XML and .otio carry their own; default 24)")
    p.add_argument("--dry-run", action="store_true", help="only print what would be made")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from roto_studio.core.framerate import parse_fps
    from roto_studio.ops.conform import plan, summary, write_projects

    rate = float(parse_fps(args.fps))
    result = plan(args.edit, args.media, args.handles, rate)
    if not args.dry_run:
        write_projects(result, args.out, args.handles, args.edit)
    if args.json:
        print(json.dumps({
            "edit": result.edit,
            "shots": [{"name": s.name, "clip": s.clip, "reel": s.reel, "event": s.event, "media": s.media,
                       "frames": [s.first, s.last] if s.cut else None, "cut": list(s.cut) if s.cut else None,
                       "clamped": s.clamped, "problem": s.problem,
                       "project": str(s.project) if s.project else None} for s in result.shots],
            "overlaps": [{"shots": [a, b], "frames": [first, last]} for a, b, first, last in result.overlaps],
        }, indent=2))
    else:
        print(summary(result, args.handles))
    return 0 if not result.failed else 1
