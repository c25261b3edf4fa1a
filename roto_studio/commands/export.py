"""`roto-studio export PROJECT --out DIR --format exr|png8|png16|prores ...`"""

from __future__ import annotations

import sys

from roto_studio.commands.common import Progress

HELP = "Export the project's mattes as EXR, PNG (8/16-bit), ProRes 4444 with alpha or Cryptomatte."

FORMATS = ("exr", "png8", "png16", "prores", "cryptomatte")


def add_arguments(p) -> None:
    p.add_argument("project", help="the project folder (NAME.roto) or its project.json")
    add_output_arguments(p)
    p.add_argument("--range", dest="frame_range", metavar="A-B",
                   help="plate frames to export, inclusive (e.g. 1001-1100); default: all")
    p.add_argument("--autosave", action="store_true", help="export the autosaved state instead of the saved one")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_output_arguments(p, required: bool = True) -> None:
    """What to write and where: shared with `render` and `batch` (there --out/--format are only
    needed when the export stage runs)."""
    p.add_argument("--out", required=required, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--format", required=required, choices=FORMATS, help="file format")
    p.add_argument("--object", dest="objects", action="extend", nargs="+", metavar="NAME",
                   help="export only these objects (by name); default: all")
    p.add_argument("--combine", action="store_true",
                   help="one file per frame with every object (EXR layers <object>.A; PNG/ProRes: union)")
    p.add_argument("--pattern", metavar="PATTERN",
                   help="file names, e.g. '{object}.####.exr', '{object}.%%05d.png', '{object}_{frame:06d}'; "
                        "default {object}.####.<ext> ({project} when combined, {object}.mov for ProRes)")
    p.add_argument("--start-frame", type=int, metavar="N",
                   help="renumber so the first exported frame is N (e.g. 1001); default: plate numbers")
    p.add_argument("--rgba", nargs="?", const="auto", choices=("auto", "straight", "premultiplied"),
                   help="write RGBA cut-outs of the plate instead of alpha only: EXR premultiplied (its "
                        "convention; 'straight' on request, said in the header), PNG and ProRes straight "
                        "(their alpha is straight; premultiplied is refused)")
    p.add_argument("--colorspace", metavar="NAME",
                   help="the plate's input colour space (OCIO name), instead of the project's")
    p.add_argument("--out-colorspace", metavar="NAME",
                   help="write cut-out RGB in this colour space (default: the plate's own; PNG and ProRes "
                        "of a linear plate: sRGB). The matte is never converted")
    p.add_argument("--plate-edges", action="store_true",
                   help="cut-outs keep the plate's own colour in soft edges (default: the object's colour "
                        "estimated there, so comps show no dark or light fringes)")
    p.add_argument("--crypto-layers", action="store_true",
                   help="cryptomatte: also write each object's <object>.A layer in the same file")
    p.add_argument("--exr-float", action="store_true", help="32-bit float EXR (default: half)")
    p.add_argument("--compression", choices=("zip", "zips", "piz", "rle", "none"), default="zip",
                   help="EXR compression (default: zip, lossless)")
    p.add_argument("--workers", type=int, metavar="N", help="frames written in parallel (default: CPUs)")
    p.add_argument("--fps", metavar="RATE",
                   help="frame rate of ProRes movies and of the EXR header and time codes, e.g. 24, 23.976, "
                        "24000/1001 (default: the shot's, see `info`)")


def options_from_args(args, frame_range=None):
    """ExportOptions from the arguments add_output_arguments defined."""
    from roto_studio.core.export import ExportOptions
    from roto_studio.core.framerate import parse_fps

    fps = getattr(args, "fps", None)
    return ExportOptions(
        fps=parse_fps(fps) if fps else None,
        format=args.format,
        objects=args.objects or None,
        combine=args.combine,
        pattern=args.pattern,
        start_frame=args.start_frame,
        frame_range=frame_range,
        rgba=args.rgba,
        exr_precision="float" if args.exr_float else "half",
        exr_compression=args.compression,
        workers=args.workers,
        out_colorspace=args.out_colorspace,
        edge_colour=not getattr(args, "plate_edges", False),
        crypto_layers=getattr(args, "crypto_layers", False),
    )


def run(args) -> int:
    from roto_studio.core.export import export_project, parse_range
    from roto_studio.core.project import load_project

    options = options_from_args(args, parse_range(args.frame_range) if args.frame_range else None)
    project = load_project(args.project, use_autosave=args.autosave)
    if args.colorspace:
        project.settings["colorspace"] = args.colorspace
    from roto_studio.ops.provenance import model_entries

    options.provenance = {"models": model_entries(project)}
    notes: list[str] = []
    paths = export_project(project, args.out, options, progress=Progress("export", quiet=args.quiet), notes=notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    what = "movie" if args.format == "prores" else "file"
    print(f"wrote {len(paths)} {what}{'s' if len(paths) != 1 else ''} to {args.out}")
    return 0
