"""A small generated shot for the shapes tests: a soft-edged ring (a part with a hole) drifting
right over a textured background, and a square (corners) that appears on the fourth frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FIRST = 1001
W, H = 160, 112


def ring(i: int) -> np.ndarray:
    a = np.zeros((H, W), np.float32)
    cv2.ellipse(a, (48 + 3 * i, 56), (32, 26), 5 * i, 0, 360, 1.0, -1)
    cv2.circle(a, (48 + 3 * i, 56), 9, 0.0, -1)
    return cv2.GaussianBlur(a, (0, 0), 1.2)


def square(i: int) -> np.ndarray | None:
    if i < 3:
        return None
    a = np.zeros((H, W), np.float32)
    a[20:52, 104:140] = 1.0
    return a


def make_shapes_shot(folder, frames: int = 8) -> Path:
    from roto_studio.core.project import create_project
    from roto_studio.core.prompt import Prompt

    folder = Path(folder)
    plate = folder / "plate"
    plate.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    bg = cv2.GaussianBlur(rng.integers(20, 120, (H, W, 3)).astype(np.uint8), (0, 0), 1.0)
    project = create_project(folder / "shot.roto", str(plate / "plate.####.png"))
    project.settings["backend"] = "classical"
    r = project.add_object("ring")
    s = project.add_object("box")
    for i in range(frames):
        img = bg.copy().astype(np.float32)
        a = ring(i)
        img = img * (1 - a[..., None]) + np.array([230, 180, 60], np.float32) * a[..., None]
        b = square(i)
        if b is not None:
            img = img * (1 - b[..., None]) + np.array([40, 90, 230], np.float32) * b[..., None]
            project.masks.set(s.id, FIRST + i, b)
        cv2.imwrite(str(plate / f"plate.{FIRST + i:04d}.png"), img.astype(np.uint8)[..., ::-1])
        project.masks.set(r.id, FIRST + i, a)
    project.set_prompt(r.id, FIRST, Prompt(has_mask=True))
    project.save()
    return project.folder
