"""Writing and reading single-part scanline EXR files with the OpenEXR (3.3+) Python API."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from roto_studio.core.errors import ExportError

COMPRESSIONS = ("zip", "zips", "piz", "rle", "none")
PRECISIONS = ("half", "float")


def _compression(name: str):
    import OpenEXR

    table = {
        "zip": OpenEXR.ZIP_COMPRESSION,
        "zips": OpenEXR.ZIPS_COMPRESSION,
        "piz": OpenEXR.PIZ_COMPRESSION,
        "rle": OpenEXR.RLE_COMPRESSION,
        "none": OpenEXR.NO_COMPRESSION,
    }
    try:
        return table[name.lower()]
    except (KeyError, AttributeError):
        raise ExportError(f"unknown EXR compression '{name}'; use one of: {', '.join(COMPRESSIONS)}.") from None


def pixel_dtype(precision: str):
    """numpy dtype of an EXR precision name."""
    if precision not in PRECISIONS:
        raise ExportError(f"unknown EXR precision '{precision}'; use half or float.")
    return np.float16 if precision == "half" else np.float32


def to_pixels(data: np.ndarray, precision: str) -> np.ndarray:
    """`data` as a C-contiguous array of the file's pixel type (float32 -> half via OpenCV)."""
    return _convert(np.asarray(data), pixel_dtype(precision))


def _convert(data: np.ndarray, dtype) -> np.ndarray:
    if data.dtype == dtype:
        return np.ascontiguousarray(data)
    if dtype == np.float16 and data.dtype == np.float32:
        import cv2  # same rounding as numpy's astype, several times faster

        return cv2.multiply(np.ascontiguousarray(data), 1.0, dtype=cv2.CV_16F)
    return np.ascontiguousarray(data, dtype=dtype)


def write_exr(path, channels: dict, precision: str = "half", compression: str = "zip",
              threads: int = 1) -> None:
    """Write `channels` ({name: HxW float array}) to `path`.

    Every channel must have the plate size; data window = display window = (0, 0)-(w-1, h-1).
    `threads` is OpenEXR's own compression threads for this file (1 when files are written in parallel).
    """
    import OpenEXR

    dtype = pixel_dtype(precision)
    if not channels:
        raise ExportError("nothing to write: no channels were given for the EXR file.")
    shape = None
    pixels = {}
    for name, data in channels.items():
        data = np.asarray(data)
        if data.ndim != 2:
            raise ExportError(f"EXR channel {name} must be a 2-D array, got shape {data.shape}.")
        if shape is None:
            shape = data.shape
        elif data.shape != shape:
            raise ExportError(f"EXR channel {name} is {data.shape[1]}x{data.shape[0]} but the others "
                              f"are {shape[1]}x{shape[0]}; all channels need the plate size.")
        pixels[name] = _convert(data, dtype)
    h, w = shape
    window = (np.array([0, 0], dtype=np.int32), np.array([w - 1, h - 1], dtype=np.int32))
    header = {
        "compression": _compression(compression),
        "type": OpenEXR.scanlineimage,
        "dataWindow": window,
        "displayWindow": window,
    }
    with OpenEXR.File(header, pixels, num_threads=threads) as f:
        f.write(str(Path(path)))


def read_exr(path) -> tuple[dict, dict]:
    """Read an EXR: (header dict, {channel name: HxW array}) with each channel separate."""
    import OpenEXR

    with OpenEXR.File(str(Path(path)), separate_channels=True) as f:
        header = dict(f.header())
        channels = {name: np.array(ch.pixels) for name, ch in f.channels().items()}
    return header, channels
