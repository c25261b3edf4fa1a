"""Alpha export: EXR, PNG 8/16-bit and ProRes 4444 with alpha, per object or combined.

Every file is written to a hidden temp name in its own folder and renamed into place, so a
cancelled or failed export never leaves a partial file under a final name. Image frames are
written in parallel by threads: cv2, zlib (our EXR ZIP encoder, core.exr) and OpenEXR release
the GIL while encoding, so the threads run on separate cores (benchmarks/bench_export.py shows
how much of their time they spend blocked: under 1%).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from roto_studio.core.atomic import atomic_path as _atomic_path
from roto_studio.core.errors import Cancelled, ExportError, RotoError
from roto_studio.core.masks import to_alpha
from roto_studio.core.exr import COMPRESSIONS, PRECISIONS, write_exr
from roto_studio.core.naming import (
    check_pattern,
    default_pattern,
    example_name,
    file_safe,
    format_name,
    layer_name,
    unique_names,
)

__all__ = [
    "ExportOptions", "export_project", "example_name", "parse_range", "FORMATS", "RGBA_MODES",
    "alpha_to_uint8", "alpha_to_uint16", "cutout", "encode_png", "write_png_file",
    "exr_channels", "write_prores", "atomic_path", "linear_to_srgb", "ExportError",
]

FORMATS = ("exr", "png8", "png16", "prores")
RGBA_MODES = ("straight", "premultiplied")


@dataclass
class ExportOptions:
    format: str = "exr"  # exr | png8 | png16 | prores
    objects: Sequence[str | int] | None = None  # names or ids; None = every object
    combine: bool = False  # one file per frame (one movie) holding every object
    pattern: str | None = None  # default {object}.####.<ext> ({project} when combined)
    start_frame: int | None = None  # renumber so the first exported frame gets this number
    frame_range: tuple[int, int] | None = None  # plate numbers, inclusive
    rgba: str | None = None  # None = alpha only; 'straight' | 'premultiplied' cut-out
    exr_precision: str = "half"  # half | float
    exr_compression: str = "zip"  # zip | zips | piz | rle | none
    workers: int | None = None  # parallel writers; None = number of CPUs (at most 8)

    def check(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"unknown export format '{self.format}'; use one of: {', '.join(FORMATS)}.")
        if self.rgba not in (None, *RGBA_MODES):
            raise ExportError(f"unknown cut-out mode '{self.rgba}'; use straight or premultiplied.")
        if self.exr_precision not in PRECISIONS:
            raise ExportError(f"unknown EXR precision '{self.exr_precision}'; use half or float.")
        if str(self.exr_compression).lower() not in COMPRESSIONS:
            raise ExportError(f"unknown EXR compression '{self.exr_compression}'; "
                              f"use one of: {', '.join(COMPRESSIONS)}.")
        if self.frame_range is not None:
            a, b = self.frame_range
            if a > b:
                raise ExportError(f"the frame range {a}-{b} runs backwards; give the first frame first.")
        if self.workers is not None and self.workers < 1:
            raise ExportError("the number of workers must be at least 1.")


def parse_range(text: str) -> tuple[int, int]:
    """'1001-1100' -> (1001, 1100); '1010' -> (1010, 1010); negative numbers allowed ('-5--1')."""
    m = re.fullmatch(r"\s*(-?\d+)\s*(?:(?:-|:|\.\.)\s*(-?\d+)\s*)?", str(text))
    if not m:
        raise ExportError(f"cannot read the frame range '{text}'; write it as FIRST-LAST, e.g. 1001-1100.")
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) is not None else a
    if a > b:
        raise ExportError(f"the frame range {a}-{b} runs backwards; give the first frame first.")
    return a, b


# ---------------------------------------------------------------- pixel conversions

def clean_alpha(alpha: np.ndarray) -> np.ndarray:
    """float32 0..1, NaN -> 0 (a new array; the input is never changed)."""
    return to_alpha(alpha)


def _clean_or_same(alpha: np.ndarray) -> np.ndarray:
    """Like clean_alpha, but a float32 2-D alpha already inside 0..1 (no NaN) is returned as is:
    two quick reductions instead of a clipped copy. Only for read-only use."""
    a = np.asarray(alpha)
    if a.dtype == np.float32 and a.ndim == 2 and a.size:
        lo, hi = float(a.min()), float(a.max())  # NaN anywhere makes both NaN: fails the test
        if lo >= 0.0 and hi <= 1.0:
            return a
    return clean_alpha(a)


def _scaled(alpha: np.ndarray, scale: float, depth: int) -> np.ndarray:
    """alpha * scale rounded and saturated to an integer type by OpenCV (NaN and < 0 -> 0).

    Several times faster than the numpy equivalent and bit-identical to np.rint(a * scale)."""
    import cv2

    a = np.asarray(alpha)
    if a.dtype != np.float32 or a.ndim != 2:
        a = clean_alpha(a)
    return cv2.multiply(np.ascontiguousarray(a), scale, dtype=depth)


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    import cv2

    return _scaled(alpha, 255.0, cv2.CV_8U)


def alpha_to_uint16(alpha: np.ndarray) -> np.ndarray:
    import cv2

    return _scaled(alpha, 65535.0, cv2.CV_16U)


def _rgb3(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def plate_to_float(image: np.ndarray) -> np.ndarray:
    """RGB in float32 (uint8 /255, uint16 /65535, float kept as is: HDR stays HDR)."""
    image = _rgb3(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Scene-linear float -> sRGB-encoded float 0..1 (the display curve)."""
    x = np.clip(np.nan_to_num(np.asarray(x, np.float32)), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def plate_to_uint16(image: np.ndarray) -> np.ndarray:
    """RGB in uint16 keeping the source precision: 8-bit scaled by 257, 10/12/16-bit kept, float
    (scene-linear EXR) through the sRGB curve as the viewer shows it (PNG and ProRes are display files)."""
    image = _rgb3(image)
    if image.dtype == np.uint16:
        return image
    if image.dtype == np.uint8:
        return image.astype(np.uint16) * 257
    return np.rint(linear_to_srgb(image) * 65535.0).astype(np.uint16)


def plate_to_uint8(image: np.ndarray) -> np.ndarray:
    image = _rgb3(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.rint(image.astype(np.float32) / 257.0).astype(np.uint8)
    return np.rint(linear_to_srgb(image) * 255.0).astype(np.uint8)


def cutout(rgb: np.ndarray, alpha: np.ndarray, mode: str = "straight") -> np.ndarray:
    """HxWx4 RGBA in rgb's dtype (uint8, uint16 or float32); premultiplied scales colour by alpha."""
    rgb = _rgb3(rgb)
    a = clean_alpha(alpha)
    if rgb.dtype == np.uint8:
        out_a = np.rint(a * 255.0).astype(np.uint8)
    elif rgb.dtype == np.uint16:
        out_a = np.rint(a * 65535.0).astype(np.uint16)
    else:
        rgb = rgb.astype(np.float32)
        out_a = a
    if mode == "premultiplied":
        if rgb.dtype == np.float32:
            rgb = rgb * a[:, :, None]
        else:
            rgb = np.rint(rgb.astype(np.float32) * a[:, :, None]).astype(rgb.dtype)
    elif mode != "straight":
        raise ExportError(f"unknown cut-out mode '{mode}'; use straight or premultiplied.")
    return np.dstack([rgb, out_a])


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a grey (HxW), RGB or RGBA uint8/uint16 image (RGB order in, BGR for cv2)."""
    import cv2

    if image.dtype not in (np.uint8, np.uint16):
        raise ExportError(f"PNG needs 8 or 16-bit pixels, got {image.dtype}.")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ExportError("OpenCV could not encode a PNG image.")
    return buf.tobytes()


def exr_channels(alphas: dict[str, np.ndarray], rgb: np.ndarray | None = None, mode: str = "straight",
                 layers: bool | None = None) -> dict[str, np.ndarray]:
    """Channels for one EXR file.

    One alpha and layers falsy -> `A` (plus R, G, B for a cut-out). Several alphas -> layers
    `<name>.A`; with a cut-out, R, G, B, A also hold the plate and the union of the alphas.
    A clean float32 alpha is used as is (not copied): treat the result as read-only.
    """
    if layers is None:
        layers = len(alphas) > 1
    out: dict[str, np.ndarray] = {}
    cleaned = {name: _clean_or_same(a) for name, a in alphas.items()}
    if layers:
        for name, a in cleaned.items():
            out[f"{name}.A"] = a
        main = np.maximum.reduce(list(cleaned.values())) if cleaned else None
    else:
        (main,) = cleaned.values()
    if rgb is not None:
        colour = plate_to_float(rgb)
        if mode == "premultiplied":
            colour = colour * main[:, :, None]
        out["R"], out["G"], out["B"] = colour[:, :, 0], colour[:, :, 1], colour[:, :, 2]
        out["A"] = main
    elif not layers:
        out["A"] = main
    return out


# ---------------------------------------------------------------- atomic files

def atomic_path(final: Path, suffix: str = ""):
    """Temp file next to `final`, renamed over it when complete (core.atomic; no fsync per frame:
    the rename alone guarantees no partial file under a final name if the process dies)."""
    return _atomic_path(final, suffix, fsync=False)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_png_file(final: Path, image: np.ndarray) -> None:
    write_bytes_atomic(final, encode_png(image))


def write_exr_file(final: Path, channels: dict, precision: str = "half", compression: str = "zip",
                   threads: int = 1) -> None:
    with atomic_path(final, ".exr") as tmp:
        try:
            write_exr(tmp, channels, precision, compression, threads)
        except RotoError:
            raise
        except OSError:
            raise
        except Exception as exc:  # OpenEXR reports I/O trouble as plain exceptions
            raise _exr_failure(Path(final), tmp, exc) from None


def _exr_failure(final: Path, tmp: Path, exc: Exception) -> OSError:
    """An OSError naming `final` (never the hidden temp file) for an OpenEXR write failure."""
    text = str(exc).replace(str(tmp), str(final)).replace(tmp.name, final.name)
    low = text.lower()
    if "no space" in low or "disk full" in low:
        return OSError(errno.ENOSPC, "No space left on device", str(final))
    if "permission" in low or "read-only" in low:
        return OSError(errno.EACCES, "Permission denied", str(final))
    try:
        if shutil.disk_usage(final.parent).free < 1 << 20:
            return OSError(errno.ENOSPC, "No space left on device", str(final))
    except OSError:
        pass
    return OSError(errno.EIO, f"OpenEXR could not write the file ({text})", str(final))


def _os_error_message(exc: OSError, where: Path | str) -> str:
    name = exc.filename or where
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"the disk is full while writing {name}; free some space or choose another folder with --out."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {name} (permission denied); choose a folder you can write to."
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"part of the path {name} is a file, not a folder; choose another output folder."
    if exc.errno == errno.ENOENT:
        return f"the folder for {name} does not exist or was removed; check the output folder."
    return f"writing {name} failed: {exc.strerror or exc}; check the output folder and free disk space."


def check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written there, or raise ExportError."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"the output {folder} is a file, not a folder; choose a folder.")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".roto-write-check-", delete=True) as f:
            f.write(b"x")
            f.flush()
    except OSError as exc:
        raise ExportError(_os_error_message(exc, folder)) from None


# ---------------------------------------------------------------- ProRes

def write_prores(final: Path, frames: Iterable[tuple[np.ndarray, np.ndarray]], width: int, height: int,
                 fps=Fraction(24), cancel: Callable[[], bool] | None = None,
                 on_frame: Callable[[], None] | None = None) -> None:
    """ProRes 4444 (prores_ks, yuva444p10le) .mov with alpha, written atomically.

    `frames` yields (rgb uint16 HxWx3, alpha float HxW). Raises Cancelled when cancel() turns true;
    the temp file is then removed and nothing appears under `final`.
    """
    import av

    fps = Fraction(fps) if fps else Fraction(24)
    if fps <= 0:
        fps = Fraction(24)
    fps = fps.limit_denominator(100000)
    with atomic_path(final, ".mov") as tmp:
        container = av.open(str(tmp), mode="w", format="mov")
        try:
            stream = container.add_stream("prores_ks", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuva444p10le"
            stream.options = {"profile": "4444", "alpha_bits": "16", "vendor": "apl0"}
            stream.time_base = Fraction(1, 1) / fps
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709, video range
            for i, (rgb, alpha) in enumerate(frames):
                if cancel is not None and cancel():
                    raise Cancelled("export cancelled.")
                rgba = np.dstack([plate_to_uint16(rgb), alpha_to_uint16(alpha)])
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba64le")
                frame = frame.reformat(format="yuva444p10le", dst_colorspace="ITU709", dst_color_range="MPEG")
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
                if on_frame is not None:
                    on_frame()
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()


# ---------------------------------------------------------------- the project export

@dataclass
class _Group:
    name: str  # goes into {object}
    objects: list  # ObjectInfo
    layers: list[str]  # EXR layer per object


@dataclass
class _Plan:
    frames: list[int]
    groups: list[_Group]
    width: int
    height: int
    pattern: str
    project_name: str
    out_dir: Path
    offset: int = 0
    paths: dict = field(default_factory=dict)  # (group index, frame) -> Path

    def path(self, gi: int, frame: int) -> Path:
        return self.paths[(gi, frame)]


def _project_name(project) -> str:
    if isinstance(getattr(project, "name", None), str) and project.name:
        return file_safe(project.name, "project")
    folder = Path(getattr(project, "folder", "project"))
    name = folder.name
    if name.lower().endswith(".roto"):
        name = name[:-5]
    return file_safe(name or "project", "project")


def _pick_objects(project, wanted) -> list:
    objects = list(project.objects)
    if not objects:
        raise ExportError("the project has no objects to export; add an object and make a mask first.")
    if not wanted:
        return objects
    picked = []
    for item in wanted:
        obj = next((o for o in objects if o.name == str(item)), None)
        if obj is None:  # not a name: maybe an id
            obj = next((o for o in objects if str(o.id) == str(item)), None)
        if obj is None:
            names = ", ".join(o.name for o in objects)
            raise ExportError(f"the project has no object named '{item}'; its objects are: {names}.")
        if obj not in picked:
            picked.append(obj)
    return picked


def _open_media(project, need_pixels: bool):
    try:
        return project.open_media()
    except (RotoError, OSError, ImportError, AttributeError) as exc:
        if need_pixels:
            msg = str(exc) if isinstance(exc, RotoError) else f"the plate cannot be opened ({exc})"
            raise ExportError(f"{msg.rstrip('.')}; cut-outs need the plate: relink the media or export "
                              "alpha only.") from None
        return None


def _mask_frames_and_size(project, objects) -> tuple[list[int], int, int]:
    frames: set[int] = set()
    for o in objects:
        frames.update(project.masks.frames(o.id))
    if not frames:
        raise ExportError("the plate cannot be opened and there are no masks to export; relink the media.")
    for o in objects:
        for f in sorted(frames):
            a = project.final_alpha(o.id, f)
            if a is not None:
                return sorted(frames), a.shape[1], a.shape[0]
    raise ExportError("the plate cannot be opened and the masks are empty; relink the media.")


def _plan(project, out_dir: Path, options: ExportOptions, media) -> _Plan:
    objects = _pick_objects(project, options.objects)
    if media is not None:
        frames = list(media.frame_numbers)
        width, height = int(media.width), int(media.height)
    else:
        frames, width, height = _mask_frames_and_size(project, objects)
    if options.frame_range is not None:
        a, b = options.frame_range
        picked = [f for f in frames if a <= f <= b]
        if not picked:
            span = f"{frames[0]}-{frames[-1]}" if frames else "none"
            raise ExportError(f"the frame range {a}-{b} holds no frames of the plate ({span}); "
                              "choose a range inside it.")
        frames = picked
    if not frames:
        raise ExportError("there are no frames to export; check the media and the frame range.")
    offset = 0 if options.start_frame is None else int(options.start_frame) - frames[0]

    layers = unique_names([o.name for o in objects], layer_name)
    if options.combine:
        groups = [_Group("all", objects, layers)]
    else:
        file_names = unique_names([o.name for o in objects], file_safe)
        groups = [_Group(fn, [o], [ln]) for fn, o, ln in zip(file_names, objects, layers)]

    pattern = check_pattern(options.pattern or default_pattern(options.format, options.combine),
                            options.format, several_objects=len(groups) > 1, combined=options.combine)
    plan = _Plan(frames, groups, width, height, pattern, _project_name(project), Path(out_dir), offset)
    seen: dict[Path, tuple] = {}
    movie = options.format == "prores"
    for gi, g in enumerate(groups):
        for f in frames[:1] if movie else frames:
            name = format_name(pattern, g.name, f + offset, plan.project_name)
            p = plan.out_dir / name
            if p in seen:
                raise ExportError(f"the name pattern '{pattern}' gives {name} twice; add {{object}} or a "
                                  "frame token so every file gets its own name.")
            seen[p] = (gi, f)
            plan.paths[(gi, f)] = p
    return plan


class _Source:
    """Thread-safe access to the plate and the final alphas for one export."""

    def __init__(self, project, media, plan: _Plan, full_precision: bool):
        self.project = project
        self.media = media
        self.plan = plan
        self.full = full_precision

    def alpha(self, obj, frame: int) -> np.ndarray:
        a = self.project.final_alpha(obj.id, frame)
        if a is None:
            return np.zeros((self.plan.height, self.plan.width), np.float32)
        a = np.asarray(a)
        if a.dtype != np.float32 or a.ndim != 2:
            a = clean_alpha(a)
        # float32 is used as is: PNG conversion saturates (NaN -> 0), exr_channels clips.
        if a.shape != (self.plan.height, self.plan.width):
            raise ExportError(
                f"the mask of {obj.name!r} on frame {frame} is {a.shape[1]}x{a.shape[0]} but the plate is "
                f"{self.plan.width}x{self.plan.height}; relink the media the masks were made on, "
                f"or redo that frame.")
        return a

    def plate(self, frame: int) -> np.ndarray:
        if self.media is None:
            raise ExportError("the plate is not available; relink the media to export cut-outs.")
        # Media serialises decoding itself (core.media.Media is thread-safe).
        if self.full and hasattr(self.media, "read_full"):
            img = self.media.read_full(frame)
        else:
            img = self.media.read(frame)
        img = np.asarray(img)
        if img.shape[:2] != (self.plan.height, self.plan.width):
            raise ExportError(f"plate frame {frame} is {img.shape[1]}x{img.shape[0]}, not "
                              f"{self.plan.width}x{self.plan.height}; relink the right media.")
        return img


def _write_frame(plan: _Plan, src: _Source, options: ExportOptions, frame: int, stop: threading.Event,
                 exr_threads: int) -> list[Path]:
    """Write every group's file for one frame; returns the paths written."""
    written = []
    plate = src.plate(frame) if options.rgba else None
    for gi, g in enumerate(plan.groups):
        if stop.is_set():
            break
        path = plan.path(gi, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        alphas = [src.alpha(o, frame) for o in g.objects]
        if options.format == "exr":
            chans = exr_channels(dict(zip(g.layers, alphas)), plate, options.rgba or "straight",
                                 layers=len(alphas) > 1)
            write_exr_file(path, chans, options.exr_precision, options.exr_compression.lower(), exr_threads)
        else:
            union = alphas[0] if len(alphas) == 1 else np.maximum.reduce(alphas)
            if options.format == "png8":
                image = cutout(plate_to_uint8(plate), union, options.rgba) if plate is not None \
                    else alpha_to_uint8(union)
            else:
                image = cutout(plate_to_uint16(plate), union, options.rgba) if plate is not None \
                    else alpha_to_uint16(union)
            write_png_file(path, image)
        written.append(path)
    return written


def _raise_failure(exc: BaseException, out_dir: Path):
    if isinstance(exc, RotoError):
        raise exc
    if isinstance(exc, OSError):
        raise ExportError(_os_error_message(exc, out_dir)) from None
    if isinstance(exc, MemoryError):
        raise ExportError("out of memory while exporting; use fewer --workers or a smaller range.") from None
    raise ExportError(f"export failed: {exc}; check the output folder and try again.") from exc


def export_project(project, out_dir, options: ExportOptions | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> list[Path]:
    """Export the project's final alphas; returns the files written (in frame order).

    progress(done, total) counts frames written (files for image formats). cancel() is checked
    between frames; when it returns True the finished files are kept and Cancelled is raised
    (its `.written` lists them). Problems raise ExportError with what to do.
    """
    options = options or ExportOptions()
    options.check()
    out_dir = Path(out_dir)
    media = _open_media(project, need_pixels=bool(options.rgba))
    try:
        plan = _plan(project, out_dir, options, media)
        check_writable(out_dir)
        if options.format == "prores":
            return _export_prores(project, media, plan, options, progress, cancel)
        full = options.format in ("exr", "png16")
        src = _Source(project, media, plan, full_precision=full)
        return _export_images(plan, src, options, progress, cancel)
    finally:
        if media is not None and hasattr(media, "close"):
            try:
                media.close()
            except Exception:
                pass


def _workers(options: ExportOptions) -> int:
    if options.workers:
        return int(options.workers)
    return max(1, min(8, os.cpu_count() or 1))


def _export_images(plan: _Plan, src: _Source, options: ExportOptions, progress, cancel) -> list[Path]:
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
        pending = {}
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
                fut = threads.submit(_write_frame, plan, src, options, frame, stop, exr_threads)
                pending[fut] = frame
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
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


def _export_prores(project, media, plan: _Plan, options: ExportOptions, progress, cancel) -> list[Path]:
    fps = getattr(media, "fps", None) if media is not None else None
    src = _Source(project, media, plan, full_precision=True)
    total = len(plan.frames) * len(plan.groups)
    done = 0
    written: list[Path] = []
    if progress:
        progress(0, total)
    workers = min(_workers(options), 4)

    def prepare(gi_frame):
        gi, frame = gi_frame
        g = plan.groups[gi]
        alphas = [src.alpha(o, frame) for o in g.objects]
        union = alphas[0] if len(alphas) == 1 else np.maximum.reduce(alphas)
        if media is not None:
            rgb = plate_to_uint16(src.plate(frame))
            if options.rgba == "premultiplied":
                rgb = cutout(rgb, union, "premultiplied")[:, :, :3]
        else:
            rgb = np.repeat(alpha_to_uint16(union)[:, :, None], 3, axis=2)
        return rgb, union

    def tick():
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
        for gi, g in enumerate(plan.groups):
            if cancel is not None and cancel():
                break

            def frames_in_order(gi=gi):
                # Read ahead a few frames in the pool while the encoder works.
                queue = []
                items = iter([(gi, f) for f in plan.frames])
                for item in items:
                    queue.append(pool.submit(prepare, item))
                    if len(queue) > 2 * workers:
                        yield queue.pop(0).result()
                while queue:
                    yield queue.pop(0).result()

            path = plan.path(gi, plan.frames[0])
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                write_prores(path, frames_in_order(), plan.width, plan.height, fps, cancel, tick)
            except Cancelled:
                break
            except BaseException as exc:  # noqa: BLE001
                _raise_failure(exc, plan.out_dir)
            written.append(path)
    if len(written) < len(plan.groups):
        err = Cancelled(f"export cancelled; {len(written)} of {len(plan.groups)} movies were written "
                        f"to {plan.out_dir}.")
        err.written = written
        raise err
    return written
