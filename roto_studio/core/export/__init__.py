"""Alpha export: EXR, PNG 8/16-bit and ProRes 4444 with alpha, per object or combined.

Every file is written to a hidden temp name in its own folder and renamed into place, so a
cancelled or failed export never leaves a partial file under a final name. Image frames are
written in parallel by threads: cv2, zlib (our EXR ZIP encoder, core.exr) and OpenEXR release
the GIL while encoding, so the threads run on separate cores (benchmarks/bench_export.py shows
how much of their time they spend blocked: under 1%).

Modules: options (what to export, the cut-out rule), naming (file names from patterns), pixels
(conversions), writers (atomic PNG / EXR files), prores (the movie writer), metadata (time codes,
EXR header attributes), plan (objects, frames, paths), run (the parallel export itself).
"""

from roto_studio.core.errors import ExportError
from roto_studio.core.export.naming import example_name
from roto_studio.core.export.metadata import exr_attributes, timecode_at
from roto_studio.core.export.options import FORMATS, RGBA_MODES, ExportOptions, cutout_mode, parse_range
from roto_studio.core.export.pixels import (
    alpha_to_uint16, alpha_to_uint8, clean_alpha, cutout, encode_png, exr_channels, linear_to_srgb,
    plate_to_float, plate_to_uint8, plate_to_uint16,
)
from roto_studio.core.export.prores import write_prores
from roto_studio.core.export.run import export_alphas, export_project
from roto_studio.core.export.writers import (
    atomic_path, check_writable, write_bytes_atomic, write_exr_file, write_png_file,
)

__all__ = [
    "ExportOptions", "export_alphas", "export_project", "example_name", "parse_range", "FORMATS", "RGBA_MODES",
    "alpha_to_uint8", "alpha_to_uint16", "cutout", "encode_png", "write_png_file",
    "exr_channels", "write_prores", "atomic_path", "linear_to_srgb", "ExportError", "clean_alpha",
    "plate_to_float", "plate_to_uint8", "plate_to_uint16", "check_writable", "write_bytes_atomic",
    "write_exr_file", "cutout_mode", "exr_attributes", "timecode_at",
]
