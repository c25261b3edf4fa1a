"""Generate test media (videos, image sequences, EXR) in a folder; nothing is committed.

Every frame shows a moving gradient plus its own index written as big black/white blocks, so a
decoded frame can be identified even after lossy compression (`frame_index`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

BITS = 10  # frame indices up to 1023
BLOCK = 16  # block size in pixels of one bit


def make_frame(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """HxWx3 uint8 RGB frame that encodes `index`."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(1, width - 1) + index * 7) % 256
    img[..., 1] = (y * 255 // max(1, height - 1)) % 256
    img[..., 2] = ((x + y + index * 3) // 4) % 256
    # a bar moving one block per frame, so neighbouring frames differ everywhere
    bar = (index * 8) % width
    img[BLOCK * 2:, bar:bar + 8] = 255
    for bit in range(BITS):
        on = (index >> bit) & 1
        img[0:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if on else 0
    return img


def frame_index(img: np.ndarray) -> int:
    """Read back the index drawn by make_frame (works on lossy-compressed frames)."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) / np.iinfo(img.dtype).max * 255).astype(np.uint8)
    value = 0
    for bit in range(BITS):
        block = img[4:BLOCK - 4, bit * BLOCK + 4:(bit + 1) * BLOCK - 4, :3]
        if block.mean() > 127:
            value |= 1 << bit
    return value


def write_video(path, frames: int = 48, width: int = 320, height: int = 240, codec: str = "libx264",
                rate=Fraction(24), pix_fmt: str = "yuv420p", options: dict | None = None,
                pts: list[int] | None = None, time_base: Fraction | None = None,
                gop: int | None = None, bframes: int | None = None, audio: bool = False) -> Path:
    """Encode `frames` make_frame images. `pts` (in `time_base` units) makes irregular timing."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.time_base = time_base
        opts = dict(options or {})
        if codec == "libx264":
            params = [f"keyint={gop or 250}", f"bframes={3 if bframes is None else bframes}"]
            if gop:
                params.append(f"min-keyint={gop}")
                params.append("scenecut=0")
            opts.setdefault("preset", "ultrafast" if not bframes and bframes is not None else "veryfast")
            opts["x264-params"] = ":".join(params + ([opts.pop("x264-params")] if "x264-params" in opts else []))
        elif gop:
            stream.codec_context.gop_size = gop
        if opts:
            stream.options = opts
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(make_frame(i, width, height), format="rgb24")
            if pix_fmt not in ("rgb24",):
                frame = frame.reformat(format=pix_fmt)
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = stream.time_base if time_base is None else time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_audio_only(path) -> Path:
    """A file with one audio stream and no video."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        stream.layout = "mono"
        samples = (np.sin(np.arange(44100) / 10.0) * 0.3).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start:start + 1024]
            if len(chunk) < 1024:
                break
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_png(path, img: np.ndarray) -> Path:
    """img: RGB(A) uint8/uint16 or greyscale; written with cv2 (which wants BGR)."""
    import cv2

    path = Path(path)
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    ok, data = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(img))
    assert ok
    path.write_bytes(data.tobytes())
    return path


def write_exr(path, img: np.ndarray, half: bool = False) -> Path:
    """img: HxWx3/4 float (RGB/RGBA) or HxW (written as Y)."""
    import OpenEXR

    path = Path(path)
    img = np.ascontiguousarray(img.astype(np.float16 if half else np.float32))
    if img.ndim == 2:
        channels = {"Y": img}
    else:
        names = "RGBA"[: img.shape[2]]
        channels = {name: np.ascontiguousarray(img[..., i]) for i, name in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, channels).write(str(path))
    return path


def write_sequence(folder, name: str = "plate", frames=range(1001, 1011), ext: str = "png",
                   width: int = 64, height: int = 48, pad: int = 4, sep: str = ".") -> list[Path]:
    """make_frame images as name.NNNN.ext (EXR as float RGB 0..1)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in frames:
        img = make_frame(n - frames[0] if isinstance(frames, range) else n, width, height)
        path = folder / f"{name}{sep}{n:0{pad}d}.{ext}"
        if ext == "exr":
            write_exr(path, img.astype(np.float32) / 255.0)
        else:
            write_png(path, img)
        paths.append(path)
    return paths
