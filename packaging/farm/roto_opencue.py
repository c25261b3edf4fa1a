"""Submit a saved Roto Studio shot to OpenCue as a pyoutline job of `roto-studio render` layers.

    python packaging/farm/roto_opencue.py PROJECT --out DIR --format exr [--chunk 10]
        [--stages track,matte,export] [--show S --shot SH] [--track-service gpu]
        [--roto-studio /path/to/roto-studio] [--print] [-- extra render options]

Layers (each frame chunk is one task; cuebot fills in #FRAME_START# / #FRAME_END#):
- track: one task, the whole shot (tracking is sequential); give it a GPU service.
- matte: chunks of the shot, after track (layer-on-layer).
- outputs: clean plate and/or export chunks, after the whole matte layer (temporal smoothing and
  clean plates read neighbouring mattes). ProRes export is one task (one movie).
A failed or killed task is simply retried by cuebot: `render` skips the frames already finished.
`--print` shows the job spec instead of launching. Needs pyoutline (`pip install opencue-pyoutline`)
and roto-studio on the submitting machine (to read the shot's frame range).
"""

from __future__ import annotations

import argparse
import getpass
import shlex


def frame_range(project: str) -> tuple[int, int]:
    from roto_studio.core.project import load_project

    with load_project(project).open_media() as media:
        numbers = list(media.frame_numbers)
    return numbers[0], numbers[-1]


def build_outline(project: str, out: str | None, fmt: str | None, chunk: int = 10,
                  stages: str = "track,matte,export", extra: tuple[str, ...] = (), roto: str = "roto-studio",
                  show: str | None = None, shot: str | None = None, track_service: str | None = None,
                  first: int | None = None, last: int | None = None):
    """The pyoutline Outline for one shot (not launched)."""
    import outline
    from outline.modules.shell import Shell

    if first is None or last is None:
        first, last = frame_range(project)
    wanted = [s.strip() for s in stages.split(",") if s.strip()]
    name = project.rstrip("/").split("/")[-1].removesuffix(".roto")
    ol = outline.Outline(f"roto-{name}", show=show, shot=shot or name, user=getpass.getuser())
    ol.set_frame_range(f"{first}-{last}")
    # the farm runs the command line through a shell: quote paths
    render = [shlex.quote(roto), "render", shlex.quote(project), "--json-log", *map(shlex.quote, extra)]
    chunked = ["--frames", "#FRAME_START#-#FRAME_END#"]
    outputs = ["--out", shlex.quote(out), "--format", fmt] if out else []
    last_layer = None

    def add(layer_name, command, chunk_size, single=False, service=None):
        nonlocal last_layer
        args = {"command": command, "range": str(first) if single else f"{first}-{last}",
                "chunk": 1 if single else chunk_size}
        if service:
            args["service"] = service
        layer = Shell(layer_name, **args)
        ol.add_layer(layer)
        if last_layer is not None:
            layer.depend_all(last_layer)
        return layer

    if "track" in wanted:
        last_layer = add("track", render + ["--stages", "track"], 1, single=True, service=track_service)
    if "matte" in wanted:
        last_layer = add("matte", render + ["--stages", "matte", *chunked], chunk)
    down = [s for s in ("cleanplate", "export") if s in wanted]
    if down:
        before = last_layer
        if fmt == "prores" and "export" in down:
            if "cleanplate" in down:
                add("cleanplate", render + ["--stages", "cleanplate", *chunked, *outputs], chunk)
                last_layer = before
            add("export", render + ["--stages", "export", *outputs], 1, single=True)
        else:
            add("outputs", render + ["--stages", ",".join(down), *chunked, *outputs], chunk)
    return ol


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project")
    ap.add_argument("--out")
    ap.add_argument("--format", choices=("exr", "png8", "png16", "prores"))
    ap.add_argument("--chunk", type=int, default=10, help="frames per matte/output task (default 10)")
    ap.add_argument("--stages", default="track,matte,export")
    ap.add_argument("--show")
    ap.add_argument("--shot")
    ap.add_argument("--track-service", help="OpenCue service for the tracking task (e.g. a GPU service)")
    ap.add_argument("--roto-studio", default="roto-studio", help="the roto-studio command on the farm")
    ap.add_argument("--print", action="store_true", help="print the job spec instead of launching")
    ap.add_argument("extra", nargs="*", help="more render options after --, e.g. -- --object car --combine")
    a = ap.parse_args(argv)
    ol = build_outline(a.project, a.out, a.format, a.chunk, a.stages, tuple(a.extra), a.roto_studio,
                       a.show, a.shot, a.track_service)
    from outline import cuerun

    if a.print:
        from outline.backend import cue

        print(cue.serialize_simple(cuerun.OutlineLauncher(ol)))
        return 0
    cuerun.launch(ol, use_pycuerun=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
