"""The ProRes 4444 writer: a .mov with 10-bit colour and alpha (stored as 16-bit) through PyAV, written
atomically, cancellable between frames, the same bytes for the same frames, with a start timecode.

The frames are converted to the encoder's yuva444p10 planes here in numpy (`yuva_planes`), not by
swscale: its slice-threaded conversion wrote stray alpha at slice boundaries (854x480 frames, rows
160 and 320), it truncates the alpha to 10 bits, and from 16-bit RGB it puts white at 943, not 940.
The alpha plane is the matte rounded to 10 bits (prores_ks takes no more; it stores it losslessly).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from roto_studio.core.errors import Cancelled
from roto_studio.core.export.pixels import clean_alpha, plate_to_uint16
from roto_studio.core.export.writers import atomic_path

PIX_FMT = "yuva444p10le"

# FFmpeg matrix number -> (Kr, Kb), ITU-T H.273
_LUMA = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114),
         7: (0.212, 0.087), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}


def yuva_planes(rgb: np.ndarray, alpha: np.ndarray, matrix: int = 1) -> np.ndarray:
    """4xHxW uint16 Y, Cb, Cr, A in 10 bits: RGB (uint16, full range) through the `matrix`
    (FFmpeg's number; BT.709 when unknown) into limited (video) range, alpha (0..1) full range."""
    kr, kb = _LUMA.get(int(matrix), _LUMA[1])
    rgb = plate_to_uint16(rgb)
    alpha = clean_alpha(alpha)
    h, w = rgb.shape[:2]
    out = np.empty((4, h, w), np.uint16)
    band = max(1, (1 << 16) // max(1, w))  # rows at a time: the temporaries stay in the cache
    for y0 in range(0, h, band):
        rows = slice(y0, y0 + band)
        c = rgb[rows].astype(np.float32) * np.float32(1 / 65535)
        r, g, b = c[..., 0], c[..., 1], c[..., 2]
        y = np.float32(kr) * r + np.float32(1 - kr - kb) * g + np.float32(kb) * b
        planes = np.empty((4,) + y.shape, np.float32)
        np.multiply(y, 876, out=planes[0])
        planes[0] += 64
        np.multiply(b - y, np.float32(896 / (2 * (1 - kb))), out=planes[1])
        np.multiply(r - y, np.float32(896 / (2 * (1 - kr))), out=planes[2])
        planes[1:3] += 512
        np.multiply(alpha[rows], 1023, out=planes[3])
        np.rint(planes, out=planes)
        np.clip(planes, 0, 1023, out=planes)
        out[:, rows] = planes
    return out


def movie_frame(planes: np.ndarray, width: int, height: int) -> Any:
    import av

    frame = av.VideoFrame(width, height, PIX_FMT)
    for plane, data in zip(frame.planes, planes):
        view = np.frombuffer(plane, np.uint16).reshape(height, plane.line_size // 2)  # type: ignore[call-overload]  # a PyAV plane is a buffer; its stubs do not say so
        view[:, :width] = data
    return frame


def write_prores(final: Path, frames: Iterable[np.ndarray], width: int, height: int,
                 fps: Fraction | float = Fraction(24), cancel: Callable[[], bool] | None = None,
                 on_frame: Callable[[], None] | None = None,
                 tags: tuple[int, int, int] | None = None, timecode: str | None = None) -> None:
    """ProRes 4444 (prores_ks) .mov with alpha, written atomically.

    `frames` yields the planes of each frame (see yuva_planes). Raises Cancelled when cancel() turns
    true; the temp file is then removed and nothing appears under `final`. `tags` (primaries,
    transfer, matrix: FFmpeg's numbers, default BT.709) label the colour. `timecode` ('HH:MM:SS:FF')
    is the movie's start timecode (a QuickTime timecode track). The muxer and encoder run
    bit-exact: no creation time, no version strings, so the same frames give the same bytes.
    """
    import av

    primaries, transfer, matrix = tags or (1, 1, 1)
    fps = Fraction(fps) if fps else Fraction(24)
    if fps <= 0:
        fps = Fraction(24)
    fps = fps.limit_denominator(100000)
    with atomic_path(final, ".mov") as tmp:
        container = av.open(str(tmp), mode="w", format="mov", options={"fflags": "+bitexact"})
        try:
            if timecode:
                container.metadata["timecode"] = timecode
            stream = container.add_stream("prores_ks", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = PIX_FMT
            stream.options = {"profile": "4444", "alpha_bits": "16", "vendor": "apl0", "flags": "+bitexact"}
            stream.time_base = Fraction(1, 1) / fps
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = matrix, primaries, transfer, 1
            for i, planes in enumerate(frames):
                if cancel is not None and cancel():
                    raise Cancelled("export cancelled.")
                frame = movie_frame(planes, width, height)
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
