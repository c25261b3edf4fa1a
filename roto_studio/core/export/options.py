"""What an export is asked to do: `ExportOptions` (format, objects, naming, range, cut-out, EXR
settings, workers) with its checks, `cutout_mode` (the one rule on straight and premultiplied
cut-outs, shared by the CLI and the export dialog), and `parse_range` for FIRST-LAST frame ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

from roto_studio.core.errors import ExportError
from roto_studio.core.exr import COMPRESSIONS, PRECISIONS

FORMATS = ("exr", "png8", "png16", "prores", "cryptomatte")
RGBA_MODES = ("straight", "premultiplied")
AUTO = "auto"  # a cut-out in the format's own convention: premultiplied EXR, straight PNG and ProRes

_STRAIGHT_ONLY = {
    "png8": "PNG stores straight alpha by its specification, so every reader would premultiply "
            "premultiplied colour a second time",
    "prores": "ProRes movies carry no premultiplied flag, so ffmpeg and editors read their alpha as "
              "straight and would premultiply premultiplied colour a second time",
}
_STRAIGHT_ONLY["png16"] = _STRAIGHT_ONLY["png8"]


def cutout_mode(fmt: str, rgba: str | None) -> str | None:
    """The cut-out `fmt` gets for `rgba` (None: alpha only; 'auto': the format's convention):
    None, 'straight' or 'premultiplied'. Raises ExportError (one line: why, and what to choose)
    for premultiplied PNG or ProRes, or an unknown mode."""
    if rgba is None:
        return None
    if rgba not in (AUTO, *RGBA_MODES):
        raise ExportError(f"unknown cut-out mode '{rgba}'; use straight or premultiplied.")
    if rgba == AUTO:
        return "premultiplied" if fmt == "exr" else "straight"
    if rgba == "premultiplied" and fmt in _STRAIGHT_ONLY:
        raise ExportError(f"{_STRAIGHT_ONLY[fmt]}; export a straight cut-out (--rgba straight), "
                          "or EXR for a premultiplied one.")
    return rgba


@dataclass
class ExportOptions:
    format: str = "exr"  # exr | png8 | png16 | prores
    objects: Sequence[str | int] | None = None  # names or ids; None = every object
    combine: bool = False  # one file per frame (one movie) holding every object
    pattern: str | None = None  # default {object}.####.<ext> ({project} when combined)
    start_frame: int | None = None  # renumber so the first exported frame gets this number
    frame_range: tuple[int, int] | None = None  # plate numbers, inclusive
    rgba: str | None = None  # None = alpha only; 'auto' | 'straight' | 'premultiplied' cut-out (see cutout_mode)
    exr_precision: str = "half"  # half | float
    exr_compression: str = "zip"  # zip | zips | piz | rle | none
    workers: int | None = None  # parallel writers; None = number of CPUs (at most 8)
    edge_colour: bool = True  # cut-outs: estimated foreground colour in soft edges (no fringes)
    out_colorspace: str | None = None  # cut-out RGB colour space; None = the plate's (sRGB for PNG/ProRes of linear plates)
    fps: Fraction | None = None  # frame rate (ProRes, EXR header, time codes); None = the shot's
    exr_attributes: dict[str, Any] | None = None  # extra header attributes for every EXR (see core.exr for types)
    crypto_layers: bool = False  # cryptomatte: also each object's <layer>.A beside the CryptoObject layers
    provenance: dict[str, Any] | None = None  # extra provenance entries (e.g. models), see core.provenance

    def check(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"unknown export format '{self.format}'; use one of: {', '.join(FORMATS)}.")
        if self.format == "cryptomatte" and self.rgba:
            raise ExportError("a Cryptomatte holds mattes only; export cut-outs with --format exr.")
        cutout_mode(self.format, self.rgba)
        if self.exr_precision not in PRECISIONS:
            raise ExportError(f"unknown EXR precision '{self.exr_precision}'; use half or float.")
        if str(self.exr_compression).lower() not in COMPRESSIONS:
            raise ExportError(f"unknown EXR compression '{self.exr_compression}'; "
                              f"use one of: {', '.join(COMPRESSIONS)}.")
        if self.frame_range is not None:
            a, b = self.frame_range
            if a > b:
                raise ExportError(f"the frame range {a}-{b} runs backwards; give the first frame first.")
        if self.fps is not None and not 0 < Fraction(self.fps) <= 1000:
            raise ExportError(f"the frame rate {self.fps} is out of range; use a rate above 0 and at most 1000.")
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

