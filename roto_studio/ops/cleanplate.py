"""Clean plates of one object written to a folder: the settings saved with the project (backend,
model, prompt, seed, alignment), the inpainter they ask for (in this process or on the model
server), and `write_clean_plate`, which fills every frame (models.cleanplate) of an open plate,
the hole from a shot's alphas (core.alphas), and writes it at the plate's precision with atomic
writes. The window's job and `roto-studio cleanplate` call it over the project's masks
(`write_project_clean_plate`), `render` over its own alpha source (progress + cancel)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from roto_studio.core.errors import ExportError, ProjectError

if TYPE_CHECKING:
    from roto_studio.core.alphas import Alphas

DEFAULTS = {"backend": "auto", "model": "", "prompt": "", "seed": 0, "align": "auto"}


def clean_plate_ext(media) -> str:
    """.exr for float plates, else .png (16-bit for plates over 8 bits)."""
    return ".exr" if _is_float(media) else ".png"


def _is_float(media) -> bool:
    return bool(getattr(media, "is_float", False) or str(getattr(media, "sample", "") or "").startswith("f"))


def clean_plate_name(object_name: str, frame: int, padding: int = 4, ext: str = ".png",
                     pattern: str | None = None, project_name: str = "project") -> str:
    from roto_studio.core.export.naming import file_safe, format_name

    if pattern:
        return format_name(pattern, file_safe(object_name), frame, project_name)
    return f"{file_safe(object_name)}_clean.{frame:0{padding}d}{ext}"


def _padding(frames: list[int]) -> int:
    return max(4, *(len(str(abs(f))) for f in frames)) if frames else 4


def settings_for(project, **given) -> dict:
    """The clean-plate settings: what was given (not None) over what the project saved, over the
    defaults. The result is stored back in project.settings['cleanplate']."""
    saved = project.settings.get("cleanplate")
    saved = saved if isinstance(saved, dict) else {}
    out = {k: (given[k] if given.get(k) is not None else saved.get(k, v)) for k, v in DEFAULTS.items()}
    try:
        out["seed"] = int(out["seed"])
    except (TypeError, ValueError):
        raise ProjectError(f"the saved clean-plate seed {out['seed']!r} is not a whole number; pass --seed N.") from None
    project.settings["cleanplate"] = dict(out)
    return out


def make_inpainter_for(settings: dict, notify: Callable[[str], None] | None = None, client=None):
    """The inpainter the settings ask for: in this process, or on the model server `client`
    (which gets the same backend, model, prompt and seed)."""
    if client is not None:
        return client.inpainter(settings["backend"], model=settings["model"] or None,
                                prompt=settings["prompt"], seed=settings["seed"])
    from roto_studio.models.cleanplate.inpaint import make_inpainter

    return make_inpainter(settings["backend"], model=settings["model"] or None, prompt=settings["prompt"],
                          seed=settings["seed"], notify=notify)


def _to_native(clean, display, native, view=None):
    """The clean frame in the plate's precision: the plate's own pixels where nothing changed, the
    fill taken back from display values where it did (through the inverse of the media's display
    view when it has one, else the plain inverse: x257 for 16-bit, the sRGB curve for float)."""
    import numpy as np

    native = np.asarray(native)[..., :3]
    changed = (clean != display).any(axis=2)
    out = native.copy()
    if not changed.any():
        return out
    v = clean[changed].astype(np.float32) / 255.0
    if view is not None and not getattr(view, "identity", True):
        v = view.from_display(v)
    elif native.dtype not in (np.uint8, np.uint16):
        v = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    if native.dtype == np.uint16:
        out[changed] = np.rint(np.clip(v, 0, 1) * 65535.0).astype(np.uint16)
    elif native.dtype == np.uint8:
        out[changed] = np.rint(np.clip(v, 0, 1) * 255.0).astype(np.uint8)
    else:
        out[changed] = v.astype(native.dtype)
    return out


class _HDRFrames:
    """A float plate's own values as 8-bit images the fill can work on without clipping them at
    1: value / peak through the sRGB curve (the shot's peak, so every chunk encodes alike)."""

    def __init__(self, media, numbers):
        import numpy as np

        self.media, self.frame_numbers = media, list(numbers)
        self.width, self.height = media.width, media.height
        peak = 0.0
        for f in self.frame_numbers:
            x = np.asarray(media.read_full(f))[..., :3]
            finite = x[np.isfinite(x)]
            peak = max(peak, float(finite.max()) if finite.size else 0.0)
        self.peak = peak

    def read(self, frame):
        import numpy as np

        x = np.clip(np.nan_to_num(np.asarray(self.media.read_full(frame), np.float32)[..., :3]) / self.peak, 0, 1)
        v = np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)
        return np.rint(v * 255.0).astype(np.uint8)

    def decode(self, image):
        import numpy as np

        v = image.astype(np.float32) / 255.0
        return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4)) * self.peak


def _keep_above_one(native, clean, display, hdr, encoded, frame):
    """`native` (the fill taken back from display values) with the fill of the HDR pass where it
    is above 1 or the display fill is clipped: the display view cannot hold those values (on an
    all-white display the display fill changes nothing at all)."""

    changed = (clean != display).any(axis=2) | (encoded != hdr.read(frame)).any(axis=2)
    values = hdr.decode(encoded)
    use = changed & ((values > 1.0).any(axis=2) | (clean >= 255).any(axis=2))
    out = native.copy()
    out[use] = values[use].astype(out.dtype)
    return out


def write_clean_plate(alphas: Alphas, media, obj_id: str, out_dir, settings: dict,
                      frames: Iterable[int] | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      cancel: Callable[[], bool] | None = None, inpainter=None,
                      pattern: str | None = None, notify: Callable[[str], None] | None = None,
                      carry: bool = True) -> list[Path]:
    """Write the clean plate of `obj_id` over the open plate `media` for `frames` (default: every
    media frame) into out_dir.

    The object's final alpha (edge settings applied: grow it to cover shadows) is the hole; the
    other objects' stored alphas are kept out of alignment and never used as background.
    `settings` (see settings_for) choose the inpainter unless one is given. carry=False fills
    what no frame shows on each frame alone (the per-frame baseline). Cancel keeps the frames
    already written and raises Cancelled."""
    import numpy as np

    from roto_studio.core.export.writers import write_exr_file, write_png_file
    from roto_studio.models.cleanplate.shot import clean_plate_frames

    obj = alphas.object(obj_id)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the output folder {out} ({exc.strerror}); choose another folder.") from None
    others = [o.id for o in alphas.objects if o.id != obj_id]

    def exclude(f):
        union = None
        for oid in others:
            a = alphas.stored(oid, f)
            if a is not None:
                union = a if union is None else np.maximum(union, a)
        return union

    written: list[Path] = []
    numbers = list(media.frame_numbers)
    todo = list(frames) if frames is not None else None  # counted here, then filled: read it once
    total = len(set(todo) & set(numbers)) if todo is not None else len(numbers)
    ext = clean_plate_ext(media)
    if pattern:
        from roto_studio.core.export.naming import check_pattern

        pattern = check_pattern(pattern, "exr" if ext == ".exr" else "png8")
    view = getattr(media, "view", None)
    deep = _is_float(media) or int(getattr(media, "bit_depth", 8) or 8) > 8 or not getattr(view, "identity", True)
    half = str(getattr(media, "sample", "") or "") != "f32"
    inp = inpainter or make_inpainter_for(settings, notify)
    pad = _padding(numbers)

    def fill(source):
        return clean_plate_frames(source, lambda f: alphas.final_alpha(obj_id, f), todo,
                                  exclude=exclude if others else None, inpainter=inp, align=settings["align"],
                                  frame_numbers=numbers, cancel=cancel, carry=carry)

    # a float plate with values above 1 is also filled in its own values (scaled to the shot's
    # peak), which the display view would clip; that fill is kept where it is above 1
    hdr = _HDRFrames(media, numbers) if _is_float(media) else None
    hdr = hdr if hdr is not None and hdr.peak > 1.0 else None
    import itertools

    for (f, rgb), (_, encoded) in zip(fill(media), fill(hdr) if hdr is not None else itertools.repeat((None, None))):
        target = out / clean_plate_name(obj.name, f, pad, ext, pattern, alphas.name)
        display = media.read(f)
        image = _to_native(rgb, display, media.read_full(f), view) if deep else rgb
        if encoded is not None:
            image = _keep_above_one(image, rgb, display, hdr, encoded, f)
        if ext == ".exr":
            image = image.astype(np.float32)
            write_exr_file(target, {"R": image[..., 0], "G": image[..., 1], "B": image[..., 2]},
                           "half" if half else "float")
        else:
            write_png_file(target, image)
        written.append(target)
        if progress is not None:
            progress(len(written), total)
    return written


def write_project_clean_plate(project, obj_id: str, out_dir, settings: dict | None = None,
                              **options) -> list[Path]:
    """write_clean_plate over the project's own masks and plate (opened and closed here);
    `settings` default to the project's saved ones."""
    settings = settings or settings_for(project)
    with project.open_media() as media:
        return write_clean_plate(project.alphas(), media, obj_id, out_dir, settings, **options)
