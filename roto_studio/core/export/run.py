"""Running an export: image frames written in parallel by threads (cv2, zlib and OpenEXR release the
GIL while encoding), ProRes movies encoded in order with frames prepared ahead, progress, cancel,
and failures turned into one ExportError."""

from __future__ import annotations

import dataclasses
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from fractions import Fraction
from typing import Any, Callable, Iterator, NoReturn

import numpy as np

from roto_studio.core import provenance
from roto_studio.core.alphas import Alphas
from roto_studio.core.errors import Cancelled, ExportError, RotoError
from roto_studio.core.export.colour_out import ColourOut, plan_colour
from roto_studio.core.export.edges import estimate_foreground
from roto_studio.core.export.metadata import exr_attributes, timecode_at
from roto_studio.core.export.options import ExportOptions, cutout_mode
from roto_studio.core.export.pixels import (
    alpha_to_uint16, alpha_to_uint8, cutout, exr_channels, plate_to_uint16, plate_to_uint8,
)
from roto_studio.core.export.plan import Plan, Source, make_plan, open_plate
from roto_studio.core.export import writers
from roto_studio.core.export.prores import write_prores, yuva_planes
from roto_studio.core.export.writers import os_error_message, check_writable, write_exr_file

def exr_rgb_precision(media: Any, chosen: str) -> str:
    """EXR precision for a cut-out's R, G, B: the plate's own (float for float and 12/16-bit
    plates, whose values half would round; half for 8/10-bit and half-float plates), or float when
    `chosen` (the alpha's precision) is float."""
    if chosen == "float" or media is None:
        return chosen
    sample = getattr(media, "sample", None)
    if sample is not None:
        return "half" if sample in ("u8", "f16") else "float"
    return "float" if int(getattr(media, "bit_depth", 8)) > 10 else "half"


def _write_frame(plan: Plan, src: Source, options: ExportOptions, frame: int, stop: threading.Event,
                 exr_threads: int, colour_out: ColourOut | None = None, fps: Fraction | float = 24) -> list[Path]:
    """Write every group's file for one frame; returns the paths written."""
    written = []
    plate = src.plate(frame) if options.rgba else None
    for gi, g in enumerate(plan.groups):
        if stop.is_set():
            break
        path = plan.path(gi, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        alphas = [src.alpha(o, frame) for o in g.objects]
        rgb = colour_out.rgb(plate, options.format) if plate is not None and colour_out else plate
        rgba = options.rgba or "straight"
        if rgb is not None and options.edge_colour:
            union = alphas[0] if len(alphas) == 1 else np.maximum.reduce(alphas)
            rgb = estimate_foreground(rgb, union)
        record = provenance.with_objects(getattr(plan, "provenance", None), g.objects)
        if options.format == "cryptomatte":
            from roto_studio.core.export.cryptomatte import write_cryptomatte

            write_cryptomatte(path, g, alphas, options, exr_threads, provenance.with_exr(None, record, frame, frame))
        elif options.format == "exr":
            chans = exr_channels(dict(zip(g.layers, alphas)), rgb, options.rgba or "straight",
                                 layers=options.combine or len(alphas) > 1)
            colour = colour_out.exr_attributes if colour_out is not None and plate is not None else None
            attrs = exr_attributes(frame, fps, colour, options.rgba if plate is not None else None,
                                   options.exr_attributes)
            rgb_precision = exr_rgb_precision(src.media, options.exr_precision) if plate is not None else None
            write_exr_file(path, chans, options.exr_precision, options.exr_compression.lower(), exr_threads,
                           attributes=provenance.with_exr(attrs, record, frame, frame),
                           channel_precision={c: rgb_precision for c in "RGB"} if rgb_precision else None)
        else:
            union = alphas[0] if len(alphas) == 1 else np.maximum.reduce(alphas)
            if options.format == "png8":
                image = cutout(plate_to_uint8(rgb), union, rgba) if rgb is not None \
                    else alpha_to_uint8(union)
            else:
                image = cutout(plate_to_uint16(rgb), union, rgba) if rgb is not None \
                    else alpha_to_uint16(union)
            writers.write_bytes_atomic(path, provenance.png_with_record(writers.encode_png(image), record, frame, frame))
        written.append(path)
    return written


def _raise_failure(exc: BaseException, out_dir: Path) -> NoReturn:
    if isinstance(exc, RotoError):
        raise exc
    if isinstance(exc, OSError):
        raise ExportError(os_error_message(exc, out_dir)) from None
    if isinstance(exc, MemoryError):
        raise ExportError("out of memory while exporting; use fewer --workers or a smaller range.") from None
    raise ExportError(f"export failed: {exc}; check the output folder and try again.") from exc


def export_project(project: Any, out_dir: str | os.PathLike[str], options: ExportOptions | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None,
                   notes: list[str] | None = None) -> list[Path]:
    """Export the project's final alphas (its own masks, over the plate it opens): export_alphas
    with `project.alphas()`. Returns the files written (in frame order)."""
    options = options or ExportOptions()
    options.check()
    media = open_plate(project, need_pixels=bool(cutout_mode(options.format, options.rgba)))
    try:
        return export_alphas(project.alphas(), media, out_dir, options, progress, cancel, notes)
    finally:
        if media is not None and hasattr(media, "close"):
            try:
                media.close()
            except Exception:
                pass


def export_alphas(alphas: Alphas, media: Any, out_dir: str | os.PathLike[str], options: ExportOptions | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool] | None = None,
                  notes: list[str] | None = None) -> list[Path]:
    """Export the final alphas of `alphas` over `media` (an open plate, or None when only alphas
    are wanted and the plate cannot be opened; the caller closes it); returns the files written.

    progress(done, total) counts frames written (files for image formats). cancel() is checked
    between frames; when it returns True the finished files are kept and Cancelled is raised
    (its `.written` lists them). Problems raise ExportError with what to do. Things the user
    should know (e.g. a colour conversion) are appended to `notes`.
    """
    options = options or ExportOptions()
    options.check()
    options = dataclasses.replace(options, rgba=cutout_mode(options.format, options.rgba))
    out_dir = Path(out_dir)
    if media is None and options.rgba:
        raise ExportError("the plate is not available; cut-outs need the plate: relink the media or export "
                          "alpha only.")
    plan = make_plan(alphas, out_dir, options, media)
    plan.provenance = provenance.build(alphas, media, [o for g in plan.groups for o in g.objects],
                                       options.format, options.provenance)
    check_writable(out_dir)
    colour_out = plan_colour(media, options.format, options.out_colorspace) \
        if (options.rgba or options.format == "prores") else None
    if colour_out is not None and colour_out.note and notes is not None:
        notes.append(colour_out.note)
    fps = movie_fps(alphas.fps, media, options)
    if options.format == "prores":
        return _export_prores(media, plan, options, progress, cancel, colour_out, fps, alphas)
    full = options.format in ("exr", "png16")
    src = Source(alphas, media, plan, full_precision=full or colour_out is not None)
    return _export_images(plan, src, options, progress, cancel, colour_out, fps)


def _workers(options: ExportOptions) -> int:
    if options.workers:
        return int(options.workers)
    return max(1, min(8, os.cpu_count() or 1))


def _export_images(plan: Plan, src: Source, options: ExportOptions, progress: Callable[[int, int], None] | None,
                   cancel: Callable[[], bool] | None,
                   colour_out: ColourOut | None = None, fps: Fraction | float = 24) -> list[Path]:
    workers = _workers(options)
    exr_threads = 1 if workers > 1 else max(1, min(8, os.cpu_count() or 1))
    total = len(plan.frames) * len(plan.groups)
    done_files: dict[int, list[Path]] = {}
    done = 0
    stop = threading.Event()
    failure: BaseException | None = None
    cancelled = False
    if progress:
        progress(0, total)
    frames = iter(plan.frames)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as threads:
        pending: dict[Future[list[Path]], int] = {}
        exhausted = False
        while True:
            while not exhausted and not stop.is_set() and len(pending) < 2 * workers:
                if cancel is not None and cancel():
                    cancelled = True
                    stop.set()
                    break
                frame = next(frames, None)
                if frame is None:
                    exhausted = True
                    break
                fut = threads.submit(_write_frame, plan, src, options, frame, stop, exr_threads, colour_out, fps)
                pending[fut] = frame
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=pending.__getitem__):  # the earliest frame's error wins
                frame = pending.pop(fut)
                try:
                    paths = fut.result()
                except BaseException as exc:  # noqa: BLE001 - reported after the others stop
                    if failure is None:
                        failure = exc
                    stop.set()
                    continue
                done_files[frame] = paths
                done += len(paths)
                if progress:
                    progress(done, total)
    written = [p for f in plan.frames if f in done_files for p in done_files[f]]
    if failure is not None:
        _raise_failure(failure, plan.out_dir)
    if cancelled:
        err = Cancelled(f"export cancelled; {len(written)} of {total} files were written to {plan.out_dir}.")
        err.written = written
        raise err
    return written


def movie_frames(frames: list[int], media: Any) -> list[int]:
    """The plate frame shown at each movie frame, first to last with none skipped: a frame missing
    from the plate holds the one before it, so the movie's timing matches the plate's. (Without a
    plate, every number is its own frame: one with no mask is simply empty.)"""
    if not frames:
        return []
    present = set(frames)
    out, held = [], frames[0]
    for f in range(frames[0], frames[-1] + 1):
        if f in present or media is None:
            held = f
        out.append(held)
    return out


def movie_fps(saved: str | None, media: Any, options: ExportOptions) -> Fraction:
    """The rate of movies, EXR headers and time codes: --fps, else the shot's (project setting,
    applied to the media when opened), else 24."""
    from roto_studio.core.framerate import parse_fps

    if options.fps:
        return Fraction(options.fps)
    if media is not None and getattr(media, "fps", None):
        return Fraction(media.fps)
    return parse_fps(str(saved)) if saved else Fraction(24)


def _export_prores(media: Any, plan: Plan, options: ExportOptions,
                   progress: Callable[[int, int], None] | None, cancel: Callable[[], bool] | None,
                   colour_out: ColourOut | None, fps: Fraction, alphas: Alphas) -> list[Path]:
    shown = movie_frames(plan.frames, media)
    src = Source(alphas, media, plan, full_precision=True)
    total = len(shown) * len(plan.groups)
    done = 0
    written: list[Path] = []
    if progress:
        progress(0, total)
    workers = min(_workers(options), 4)
    tags = colour_out.movie_tags if colour_out is not None else None
    matrix = tags[2] if tags else 1
    timecode = str(timecode_at(plan.frames[0], fps))

    def prepare(gi_frame: tuple[int, int]) -> np.ndarray:
        gi, frame = gi_frame
        g = plan.groups[gi]
        alphas = [src.alpha(o, frame) for o in g.objects]
        union = alphas[0] if len(alphas) == 1 else np.maximum.reduce(alphas)
        if media is not None:
            plate = src.plate(frame)
            rgb = colour_out.rgb(plate, "prores") if colour_out is not None else plate_to_uint16(plate)
            if options.edge_colour:
                rgb = estimate_foreground(rgb, union)
        else:
            rgb = np.repeat(alpha_to_uint16(union)[:, :, None], 3, axis=2)
        return yuva_planes(rgb, union, matrix)  # here, in the pool: numpy releases the GIL

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
        for gi, g in enumerate(plan.groups):
            if cancel is not None and cancel():
                break

            def frames_in_order(gi: int = gi) -> Iterator[np.ndarray]:
                # Read ahead a few frames in the pool while the encoder works.
                queue: list[Future[np.ndarray]] = []
                items = iter([(gi, f) for f in shown])
                for item in items:
                    queue.append(pool.submit(prepare, item))
                    if len(queue) > 2 * workers:
                        yield queue.pop(0).result()
                while queue:
                    yield queue.pop(0).result()

            path = plan.path(gi, plan.frames[0])
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                write_prores(path, frames_in_order(), plan.width, plan.height, fps, cancel, tick,
                             tags=tags, timecode=timecode)
            except Cancelled:
                break
            except BaseException as exc:  # noqa: BLE001
                _raise_failure(exc, plan.out_dir)
            provenance.write_sidecar(path, provenance.with_objects(getattr(plan, "provenance", None), g.objects),
                                     plan.frames[0], plan.frames[-1])
            written.append(path)
    if len(written) < len(plan.groups):
        err = Cancelled(f"export cancelled; {len(written)} of {len(plan.groups)} movies were written "
                        f"to {plan.out_dir}.")
        err.written = written
        raise err
    return written
