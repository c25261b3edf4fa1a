"""Small generated shots with saved projects for render / batch tests and the batch benchmark.

Each shot is a PNG plate sequence (a square and a disc moving over a noisy background) and a
`NAME.roto` project with two objects, each keyed by a mask on two frames (as the window saves
them: stored mask + a mask prompt), CPU fallback backend for the shot.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

FIRST = 1001


def _shapes(i: int, seed: int, w: int, h: int):
    x = 6 + (2 + seed % 3) * i
    square = (x % (w - 24), 16, x % (w - 24) + 20, 36)
    cx, cy = w - 18 - (i * 2) % (w - 36), h - 18
    return square, (cx, cy)


def make_shot(folder, name: str = "shot", frames: int = 16, width: int = 96, height: int = 72,
              seed: int = 0, keys: tuple[int, ...] = (2, 10)) -> Path:
    """Write plate + project under `folder`; returns the project folder NAME.roto."""
    from roto_studio.core.project import create_project
    from roto_studio.core.prompt import Prompt

    folder = Path(folder)
    plate = folder / f"{name}_plate"
    plate.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bg = rng.integers(30, 90, (height, width, 3)).astype(np.uint8)
    truth = {}
    for i in range(frames):
        img = bg.copy()
        (x1, y1, x2, y2), (cx, cy) = _shapes(i, seed, width, height)
        img[y1:y2, x1:x2] = (40, 60, 220)
        cv2.circle(img, (cx, cy), 9, (220, 200, 40), -1)
        m1 = np.zeros((height, width), np.float32)
        m1[y1:y2, x1:x2] = 1
        m2 = np.zeros((height, width), np.uint8)
        cv2.circle(m2, (cx, cy), 9, 1, -1)
        truth[FIRST + i] = (m1, m2.astype(np.float32))
        cv2.imwrite(str(plate / f"plate.{FIRST + i:04d}.png"), img)
    project = create_project(folder / f"{name}.roto", str(plate / "plate.####.png"))
    project.settings["backend"] = "classical"
    for k, obj_name in enumerate(("car", "ball")):
        obj = project.add_object(obj_name)
        for key in keys:
            project.masks.set(obj.id, FIRST + key, truth[FIRST + key][k])
            project.set_prompt(obj.id, FIRST + key, Prompt(has_mask=True))
    project.save()
    return project.folder


def _content(path: Path) -> bytes:
    """A file's bytes, without the provenance an export writes (it names the project and plate
    paths, which differ between shots rendered in different folders): PNG text chunks dropped,
    EXR as its header (less rotoStudio/ attributes) and pixels, movie sidecars left out."""
    data = path.read_bytes()
    if path.suffix == ".png":
        out, at = [data[:8]], 8
        while at + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[at:at + 8])
            if kind != b"iTXt":
                out.append(data[at:at + 12 + length])
            at += 12 + length
        return b"".join(out)
    if path.suffix == ".exr":
        import OpenEXR

        with OpenEXR.File(str(path), separate_channels=True) as f:
            header = {k: v for k, v in f.header().items() if not k.startswith("rotoStudio/")}
            pixels = {k: np.array(c.pixels).tobytes() for k, c in f.channels().items()}
        return repr(sorted((k, repr(v)) for k, v in header.items())).encode() + b"".join(
            k.encode() + v for k, v in sorted(pixels.items()))
    return data


def tree(folder) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> content, see _content); render records and the
    hidden temp files a killed writer may leave are not results."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): _content(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and ".roto-render" not in p.parts
            and "done" not in p.parts and not p.name.endswith(".mov.json")}


def results(project, out) -> dict[str, bytes]:
    """What a render produced: the project's masks and mattes, and the output folder's files."""
    project, out = Path(project), Path(out)
    files = {f"masks/{k}": v for k, v in tree(project / "masks").items()}
    files.update({f"matte/{k}": v for k, v in tree(project / "render" / "matte").items()})
    files.update({f"out/{k}": v for k, v in tree(out).items()})
    return files
