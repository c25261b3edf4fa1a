"""Colour for exports: the colour space a cut-out's RGB is written in (the plate's own unless an
output space is chosen; PNG and ProRes cut-outs of a linear plate become sRGB, and say so), the
OCIO conversion, and the tags naming it (EXR header attributes, ProRes colour tags). The matte is
data and never passes through here."""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass

import numpy as np

from roto_studio.core import colour
from roto_studio.core.export.pixels import plate_to_uint16, plate_to_uint8

# interop id -> (FFmpeg colour primaries, transfer, matrix) for tagging movies
_MOVIE_TAGS = {
    "srgb_rec709_scene": (1, 13, 1), "srgb_rec709_display": (1, 13, 1),
    "g24_rec709_scene": (1, 1, 1), "g24_rec709_display": (1, 1, 1), "ocio:itu709_rec709_scene": (1, 1, 1),
    "g22_rec709_scene": (1, 4, 1), "g22_rec709_display": (1, 4, 1),
    "srgb_p3d65_scene": (12, 13, 1), "srgb_p3d65_display": (12, 13, 1),
    "pq_rec2020_display": (9, 16, 9), "hlg_rec2020_display": (9, 18, 9),
    "lin_rec709_scene": (1, 8, 1), "lin_rec2020_scene": (9, 8, 9), "lin_p3d65_scene": (12, 8, 1),
}


@dataclass
class ColourOut:
    plate_space: str
    out_space: str
    converter: colour.Processor | None  # None: RGB written as the plate holds it
    exr_attributes: dict[str, Any]
    movie_tags: tuple[int, int, int]  # primaries, transfer, matrix
    note: str | None = None

    @property
    def movie_matrix(self) -> str:
        return colour.SWSCALE_MATRIX.get(self.movie_tags[2], "ITU709")

    def rgb(self, plate: np.ndarray, fmt: str) -> np.ndarray:
        """The plate's RGB ready for `fmt`: float32 for exr, uint8 for png8, uint16 for png16/prores."""
        native = np.asarray(plate)[..., :3]
        if self.converter is None and (fmt == "exr" or native.dtype != np.float32 and native.dtype != np.float16):
            if fmt == "exr":
                return native
            return plate_to_uint8(native) if fmt == "png8" else plate_to_uint16(native)
        data = colour.normalised(native)
        if self.converter is not None:
            data = self.converter.apply(data)
        if fmt == "exr":
            return data
        data = np.clip(data, 0.0, 1.0)
        if fmt == "png8":
            out: np.ndarray = np.rint(data * 255.0).astype(np.uint8)
            return out
        out = np.rint(data * 65535.0).astype(np.uint16)
        return out


def plan_colour(media: Any, fmt: str, out_space: str | None) -> ColourOut | None:
    """How the cut-out RGB of `media` is written as `fmt`; None when there is no plate."""
    if media is None or not hasattr(media, "colour_config"):
        return None
    config = media.colour_config
    plate = media.colorspace
    note = None
    if out_space:
        target = config.check_space(out_space)
    elif fmt != "exr" and config.is_linear(plate):
        target = config.space_for(colour.SRGB) or plate
        kind = "PNG" if fmt.startswith("png") else "ProRes"
        note = f"{kind} cut-outs of the linear plate ({plate}) are converted to {target}."
    else:
        target = plate
    converter = None if target == plate else colour.converter(config, plate, target)
    tags = _MOVIE_TAGS.get(config.interop_id(target), (1, 13, 1))
    backend_tags = getattr(media, "colour_tags", None)
    if target == plate and backend_tags and any(backend_tags.get(k) not in (0, 2, None)
                                                 for k in ("primaries", "transfer", "matrix")):
        # a video plate written in its own colour: its own tags, as they were
        src = (backend_tags.get("primaries"), backend_tags.get("transfer"), backend_tags.get("matrix"))
        own = [int(s) if s not in (0, None) else d for s, d in zip(src, tags)]
        tags = (own[0], own[1], own[2])
    return ColourOut(plate, target, converter, colour.exr_attributes(config, target), tags, note)
