"""`roto-studio shapes PROJECT --out PATH --format nuke|silhouette|fusion|ae|svg|json [--object NAME ...]
[--frames A-B] [--tolerance PX] [--key-tolerance PX] [--max-points N]`: the objects' mattes as animated Bezier shapes."""

from __future__ import annotations

import functools
import sys

from roto_studio.core.errors import RotoError

HELP = ("Export the objects as animated, editable Bezier shapes for Nuke (.nk), Silhouette (.fxs), "
        "Fusion (.setting), After Effects (.jsx), SVG or JSON.")


def add_arguments(p) -> None:
    from roto_studio.ops.shapes.formats import FORMATS

    p.add_argument("project", help="the project folder (NAME.roto) or its project.json")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="the file to write (the format's extension is added when missing); SVG: a folder, "
                        "or a name pattern like shot.####.svg")
    p.add_argument("--format", required=True, choices=FORMATS, help="the application the shapes are for")
    p.add_argument("--object", dest="objects", action="extend", nargs="+", metavar="NAME",
                   help="only these objects (by name); default: all")
    p.add_argument("--frames", metavar="A-B", help="plate frames, inclusive; default: the whole shot")
    add_shape_arguments(p)
    p.add_argument("--autosave", action="store_true", help="use the autosaved state instead of the saved one")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_shape_arguments(p) -> None:
    """The fitting options (shared with `render`'s shapes stage)."""
    p.add_argument("--tolerance", type=float, default=1.0, metavar="PX",
                   help="how closely shapes follow the matte, in plate pixels (default 1)")
    p.add_argument("--key-tolerance", type=float, default=None, metavar="PX",
                   help="how far the frames between keys (interpolated) may stray from the matte, in plate "
                        "pixels; a frame is a key only where interpolation would miss it (default 2; "
                        "never below --tolerance; equal to it: a key wherever the carried shape differs)")
    p.add_argument("--max-points", type=int, metavar="N",
                   help="the most points an object's shapes may have on a frame (the fit loosens to stay under)")


def check_shape_arguments(args) -> None:
    if args.tolerance is not None and not args.tolerance > 0:
        raise RotoError("--tolerance must be above 0 px, e.g. --tolerance 1.")
    if getattr(args, "key_tolerance", None) is not None and not args.key_tolerance > 0:
        raise RotoError("--key-tolerance must be above 0 px, e.g. --key-tolerance 2.")
    if args.max_points is not None and args.max_points < 3:
        raise RotoError("--max-points must be at least 3.")


def key_tolerance(args) -> float:
    from roto_studio.ops.shapes import DEFAULT_KEY_TOLERANCE

    value = getattr(args, "key_tolerance", None)
    return DEFAULT_KEY_TOLERANCE if value is None else float(value)


def objects_for(project, names, alpha_at=None):
    """ObjectSource per picked object; alpha_at(obj_id, frame) defaults to the project's final alpha."""
    from roto_studio.ops.shapes.run import ObjectSource

    picked = project.objects
    if names:
        known = {o.name: o for o in project.objects}
        missing = [n for n in names if n not in known]
        if missing:
            raise RotoError(f"no object named {missing[0]!r} in {project.folder}; the objects are "
                            f"{', '.join(known) or 'none'}.")
        picked = [known[n] for n in names]
    if not picked:
        raise RotoError(f"{project.folder} has no objects; prompt the shot in the window first.")
    get = alpha_at or project.final_alpha
    return [ObjectSource(o.name, tuple(o.color), functools.partial(get, o.id)) for o in picked]


def shot_frames(media, frame_range) -> list[int]:
    numbers = list(media.frame_numbers)
    if frame_range is None:
        return numbers
    a, b = frame_range
    frames = [f for f in numbers if a <= f <= b]
    if not frames:
        raise RotoError(f"--frames {a}-{b} holds no frames of the shot ({numbers[0]}-{numbers[-1]}); "
                        "choose a range inside it.")
    return frames


def run(args) -> int:
    from roto_studio.core.export import parse_range
    from roto_studio.core.project import load_project
    from roto_studio.ops.shapes import formats
    from roto_studio.ops.shapes.run import make_shapes

    check_shape_arguments(args)
    project = load_project(args.project, use_autosave=args.autosave)
    objects = objects_for(project, args.objects)
    last = [-1]

    def progress(done, total):
        step = done * 10 // max(total, 1)
        if not args.quiet and step != last[0]:
            last[0] = step
            print(f"shapes: {done}/{total}", file=sys.stderr, flush=True)

    with project.open_media() as media:
        frames = shot_frames(media, parse_range(args.frames) if args.frames else None)
        doc = make_shapes(objects, frames, media.width, media.height, media.read, float(media.fps),
                          args.tolerance, args.max_points, progress, key_tolerance=key_tolerance(args))
    paths = formats.write(doc, args.out, args.format, project.name)
    shapes = sum(len(o.shapes) for o in doc.objects)
    keys = sum(len(s.keys) for o in doc.objects for s in o.shapes)
    print(f"wrote {len(paths)} file{'s' if len(paths) != 1 else ''} ({shapes} shapes, {keys} keys, "
          f"{len(frames)} frames) to {paths[0] if len(paths) == 1 else paths[0].parent}")
    return 0
