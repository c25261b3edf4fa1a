"""`roto-studio cleanplate PROJECT --object NAME --out DIR [--backend auto|diffusers|opencv]
[--model NAME|DIR] [--prompt TEXT] [--seed N] [--align auto|homography|flow] [--pattern P]`

Removes the object from every frame of the shot: background seen in other frames first (aligned
by homography, or optical flow where the motion is not planar), then what no frame shows from few
keyframe fills (OpenCV or a diffusers inpainting model) carried along the alignment, so it holds
still. Writes the plate's precision, named by plate frame number: 8-bit plates as PNG, 10/12/16-bit
as 16-bit PNG, float plates as EXR (half, or float for 32-bit plates; values above 1 are filled in
a second pass on the plate's own values, so they are not clipped to the display); default name
`{object}_clean.####.<ext>`. Atomic writes. The clean-plate settings (backend, model, prompt,
seed, alignment) are saved with the project so a re-render is identical. The work is
ops.cleanplate's `write_project_clean_plate`, which the window's job calls too (`render` calls
`write_clean_plate` over its own alpha source).
"""

from __future__ import annotations

import sys
import time

from roto_studio.core.errors import ProjectError
from roto_studio.ops.cleanplate import make_inpainter_for, settings_for, write_project_clean_plate

HELP = "Remove an object from the shot (temporal clean plate + inpainting) and write an RGB sequence."


def add_arguments(parser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="the project folder (NAME.roto) or its project.json")
    parser.add_argument("--object", metavar="NAME", required=True, help="the object to remove")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for the clean frames (created if needed)")
    parser.add_argument("--backend", choices=("auto", "diffusers", "opencv"),
                        help="what fills the pixels no frame shows: auto (diffusers when its weights are "
                             "installed, else OpenCV), diffusers, opencv (default: as saved, else auto)")
    parser.add_argument("--model", metavar="NAME|DIR",
                        help="inpainting model: sd15-inpainting, sdxl-inpainting or a diffusers folder")
    parser.add_argument("--prompt", metavar="TEXT", help="what the fill should show (default: clean background)")
    parser.add_argument("--seed", type=int, metavar="N", help="noise seed of the learned fill (saved with the project)")
    parser.add_argument("--align", choices=("auto", "homography", "flow"),
                        help="how frames are lined up: homography, dense optical flow (parallax), or auto")
    parser.add_argument("--colorspace", metavar="NAME",
                        help="the plate's input colour space (OCIO name), saved with the project")
    parser.add_argument("--pattern", metavar="P",
                        help="file names: {object}, {project} and one frame token (default {object}_clean.####)")
    from roto_studio.commands.common import add_server_arguments

    add_server_arguments(parser)


def run(args) -> int:
    from roto_studio.core.project import load_project

    project = load_project(args.project)
    if getattr(args, "colorspace", None):
        project.settings["colorspace"] = args.colorspace
    obj = project.object_by_name(args.object)
    if obj is None:
        names = ", ".join(o.name for o in project.objects) or "none"
        raise ProjectError(f"no object named {args.object!r} in the project; objects: {names}.")
    if not project.masks.frames(obj.id):
        raise ProjectError(f"object {args.object!r} has no masks yet; segment or propagate it first.")
    before = dict(project.settings.get("cleanplate") or {})
    settings = settings_for(project, backend=args.backend, model=args.model, prompt=args.prompt,
                            seed=args.seed, align=args.align)
    start = time.monotonic()

    def progress(done, n):
        print(f"\rclean plate: {done}/{n} frames", end="", file=sys.stderr, flush=True)

    def notify(message):
        print(f"\rclean plate: {message}", file=sys.stderr, flush=True)

    from roto_studio.commands.common import server_client

    inpainter = make_inpainter_for(settings, notify, server_client(args))
    print(f"clean plate: fills by {getattr(inpainter, 'name', 'inpainting')}"
          + (f", seed {settings['seed']}" if "diffusers" in getattr(inpainter, "name", "") else ""),
          file=sys.stderr)
    paths = write_project_clean_plate(project, obj.id, args.out, settings, progress=progress,
                                      inpainter=inpainter, pattern=args.pattern, notify=notify)
    if settings != before:
        project.save()  # the settings used, so a re-render gives the same frames
    print(f"\r{len(paths)} clean frames written to {args.out} in {time.monotonic() - start:.1f}s",
          file=sys.stderr)
    return 0
