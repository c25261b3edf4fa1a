"""`roto-studio render PROJECT [--stages ...] [--frames A-B] [--force] [--json-log] [--server URL]
[export options]`: a saved project's work, headless and deterministic, for render farms and batches.

Stages run in the order track, matte, cleanplate, export, shapes (ops.render_stages, render_shapes). Tracking
re-runs whole spans; the other stages take `--frames` so a farm can split a shot into chunks,
in any order, with the same files as one run. Finished frames are skipped unless `--force`. One
line per frame goes to stdout (JSON lines with `--json-log`); exit status 0 only when every
requested frame is finished. `render_shot` is the function `batch` and its Ray tasks call.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from roto_studio.core.errors import RotoError

HELP = "Run a saved project's work headless: track from its prompts, matte, clean plate, export (farms, batches)."

STAGES = ("track", "matte", "cleanplate", "export", "shapes")
DEFAULT_STAGES = "track,matte,export"


def add_arguments(p) -> None:
    p.add_argument("project", metavar="PROJECT", help="the project folder (NAME.roto) or its project.json")
    p.add_argument("--frames", metavar="A-B",
                   help="plate frames for matte, clean plate and export (inclusive; a farm chunk); "
                        "tracking runs every span that touches them, whole. Default: the whole shot")
    add_render_arguments(p)


def add_render_arguments(p, out_help: str | None = None) -> None:
    """Options shared by `render` and `batch`."""
    from roto_studio.commands.export import add_output_arguments
    from roto_studio.commands.common import add_server_arguments

    p.add_argument("--stages", default=DEFAULT_STAGES, metavar="LIST",
                   help=f"comma-separated stages out of {','.join(STAGES)} (default: {DEFAULT_STAGES}); "
                        "they always run in that order")
    p.add_argument("--force", action="store_true", help="redo frames already finished")
    p.add_argument("--json-log", action="store_true", help="log lines as JSON (one object per frame)")
    add_server_arguments(p)
    p.add_argument("--matte-backend", choices=("auto", "vitmatte", "classical"), default="auto",
                   help="matting for the matte stage (auto: ViTMatte when its weights are installed)")
    p.add_argument("--band", type=int, metavar="PX", help="matte stage: unknown band each side of the edge")
    p.add_argument("--shutter-angle", type=float, metavar="DEG", default=None,
                   help="matte stage: motion blur, the matte smeared along each object's motion over this share "
                        "of a frame (0-360; default: each object's edge setting, else 0)")
    add_output_arguments(p, required=False)
    from roto_studio.commands.shapes import add_shape_arguments
    from roto_studio.ops.shapes.formats import FORMATS as SHAPE_FORMATS

    p.add_argument("--shapes-format", choices=SHAPE_FORMATS, default="json",
                   help="shapes stage: the file to write into --out (default json)")
    add_shape_arguments(p)
    if out_help:
        for action in p._actions:
            if action.dest == "out":
                action.help = out_help


def parse_stages(text: str) -> list[str]:
    names = [s.strip().lower() for s in str(text).split(",") if s.strip()]
    bad = [s for s in names if s not in STAGES]
    if bad or not names:
        raise RotoError(f"unknown stage {bad[0]!r}" if bad else "no stages given"
                        + f"; choose from {','.join(STAGES)} (e.g. --stages track,matte).")
    return [s for s in STAGES if s in names]


class FrameLog:
    """One line per frame on `stream` (text or JSON lines); notes go to stderr. Thread-safe."""

    def __init__(self, shot: str, json_lines: bool = False, stream=None, notes=None):
        self.shot = shot
        self.json = json_lines
        self.stream = stream
        self.notes = notes
        self.counts: Counter = Counter()
        self._lock = threading.Lock()

    def line(self, stage: str, frame: int | None, status: str, obj: str | None = None,
             seconds: float | None = None) -> None:
        with self._lock:
            if frame is not None:
                self.counts[(stage, status)] += 1
            if self.json:
                rec: dict[str, object] = {"shot": self.shot, "stage": stage, "object": obj, "frame": frame, "status": status}
                if seconds is not None:
                    rec["seconds"] = round(seconds, 4)
                text = json.dumps(rec)
            else:
                parts = [self.shot, stage, obj or "-", "-" if frame is None else str(frame), status]
                if seconds is not None:
                    parts.append(f"{seconds:.3f}s")
                text = " ".join(parts)
            stream = self.stream or sys.stdout
            stream.write(text + "\n")
            stream.flush()

    def note(self, text: str) -> None:
        with self._lock:
            if self.json:
                line = json.dumps({"shot": self.shot, "note": text})
            else:
                line = f"{self.shot}: {text}"
            stream = self.notes or sys.stderr
            stream.write(line + "\n")
            stream.flush()


@dataclass
class RenderResult:
    shot: str
    frames: int = 0  # shot frames covered by the request
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)

    def done(self) -> int:
        """Frame steps done now (written, locked or empty)."""
        return sum(n for (_, status), n in self.counts.items() if status != "skipped")

    def skipped(self) -> int:
        return sum(n for (_, status), n in self.counts.items() if status == "skipped")


def render_shot(project_path, stages=DEFAULT_STAGES, frame_range: tuple[int, int] | None = None,
                force: bool = False, out=None, options=None, matte_backend: str = "auto",
                band: int | None = None, server: str | None = None, log: FrameLog | None = None,
                colorspace: str | None = None, token_file: str | None = None,
                shapes: dict | None = None, shutter_angle: float | None = None) -> RenderResult:
    """Run `stages` of one saved project. Raises RotoError (what to do) when something is wrong."""
    from roto_studio.ops import render_stages as rs
    from roto_studio.core.project import load_project

    t0 = time.monotonic()
    stages = parse_stages(stages if isinstance(stages, str) else ",".join(stages))
    project = load_project(project_path)
    if colorspace:
        project.settings["colorspace"] = colorspace  # for this render only, as export does
    log = log or FrameLog(project.name)
    downstream = [s for s in ("cleanplate", "export", "shapes") if s in stages]
    if downstream and out is None:
        raise RotoError(f"the {' and '.join(downstream)} stage needs --out DIR; give it, or choose "
                        "--stages track,matte.")
    if "export" in stages and (options is None or not options.format):
        raise RotoError("the export stage needs --format exr|png8|png16|prores|cryptomatte; give it, or leave export "
                        "out of --stages.")
    if options is not None and options.format:
        options.check()
    if band is not None and band < 1:
        raise RotoError("--band must be at least 1 pixel.")
    if not project.objects:
        raise RotoError(f"{project.folder} has no objects; prompt the shot in the window first.")
    out = Path(out) if out is not None else None
    from roto_studio.commands.common import connect

    client = connect(server, token_file)
    with project.open_media() as media:
        numbers = list(media.frame_numbers)
        if not numbers:
            raise RotoError(f"the media of {project.folder} has no frames; relink the media.")
        if frame_range is None:
            requested = numbers
        else:
            a, b = frame_range
            requested = [f for f in numbers if a <= f <= b]
            if not requested:
                raise RotoError(f"--frames {a}-{b} holds no frames of the shot ({numbers[0]}-{numbers[-1]}); "
                                "choose a range inside it.")
        movie = "export" in stages and options.format == "prores"
        if movie and requested != numbers:
            raise RotoError("ProRes export writes one movie per object: run the export stage over the "
                            "whole shot (without --frames).")
        ctx = rs.Context(project, media, log, force, requested, client)
        ctx.matte_backend = matte_backend  # for the export's provenance
        if "track" in stages:  # a clean plate reads every frame's mask: track the whole shot for it
            rs.run_track(ctx, project.settings.get("backend") or "auto",
                         numbers if "cleanplate" in stages or "shapes" in stages else None)
        need = requested
        export_objects = rs.pick_objects(project, options.objects if options is not None else None)
        if "cleanplate" in stages or movie or "shapes" in stages:
            need = numbers  # a clean plate borrows background from any frame; a movie is whole
        elif downstream:
            need = ctx.around(requested, rs.temporal_radius(export_objects))
        if "matte" in stages:
            rs.run_matte(ctx, need, matte_backend, band, shutter_angle)
        if downstream:
            store = rs.source_store(ctx, "matte" in stages)
            rs.check_sources(ctx, store, project.objects if "cleanplate" in stages else export_objects, need)
            if "cleanplate" in stages:
                rs.run_cleanplate(ctx, store, export_objects, out)
            if "export" in stages:
                rs.run_export(ctx, store, options, out)
            if "shapes" in stages:  # one whole-shot task (shapes carry from frame to frame)
                from roto_studio.ops.render_shapes import run_shapes

                rs.check_sources(ctx, store, export_objects, numbers)
                run_shapes(ctx, store, export_objects, out, shapes or {})
    return RenderResult(project.name, len(requested), time.monotonic() - t0, Counter(log.counts))


def parse_frames(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from roto_studio.core.export import parse_range

    return parse_range(text)


def shape_options(args) -> dict:
    """The shapes stage's options from the arguments add_render_arguments defined."""
    from roto_studio.commands.shapes import check_shape_arguments

    check_shape_arguments(args)
    return {"format": args.shapes_format, "tolerance": args.tolerance, "max_points": args.max_points,
            "key_tolerance": getattr(args, "key_tolerance", None)}


def run(args) -> int:
    from roto_studio.commands.export import options_from_args
    from roto_studio.core.project import project_folder

    stages = parse_stages(args.stages)
    options = options_from_args(args) if args.format else None
    if options is None and args.objects:
        from roto_studio.core.export import ExportOptions

        options = ExportOptions(format="", objects=args.objects)
    name = project_folder(args.project).name.removesuffix(".roto")
    log = FrameLog(name, args.json_log)
    result = render_shot(args.project, stages, parse_frames(args.frames), args.force, args.out, options,
                         args.matte_backend, args.band, args.server, log, args.colorspace, args.token_file,
                         shape_options(args), args.shutter_angle)
    log.note(f"{result.frames} frames: {result.done()} frame steps done, {result.skipped()} skipped as "
             f"finished, {result.seconds:.1f}s")
    return 0
