"""`roto-studio cleanplate PROJECT --object NAME --out DIR`

Removes the object from every frame of the shot: background seen in other frames (aligned by
homography) first, spatial inpainting for what is never visible. Writes an RGB PNG sequence
`{object}_clean.####.png` (plate frame numbers, atomic writes). `write_clean_plate` is the plain
function the GUI's worker calls (progress + cancel).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from roto_studio.core.errors import Cancelled, ExportError, ProjectError

HELP = "Remove an object from the shot (temporal clean plate + inpainting) and write an RGB sequence."


def add_arguments(parser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="the project folder (NAME.roto) or its project.json")
    parser.add_argument("--object", metavar="NAME", required=True, help="the object to remove")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for the clean frames (created if needed)")
    from roto_studio.commands.segment import add_server_arguments

    add_server_arguments(parser)


def clean_plate_name(object_name: str, frame: int, padding: int = 4) -> str:
    from roto_studio.core.export.naming import file_safe

    return f"{file_safe(object_name)}_clean.{frame:0{padding}d}.png"


def _padding(frames: list[int]) -> int:
    return max(4, *(len(str(abs(f))) for f in frames)) if frames else 4


def write_clean_plate(project, obj_id: str, out_dir, frames: Iterable[int] | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      cancel: Callable[[], bool] | None = None, inpainter=None) -> list[Path]:
    """Write the clean plate of `obj_id` for `frames` (default: every media frame) into out_dir.

    The object's final alpha (edge settings applied: grow it to cover shadows) is the hole; the
    other objects are kept out of alignment and never used as background. Cancel keeps the frames
    already written and raises Cancelled."""
    import cv2
    import numpy as np

    from roto_studio.core.atomic import atomic_path
    from roto_studio.models.cleanplate import CleanPlate, make_inpainter

    obj = project.object(obj_id)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the output folder {out} ({exc.strerror}); choose another folder.") from None
    others = [o.id for o in project.objects if o.id != obj_id]

    def exclude(f):
        union = None
        for oid in others:
            a = project.masks.get(oid, f)
            if a is not None:
                union = a if union is None else np.maximum(union, a)
        return union

    written: list[Path] = []
    with project.open_media() as media:
        numbers = list(media.frame_numbers)
        todo = [f for f in (sorted(frames) if frames is not None else numbers) if f in set(numbers)]
        plate = CleanPlate(media, lambda f: project.final_alpha(obj_id, f), exclude=exclude if others else None,
                           frame_numbers=numbers, inpainter=inpainter or make_inpainter("auto"))
        pad = _padding(numbers)
        for i, f in enumerate(todo):
            if cancel is not None and cancel():
                raise Cancelled(f"clean plate cancelled after {len(written)} of {len(todo)} frames; those are kept.")
            rgb, _ = plate.render(f)
            target = out / clean_plate_name(obj.name, f, pad)
            with atomic_path(target) as tmp:
                if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                    raise ExportError(f"cannot write {target}; check the folder is writable and the disk has space.")
            written.append(target)
            if progress is not None:
                progress(i + 1, len(todo))
    return written


def run(args) -> int:
    from roto_studio.core.project import load_project

    project = load_project(args.project)
    obj = project.object_by_name(args.object)
    if obj is None:
        names = ", ".join(o.name for o in project.objects) or "none"
        raise ProjectError(f"no object named {args.object!r} in the project; objects: {names}.")
    if not project.masks.frames(obj.id):
        raise ProjectError(f"object {args.object!r} has no masks yet; segment or propagate it first.")
    start = time.monotonic()

    def progress(done, n):
        print(f"\rclean plate: {done}/{n} frames", end="", file=sys.stderr, flush=True)

    from roto_studio.commands.segment import server_client

    client = server_client(args)
    inpainter = None
    if client is not None:
        from roto_studio.client.remote import RemoteInpainter

        inpainter = RemoteInpainter(client)
    paths = write_clean_plate(project, obj.id, args.out, progress=progress, inpainter=inpainter)
    print(f"\r{len(paths)} clean frames written to {args.out} in {time.monotonic() - start:.1f}s",
          file=sys.stderr)
    return 0
