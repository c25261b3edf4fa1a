"""The four stages of a headless render (`roto-studio render`), each skipping finished frames.

- track: the propagation spans the project's keyframes define, run whole (tracking is
  sequential): backward from each object's first keyframe to the start of the shot, forward
  from every keyframe to just before the next one. Writes the project's masks.
- matte: each mask turned into a soft matte (trimap + ViTMatte or classical matting), written to
  `NAME.roto/render/matte/<object>/<frame>.png`; the project's own masks are left as they are.
- cleanplate: `{object}_clean.####.png` per selected object into the output folder.
- export: the export command's files for the frame range (export options unchanged).

Downstream stages read an object's mattes once the matte stage has run for it, else its masks.
Finished frames are known from core.render_state records (inputs digest + output hashes):
track and matte records live in `NAME.roto/render/done/`, cleanplate and export records in the
output folder's `.roto-render/`.
"""

from __future__ import annotations

import bisect
import time
from functools import partial
from pathlib import Path

from roto_studio.core.errors import RotoError
from roto_studio.core.render_state import Records, digest, file_digest


class SourceStore:
    """The alphas downstream stages read: per object, the render mattes or the project's masks."""

    def __init__(self, masks, mattes, use_matte: set[str]):
        self.masks, self.mattes, self.use_matte = masks, mattes, set(use_matte)

    def _store(self, obj_id):
        return self.mattes if obj_id in self.use_matte else self.masks

    def get(self, obj_id, frame):
        return self._store(obj_id).get(obj_id, frame)

    def has(self, obj_id, frame):
        return self._store(obj_id).has(obj_id, frame)

    def frames(self, obj_id):
        return self._store(obj_id).frames(obj_id)

    def path(self, obj_id, frame) -> Path:
        return self._store(obj_id).path(obj_id, frame)


class Context:
    """Everything the stages share for one render of one shot."""

    def __init__(self, project, media, log, force: bool, requested: list[int], client=None):
        from roto_studio.core.masks import MaskStore

        self.project = project
        self.media = media
        self.log = log
        self.force = force
        self.numbers = list(media.frame_numbers)
        self.number_set = set(self.numbers)
        self.requested = requested  # plate frames asked for (in the shot), sorted
        self.client = client  # model server client (--server), or None: models in this process
        self.render_dir = project.folder / "render"
        self.records = Records(self.render_dir / "done", project.folder)
        self.mattes = MaskStore(self.render_dir / "matte")
        self.matte_backend = "auto"  # the matte stage's backend, named in the export's provenance
        self._digests: dict = {}

    def mask_file(self, obj_id: str, frame: int) -> Path:
        return self.project.masks.path(obj_id, frame)

    def file_digest(self, path: Path) -> str | None:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    def forget_digest(self, path: Path) -> None:
        self._digests.pop(str(path), None)

    def around(self, frames, radius: int) -> list[int]:
        """`frames` widened by `radius` shot frames each side (in shot order)."""
        if radius <= 0:
            return sorted(frames)
        out = set()
        for f in frames:
            i = bisect.bisect_left(self.numbers, f)
            out.update(self.numbers[max(0, i - radius): i + radius + 1])
        return sorted(out)


# ---------------------------------------------------------------- track

def track_spans(ctx: Context, engine) -> list[tuple]:
    """(object, start keyframe, Span, bounding keyframe or None) for every span of the shot."""
    out: list[tuple] = []
    for obj in ctx.project.objects:
        keys = [k for k in ctx.project.prompted_frames(obj.id)
                if ctx.project.masks.has(obj.id, k) and k in set(ctx.numbers)]
        if not keys:
            ctx.log.line("track", None, "no-keyframes", obj=obj.name)
            continue
        for i, k in enumerate(keys):
            directions = ("backward", "forward") if i == 0 else ("forward",)
            for d in directions:
                spans, _ = engine.plan_spans([obj.id], k, d)
                bound = keys[i + 1] if d == "forward" and i + 1 < len(keys) else None
                out.extend((obj, k, s, bound) for s in spans)
    return out


def run_track(ctx: Context, backend: str, frames: list[int] | None = None) -> None:
    """Track every span that touches `frames` (default: the requested ones), whole."""
    from roto_studio.models.device import inference_context
    from roto_studio.models.engine import Engine

    project = ctx.project
    if ctx.client is not None:
        engine = ctx.client.engine(project, backend=backend, media=ctx.media)
    else:
        engine = Engine.local(project, backend=backend, media=ctx.media)
    plan = engine.plan
    ctx.log.note(f"tracking with {engine.describe()}")
    wanted = set(ctx.requested if frames is None else frames)
    try:
        for obj, start, span, bound in track_spans(ctx, engine):
            if wanted.isdisjoint(span.frames):
                continue
            cond = {str(f): ctx.file_digest(ctx.mask_file(obj.id, f)) for f in (start, bound) if f is not None}
            prompts = {str(f): project.prompts[obj.id][f].to_dict() for f in (start, bound) if f is not None}
            inputs = digest("track", plan.name, plan.model, plan.random, plan.image_size, obj.id,
                            span.direction, start, span.frames, cond, prompts, obj.locked,
                            project.locked.get(obj.id, []))
            if not ctx.force and all(ctx.records.finished("track", obj.id, f, inputs) for f in span.frames):
                for f in span.frames:
                    ctx.log.line("track", f, "skipped", obj=obj.name)
                continue
            _track_span(ctx, engine, obj, start, span, inputs, inference_context)
    finally:
        engine.close()


def _track_span(ctx, engine, obj, start, span, inputs, inference_context) -> None:
    import threading

    lock = threading.Lock()
    t0 = [time.monotonic()]

    def lap():
        with lock:
            now = time.monotonic()
            seconds, t0[0] = now - t0[0], now
            return seconds

    def saved(obj_id, frame):  # from the mask writer thread, once the frame is on disk
        path = ctx.mask_file(obj_id, frame)
        ctx.forget_digest(path)
        ctx.records.record("track", obj_id, frame, inputs, [path])
        ctx.log.line("track", frame, "written", obj=obj.name, seconds=lap())

    with inference_context(engine.device):
        steps = engine.propagate_steps([obj.id], start, span.direction, stop=span.last, on_saved=saved)
        try:
            for step in steps:
                if obj.id not in step.written:
                    status = "locked" if ctx.project.is_locked(obj.id, step.frame) else "empty"
                    ctx.records.record("track", obj.id, step.frame, inputs, [], status=status)
                    ctx.log.line("track", step.frame, status, obj=obj.name, seconds=lap())
        finally:
            steps.close()


# ---------------------------------------------------------------- matte

def matter_name(backend: str, server: bool = False) -> str:
    if server:
        return f"{backend} (server)"
    if backend != "auto":
        return backend
    from roto_studio.models.matting.vitmatte import available_backends

    return "vitmatte" if "vitmatte" in available_backends() else "classical"


def matte_inputs(ctx: Context, obj, frame: int, name: str, band, shutter: float = 0.0) -> tuple[str, str | None]:
    source = ctx.file_digest(ctx.mask_file(obj.id, frame))
    locked = ctx.project.is_locked(obj.id, frame)
    if shutter > 0:  # the motion blur reads the neighbours' masks too
        near = [ctx.file_digest(ctx.mask_file(obj.id, g)) for g in (frame - 1, frame + 1) if g in ctx.number_set]
        return digest("matte", name, band, source, locked, "shutter", shutter, near), source
    return digest("matte", name, band, source, locked), source


def object_shutter(obj, override: float | None) -> float:
    from roto_studio.core import refine

    if override is not None:
        if not 0 <= override <= 360:
            raise RotoError(f"--shutter-angle must be 0 to 360 degrees, not {override:g}.")
        return float(override)
    return float(refine.normalize(obj.refine)["shutter_angle"])


def run_matte(ctx: Context, frames: list[int], backend: str, band, shutter_angle: float | None = None) -> None:
    from roto_studio.core.trimap import make_trimap
    from roto_studio.ops.motion_blur import blur_frame

    name = matter_name(backend, ctx.client is not None)
    matter = None
    for obj in ctx.project.objects:
        shutter = object_shutter(obj, shutter_angle)
        for f in frames:
            inputs, source = matte_inputs(ctx, obj, f, name, band, shutter)
            if not ctx.force and ctx.records.finished("matte", obj.id, f, inputs):
                ctx.log.line("matte", f, "skipped", obj=obj.name)
                continue
            t0 = time.monotonic()
            target = ctx.mattes.path(obj.id, f)
            alpha = ctx.project.masks.get(obj.id, f) if source is not None else None
            if alpha is None:
                ctx.mattes.delete(obj.id, f)
                status, outputs = "empty", []
            elif ctx.project.is_locked(obj.id, f):
                ctx.mattes.set(obj.id, f, alpha)  # a locked frame is final: kept as it is
                status, outputs = "locked", [target]
            else:
                if matter is None and ctx.client is not None:
                    matter = ctx.client.matter(backend)
                elif matter is None:
                    from roto_studio.models.matting.vitmatte import make_matter

                    matter = make_matter(name)
                image = ctx.media.read(f)
                if image.shape[:2] != alpha.shape:
                    raise RotoError(f"the mask of {obj.name} on frame {f} is {alpha.shape[1]}x{alpha.shape[0]} "
                                    f"but the plate is {image.shape[1]}x{image.shape[0]}; relink the right media.")
                matte = matter.refine(image, make_trimap(alpha, band, band))
                if shutter > 0:  # smeared along the object's motion, read from the neighbours' masks
                    matte = blur_frame(f, shutter, ctx.media.read, partial(ctx.project.masks.get, obj.id),
                                       alpha=matte, frames=ctx.number_set)
                ctx.mattes.set(obj.id, f, matte)
                status, outputs = "written", [target]
            ctx.records.record("matte", obj.id, f, inputs, outputs, status=status, meta={"source": source})
            ctx.log.line("matte", f, status, obj=obj.name, seconds=time.monotonic() - t0)


def matte_is_current(ctx: Context, obj_id: str, frame: int) -> bool:
    rec = ctx.records.intact("matte", obj_id, frame)
    return rec is not None and rec.get("meta", {}).get("source") == ctx.file_digest(ctx.mask_file(obj_id, frame))


def source_store(ctx: Context, matte_requested: bool) -> SourceStore:
    """Mattes for every object the matte stage has run for (or runs for now), masks otherwise."""
    use = {o.id for o in ctx.project.objects
           if matte_requested or (ctx.records.root / "matte" / o.id).is_dir()}
    return SourceStore(ctx.project.masks, ctx.mattes, use)


def check_sources(ctx: Context, store: SourceStore, objects, frames: list[int]) -> None:
    """Every matte the downstream stages will read must be current; else say what to run."""
    for obj in objects:
        if obj.id not in store.use_matte:
            continue
        stale = [f for f in frames if not matte_is_current(ctx, obj.id, f)]
        if stale:
            raise RotoError(f"the mattes of {obj.name} are missing or out of date for {len(stale)} frames "
                            f"({_spans(stale)}); run `roto-studio render {ctx.project.folder} --stages matte` "
                            f"over them first, or delete {ctx.render_dir / 'matte'} to use the masks.")


def source_digests(ctx: Context, store: SourceStore, obj_id: str, frames) -> list:
    return [ctx.file_digest(store.path(obj_id, f)) for f in frames]


def temporal_radius(objects) -> int:
    from roto_studio.core import refine

    return max([refine.normalize(o.refine)["temporal"] for o in objects if o.refine] or [0])


# ---------------------------------------------------------------- clean plate

def run_cleanplate(ctx: Context, store: SourceStore, objects, out: Path) -> None:
    """The clean plate `roto-studio cleanplate` makes (write_clean_plate, the project's saved
    settings): its keyframe windows are fixed on the shot, so any chunk equals a whole-shot run."""
    from roto_studio.ops.cleanplate import (clean_plate_ext, clean_plate_name, make_inpainter_for,
                                            settings_for, write_clean_plate)

    records = Records(out / ".roto-render", out)
    alphas = ctx.project.alphas(store)
    everything = {o.id: (o.refine, sorted(store.use_matte & {o.id}), source_digests(ctx, store, o.id, ctx.numbers))
                  for o in ctx.project.objects}
    pad = max(4, *(len(str(abs(f))) for f in ctx.numbers))
    settings = settings_for(ctx.project)
    inpainter = None
    for obj in objects:
        inputs = digest("cleanplate", obj.id, obj.name, everything, ctx.client is not None, settings)
        todo = []
        for f in ctx.requested:
            if not ctx.force and records.finished("cleanplate", obj.id, f, inputs):
                ctx.log.line("cleanplate", f, "skipped", obj=obj.name)
            else:
                todo.append(f)
        if not todo:
            continue
        t0 = [time.monotonic()]

        def progress(done, total, obj=obj, todo=todo, inputs=inputs):
            if done == 0:
                return
            f = todo[done - 1]
            records.record("cleanplate", obj.id, f, inputs,
                           [out / clean_plate_name(obj.name, f, pad, clean_plate_ext(ctx.media))])
            now = time.monotonic()
            ctx.log.line("cleanplate", f, "written", obj=obj.name, seconds=now - t0[0])
            t0[0] = now

        inpainter = inpainter or make_inpainter_for(settings, ctx.log.note, ctx.client)
        write_clean_plate(alphas, ctx.media, obj.id, out, settings, frames=todo, progress=progress,
                          inpainter=inpainter)


# ---------------------------------------------------------------- export

def run_export(ctx: Context, store: SourceStore, options, out: Path) -> None:
    """Export in runs of consecutive unfinished frames (parallel inside a run), a record per frame."""
    import dataclasses

    from roto_studio.ops.provenance import model_entries

    records = Records(out / ".roto-render", out)
    alphas = ctx.project.alphas(store)
    matte = ctx.matte_backend if store.use_matte else None
    options = dataclasses.replace(options, provenance={"models": model_entries(ctx.project, matte)})
    objects = pick_objects(ctx.project, options.objects)
    first = ctx.numbers[0]
    offset = 0 if options.start_frame is None else int(options.start_frame) - first
    radius = temporal_radius(objects)
    plate = ctx.media.path if options.rgba else None
    settings = {k: v for k, v in dataclasses.asdict(options).items() if k not in ("frame_range", "workers",
                                                                                    "start_frame")}
    movie = options.format == "prores"

    def inputs(frames):
        alphas = {o.id: (o.refine, source_digests(ctx, store, o.id, ctx.around(frames, radius))) for o in objects}
        return digest("export", settings, offset, str(plate), ctx.project.settings.get("colorspace"), alphas)

    if movie:
        key = inputs(ctx.numbers)
        if not ctx.force and records.finished("export", "movie", first, key):
            for f in ctx.numbers:
                ctx.log.line("export", f, "skipped")
            return
        _export_run(ctx, alphas, out, options, ctx.numbers, offset, records, "movie", {first: key}, movie=True)
        return
    keys = {f: inputs([f]) for f in ctx.requested}
    todo = []
    for f in ctx.requested:
        if not ctx.force and records.finished("export", "frames", f, keys[f]):
            ctx.log.line("export", f, "skipped")
        else:
            todo.append(f)
    batch = 2 * (options.workers or 4)
    for run in _runs(ctx.numbers, todo, batch):
        _export_run(ctx, alphas, out, options, run, offset, records, "frames", keys)


def _export_run(ctx, alphas, out, options, frames, offset, records, scope, keys, movie=False) -> None:
    import dataclasses

    from roto_studio.core.export import export_alphas

    t0 = time.monotonic()
    opts = dataclasses.replace(options, frame_range=(frames[0], frames[-1]),
                               start_frame=None if options.start_frame is None else frames[0] + offset)
    logged = [0]

    def progress(done, total):  # ProRes: one frame of the movie at a time
        if movie and len(opts.objects or []) <= 1:
            while logged[0] < min(done, len(frames)):
                ctx.log.line("export", frames[logged[0]], "encoded")
                logged[0] += 1

    notes: list[str] = []
    paths = export_alphas(alphas, ctx.media, out, opts, progress=progress if movie else None, notes=notes)
    for note in dict.fromkeys(notes):
        ctx.log.note(note)
    seconds = (time.monotonic() - t0) / max(1, len(frames))
    if movie:
        records.record("export", scope, frames[0], keys[frames[0]], paths)
        for f in frames[logged[0]:]:
            ctx.log.line("export", f, "written", seconds=seconds)
        return
    per = len(paths) // len(frames)
    for i, f in enumerate(frames):
        records.record("export", scope, f, keys[f], paths[i * per:(i + 1) * per])
        ctx.log.line("export", f, "written", seconds=seconds)


def pick_objects(project, wanted) -> list:
    """The objects named (or given by id) in `wanted`, in the project's order; all when empty."""
    from roto_studio.core.errors import ExportError

    if not wanted:
        return list(project.objects)
    picked = []
    for item in wanted:
        obj = project.object_by_name(str(item)) or next((o for o in project.objects if o.id == str(item)), None)
        if obj is None:
            names = ", ".join(o.name for o in project.objects) or "none"
            raise ExportError(f"the project has no object named '{item}'; its objects are: {names}.")
        if obj not in picked:
            picked.append(obj)
    return picked


def _runs(numbers: list[int], todo: list[int], size: int) -> list[list[int]]:
    """Split `todo` into runs of consecutive shot frames, at most `size` long."""
    index = {f: i for i, f in enumerate(numbers)}
    runs: list[list[int]] = []
    for f in todo:
        if runs and index[f] == index[runs[-1][-1]] + 1 and len(runs[-1]) < size:
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


def _spans(frames: list[int]) -> str:
    runs: list[list[int]] = []  # [first, last] of each run of consecutive frames
    for f in sorted(frames):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    parts = [f"{a}-{b}" if b != a else str(a) for a, b in runs]
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")
