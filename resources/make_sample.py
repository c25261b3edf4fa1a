"""Make the plain test clip: a textured background with a red disc and a blue square moving
across it (the tests know where the disc is on every frame). The sample shot the window opens
is made by resources/make_footage.py. Everything is drawn here (no third-party media). Run it
directly to (re)make the clip:

    python resources/make_sample.py [OUT.mp4]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

FRAMES = 48
WIDTH = 640
HEIGHT = 360
FPS = 24


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("roto-studio")) / "sample" / "sample_shot.mp4"


def _background(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        90 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0),
        110 + 30 * np.sin((xx + yy) / 51.0),
        80 + 35 * np.cos(xx / 19.0 - yy / 41.0),
    ], axis=-1)
    noise = rng.normal(0, 12, size=(height, width, 1)).astype(np.float32)
    # a few soft stripes so the camera has something to track
    stripes = 20 * (np.sin(xx / 9.0) > 0.6)[..., None]
    return np.clip(base + noise + stripes, 0, 255).astype(np.uint8)


def frame_image(i: int, frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT,
                background: np.ndarray | None = None) -> np.ndarray:
    """Frame `i` of the sample shot: HxWx3 uint8 RGB."""
    img = (background if background is not None else _background(width, height)).copy()
    yy, xx = np.mgrid[0:height, 0:width]
    t = i / max(frames - 1, 1)
    # red disc moving left to right with a little bounce
    cx = width * (0.2 + 0.6 * t)
    cy = height * (0.5 + 0.15 * np.sin(t * 2 * np.pi))
    r = min(width, height) * 0.16
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    img[disc] = (210, 50, 40)
    # blue square moving right to left, higher up
    sx = width * (0.75 - 0.5 * t)
    sy = height * 0.25
    s = min(width, height) * 0.09
    square = (np.abs(xx - sx) <= s) & (np.abs(yy - sy) <= s)
    img[square] = (40, 70, 200)
    return img


def make_sample(path: Path | str | None = None, frames: int = FRAMES, width: int = WIDTH,
                height: int = HEIGHT, fps: int = FPS, force: bool = False) -> Path:
    """Write the sample clip (H.264 mp4, or a PNG sequence when `path` ends in .png) and return it.

    An existing clip is reused unless `force`."""
    path = Path(path) if path is not None else default_path()
    if path.suffix.lower() == ".png":
        return _write_sequence(path, frames, width, height, force)
    if path.exists() and path.stat().st_size > 0 and not force:
        return path
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    bg = _background(width, height)
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, frames, width, height, bg), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)
    return path


def _write_sequence(path: Path, frames: int, width: int, height: int, force: bool) -> Path:
    """`path` like folder/plate.png -> folder/plate.1001.png ... ; returns the folder."""
    import cv2

    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    bg = _background(width, height)
    for i in range(frames):
        name = folder / f"{path.stem}.{1001 + i:04d}.png"
        if name.exists() and not force:
            continue
        cv2.imwrite(str(name), cv2.cvtColor(frame_image(i, frames, width, height, bg), cv2.COLOR_RGB2BGR))
    return folder


if __name__ == "__main__":
    target = make_sample(sys.argv[1] if len(sys.argv) > 1 else None, force=True)
    print(target)
