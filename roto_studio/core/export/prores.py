"""The ProRes 4444 writer: a .mov with 10-bit colour and 16-bit alpha through PyAV, written atomically,
cancellable between frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from roto_studio.core.errors import Cancelled
from roto_studio.core.export.pixels import alpha_to_uint16, plate_to_uint16
from roto_studio.core.export.writers import atomic_path

def write_prores(final: Path, frames: Iterable[tuple[np.ndarray, np.ndarray]], width: int, height: int,
                 fps=Fraction(24), cancel: Callable[[], bool] | None = None,
                 on_frame: Callable[[], None] | None = None,
                 tags: tuple[int, int, int] | None = None) -> None:
    """ProRes 4444 (prores_ks, yuva444p10le) .mov with alpha, written atomically.

    `frames` yields (rgb uint16 HxWx3, alpha float HxW). Raises Cancelled when cancel() turns true;
    the temp file is then removed and nothing appears under `final`. `tags` (primaries, transfer,
    matrix, FFmpeg's numbers) label the colour; the matrix also converts RGB to YUV. Default BT.709.
    """
    from roto_studio.core.colour import SWSCALE_MATRIX

    primaries, transfer, matrix = tags or (1, 1, 1)
    sws_matrix = SWSCALE_MATRIX.get(matrix, "ITU709")
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
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = matrix, primaries, transfer, 1
            for i, (rgb, alpha) in enumerate(frames):
                if cancel is not None and cancel():
                    raise Cancelled("export cancelled.")
                rgba = np.dstack([plate_to_uint16(rgb), alpha_to_uint16(alpha)])
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba64le")
                frame = frame.reformat(format="yuva444p10le", src_colorspace=sws_matrix, dst_colorspace=sws_matrix,
                                       dst_color_range="MPEG")
                frame.colorspace, frame.color_range = matrix, 1
                frame.color_primaries, frame.color_trc = primaries, transfer
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
                if on_frame is not None:
                    on_frame()
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()

