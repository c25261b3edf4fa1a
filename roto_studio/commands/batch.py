"""Many shots at once: `roto-studio batch SHOTS [--ray [ADDRESS]] [--gpus-per-shot N] [--chunk N]`.

SHOTS are projects (NAME.roto) or folders holding them. Without --ray each shot is rendered in
turn in this process (commands.render.render_shot); with --ray the work goes to a Ray cluster
(commands.batch_ray). Either way: a progress bar over all shots on stderr, each shot's frame log
in `NAME.roto/render/batch.log`, and a summary table (shot, frames, time, status, output) at
the end. Without --out each shot's files go to its project's default export folder
(NAME.roto/export/), and without --format the export is EXR (the window's default).
Exit status 0 when every shot finished, 1 when some failed, 2 for bad arguments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from roto_studio.commands import common
from roto_studio.core.errors import RotoError

HELP = "Render many saved projects: one after another, or as tasks on a Ray cluster (--ray)."


def add_arguments(p) -> None:
    from roto_studio.commands.render import add_render_arguments

    p.add_argument("shots", nargs="+", metavar="SHOTS", help="projects (NAME.roto) or folders of projects")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray: a cluster address (e.g. ray://head:10001, auto), or none to start "
                        "a local Ray on this machine")
    p.add_argument("--gpus-per-shot", type=float, metavar="N",
                   help="GPUs reserved by each shot's tracking task (default: 1 when the cluster has "
                        "GPUs, else 0)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, metavar="N",
                   help="Ray: GPUs reserved by each matte and clean plate task (default: 0)")
    p.add_argument("--chunk", type=int, default=25, metavar="N",
                   help="frames per task for matte, clean plate and export (default: 25)")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="Ray: times a task is retried when it fails or its worker dies; the summary "
                        "gives each retry's reason (default: 3)")
    add_render_arguments(p, out_help="output folder: each shot's files go to DIR/<shot>/ (default: each "
                                     "project's export folder, NAME.roto/export/)")


@dataclass
class ShotRow:
    shot: str
    frames: int = 0
    seconds: float = 0.0
    status: str = "ok"
    out: str = ""  # where its clean plates and exports went ("" when no stage writes any)
    retries: list = field(default_factory=list)  # "task: reason" for each retried attempt (Ray)


def find_shots(items) -> list[Path]:
    """Project folders from the arguments: a project, or a folder whose children are projects."""
    from roto_studio.core.project import PROJECT_FILE, project_folder

    shots: list[Path] = []
    for item in items:
        folder = project_folder(item)
        if (folder / PROJECT_FILE).is_file():
            shots.append(folder)
        elif folder.is_dir():
            found = sorted(c for c in folder.iterdir() if (c / PROJECT_FILE).is_file())
            if not found:
                raise RotoError(f"{item} holds no projects (NAME.roto folders); give projects or a folder of them.")
            shots.extend(found)
        else:
            raise RotoError(f"{item} is not a project or a folder of projects; check the path.")
    names: dict[str, Path] = {}
    for s in shots:
        other = names.setdefault(shot_name(s), s)
        if other != s:
            raise RotoError(f"two shots are named {shot_name(s)!r} ({other} and {s}); their outputs would "
                            "collide, rename one.")
    return shots


def shot_name(folder: Path) -> str:
    return folder.name.removesuffix(".roto")


DEFAULT_EXPORT = "export"  # a project's default export folder: NAME.roto/export/


def shot_out(folder, out_root) -> Path:
    """Where one shot's clean plates and exports go: DIR/<shot>/ with --out DIR, else the
    project's default export folder."""
    folder = Path(folder)
    return Path(out_root) / shot_name(folder) if out_root else folder / DEFAULT_EXPORT


def writes_files(kwargs: dict) -> bool:
    return any(s in kwargs["stages"] for s in ("cleanplate", "export"))


def render_kwargs(args) -> dict:
    """What every shot's render gets, minus the shot's own output folder."""
    from roto_studio.commands.export import options_from_args
    from roto_studio.commands.render import parse_stages, shape_options

    options = options_from_args(args) if args.format else None
    if options is None and args.objects:
        from roto_studio.core.export import ExportOptions

        options = ExportOptions(format="", objects=args.objects)
    return {"stages": parse_stages(args.stages), "force": args.force, "options": options,
            "matte_backend": args.matte_backend, "band": args.band, "server": args.server,
            "json_log": args.json_log, "colorspace": args.colorspace, "token_file": args.token_file,
            "shapes": shape_options(args), "shutter_angle": args.shutter_angle}


def render_one(shot: str, out_root: str | None, kwargs: dict, frames: tuple[int, int] | None = None,
               stages: list[str] | None = None) -> dict:
    """Render (some stages of) one shot, the frame log appended to NAME.roto/render/batch.log."""
    from roto_studio.commands.render import FrameLog, render_shot

    kw = dict(kwargs)
    json_log = kw.pop("json_log", False)
    if stages is not None:
        kw["stages"] = stages
    folder = Path(shot)
    out = shot_out(folder, out_root)
    (folder / "render").mkdir(parents=True, exist_ok=True)
    with open(folder / "render" / "batch.log", "a", encoding="utf-8") as stream:
        log = FrameLog(shot_name(folder), json_log, stream=stream, notes=stream)
        result = render_shot(folder, frame_range=frames, out=out, log=log, **kw)
    return {"frames": result.frames, "seconds": result.seconds, "done": result.done(), "skipped": result.skipped()}


def run_sequential(shots: list[Path], out_root, kwargs: dict) -> list[ShotRow]:
    rows = []
    progress = common.Progress("batch", "shots")
    for shot in shots:
        row = ShotRow(shot_name(shot), out=str(shot_out(shot, out_root)) if writes_files(kwargs) else "")
        t0 = time.monotonic()
        try:
            info = render_one(str(shot), out_root, kwargs)
            row.frames = info["frames"]
        except RotoError as exc:
            row.status = f"failed: {one_line(exc)}"
        except Exception as exc:  # noqa: BLE001 - one shot's failure must not stop the others
            row.status = f"failed: {type(exc).__name__}: {one_line(exc)}"
        row.seconds = time.monotonic() - t0
        rows.append(row)
        progress(len(rows), len(shots), row.shot)
    return rows


def one_line(exc) -> str:
    return " ".join(str(exc).split())


def summary_table(rows: list[ShotRow]) -> str:
    outs = any(r.out for r in rows)
    head = ("shot", "frames", "time", "status") + (("output",) if outs else ())
    cells = [(r.shot, str(r.frames), f"{r.seconds:.1f}s", r.status) + ((r.out,) if outs else ()) for r in rows]
    width = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    lines = ["  ".join([c[0].ljust(width[0]), c[1].rjust(width[1]), c[2].rjust(width[2]),
                        *([c[3].ljust(width[3]), c[4]] if outs else [c[3]])]).rstrip()
             for c in [head, *cells]]
    for r in rows:
        lines.extend(f"retried: {r.shot} {reason}" for reason in r.retries)
    ok = sum(r.status == "ok" for r in rows)
    lines.append(f"{ok} of {len(rows)} shots finished, {sum(r.frames for r in rows if r.status == 'ok')} frames")
    return "\n".join(lines)


def run(args) -> int:
    from roto_studio.commands.common import connect

    shots_args = list(args.shots)
    address = args.ray
    if address and Path(address).exists():  # `batch --ray shots/`: the folder is a shot, not an address
        shots_args.insert(0, address)
        address = ""
    if args.chunk < 1:
        raise RotoError("--chunk must be at least 1 frame.")
    if args.retries < 0:
        raise RotoError("--retries cannot be negative.")
    if args.gpus_per_shot is not None and args.gpus_per_shot < 0:
        raise RotoError("--gpus-per-shot cannot be negative.")
    if args.gpus_per_task < 0:
        raise RotoError("--gpus-per-task cannot be negative.")
    from roto_studio.commands.render import parse_stages

    if "export" in parse_stages(args.stages) and not args.format:
        args.format = "exr"  # the window's default export format
    kwargs = render_kwargs(args)
    connect(kwargs["server"], kwargs["token_file"])  # reachable, token accepted: before any work
    shots = find_shots(shots_args)
    if address is None:
        rows = run_sequential(shots, args.out, kwargs)
    else:
        from roto_studio.commands.batch_ray import run_ray

        rows = run_ray(shots, address or None, args.gpus_per_shot, args.chunk, args.retries, args.out, kwargs,
                       args.gpus_per_task)
    print(summary_table(rows))
    return 0 if all(r.status == "ok" for r in rows) else 1
