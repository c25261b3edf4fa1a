"""The export plan: which objects (per file or combined), which frames, the size, and every output
path from the name pattern (checked for clashes before anything is written); `Source` gives the
plate and the final alphas to the writer threads."""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from roto_studio.core.alphas import Alphas
from roto_studio.core.errors import ExportError, RotoError
from roto_studio.core.export.naming import (
    check_pattern, default_pattern, file_safe, format_name, layer_name, unique_names,
)
from roto_studio.core.export.options import ExportOptions
from roto_studio.core.export.pixels import clean_alpha

@dataclass
class Group:
    name: str  # goes into {object}
    objects: list[Any]  # ObjectInfo
    layers: list[str]  # EXR layer per object


@dataclass
class Plan:
    frames: list[int]
    groups: list[Group]
    width: int
    height: int
    pattern: str
    project_name: str
    out_dir: Path
    offset: int = 0
    paths: dict[tuple[int, int], Path] = field(default_factory=dict)  # (group index, frame) -> Path
    provenance: dict[str, Any] | None = None  # the export's provenance record (core.provenance)

    def path(self, gi: int, frame: int) -> Path:
        return self.paths[(gi, frame)]


def _pick_objects(alphas: Alphas, wanted: Any) -> list[Any]:
    objects = list(alphas.objects)
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


def open_plate(project: Any, need_pixels: bool) -> Any:
    """The project's plate for an export, or None where it cannot be opened and only alphas are
    wanted."""
    try:
        return project.open_media()
    except (RotoError, OSError, ImportError, AttributeError) as exc:
        if need_pixels:
            msg = str(exc) if isinstance(exc, RotoError) else f"the plate cannot be opened ({exc})"
            raise ExportError(f"{msg.rstrip('.')}; cut-outs need the plate: relink the media or export "
                              "alpha only.") from None
        return None


def _mask_frames_and_size(alphas: Alphas, objects: list[Any]) -> tuple[list[int], int, int]:
    frames: set[int] = set()
    for o in objects:
        frames.update(alphas.frames(o.id))
    if not frames:
        raise ExportError("the plate cannot be opened and there are no masks to export; relink the media.")
    for o in objects:
        for f in sorted(frames):
            a = alphas.final_alpha(o.id, f)
            if a is not None:
                return sorted(frames), a.shape[1], a.shape[0]
    raise ExportError("the plate cannot be opened and the masks are empty; relink the media.")


def make_plan(alphas: Alphas, out_dir: Path, options: ExportOptions, media: Any) -> Plan:
    objects = _pick_objects(alphas, options.objects)
    if media is not None:
        frames = list(media.frame_numbers)
        width, height = int(media.width), int(media.height)
    else:
        frames, width, height = _mask_frames_and_size(alphas, objects)
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
    if options.combine or options.format == "cryptomatte":  # a Cryptomatte holds every object
        groups = [Group("all", objects, layers)]
    else:
        file_names = unique_names([o.name for o in objects], file_safe)
        groups = [Group(fn, [o], [ln]) for fn, o, ln in zip(file_names, objects, layers)]

    pattern = check_pattern(options.pattern or default_pattern(options.format, options.combine),
                            options.format, several_objects=len(groups) > 1,
                            combined=options.combine or options.format == "cryptomatte")
    plan = Plan(frames, groups, width, height, pattern, file_safe(alphas.name or "project", "project"),
                Path(out_dir), offset)
    seen: dict[Path, tuple[int, int]] = {}
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


class Source:
    """Thread-safe access to the plate and the final alphas for one export."""

    def __init__(self, alphas: Alphas, media: Any, plan: Plan, full_precision: bool) -> None:
        self.alphas = alphas
        self.media = media
        self.plan = plan
        self.full = full_precision

    def alpha(self, obj: Any, frame: int) -> np.ndarray:
        a = self.alphas.final_alpha(obj.id, frame)
        if a is None:
            return np.zeros((self.plan.height, self.plan.width), np.float32)
        a = np.asarray(a)
        if a.dtype != np.float32 or a.ndim != 2:
            a = clean_alpha(a)
        # float32 is used as is: the writers' conversions clamp it (NaN -> 0).
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

