"""Small generated clips for the temporal matting and motion blur tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def background(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((h // 6 + 2, w // 6 + 2, 3)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w].clip(0, 1) * 0.6 + 0.2


def soft_disc(h: int, w: int, cx: float, cy: float, r: float, soft: float = 2.0) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(xs - cx, ys - cy)
    return np.clip((r - d) / (2 * soft) + 0.5, 0.0, 1.0)


def composite(alpha: np.ndarray, fg, bg: np.ndarray, noise: float = 0.0, rng=None) -> np.ndarray:
    img = alpha[..., None] * np.asarray(fg, np.float32) + (1 - alpha[..., None]) * bg
    if noise:
        img = img + rng.normal(0, noise, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def blurred_shot(frames=5, h=72, w=112, speed=10.0, shutter=180.0, sub=32):
    """A disc moving `speed` px/frame, rendered with true motion blur: (plates, true alphas, sharp masks)."""
    bg = background(h, w, 1)
    fg = (0.95, 0.3, 0.2)
    s = shutter / 360.0
    plates, truths, sharps = [], [], []
    for f in range(frames):
        acc_i = np.zeros((h, w, 3), np.float32)
        acc_a = np.zeros((h, w), np.float32)
        for k in range(sub):
            t = f + s * ((k + 0.5) / sub - 0.5)
            a = soft_disc(h, w, 20 + speed * t, h / 2, 12, 0.5)
            acc_i += a[..., None] * np.asarray(fg, np.float32) + (1 - a[..., None]) * bg
            acc_a += a
        plates.append((np.clip(acc_i / sub, 0, 1) * 255 + 0.5).astype(np.uint8))
        truths.append(acc_a / sub)
        sharps.append((soft_disc(h, w, 20 + speed * f, h / 2, 12, 0.5) >= 0.5).astype(np.float32))
    return plates, truths, sharps


def write_project(folder: Path, plates, masks, name="clip", obj_name="thing"):
    """A saved project over PNG plates with one object masked on every frame; returns it."""
    from roto_studio.core.project import create_project

    plate = folder / f"{name}_plate"
    plate.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(plates):
        cv2.imwrite(str(plate / f"plate.{1001 + i:04d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    project = create_project(folder / f"{name}.roto", str(plate / "plate.####.png"))
    project.settings["backend"] = "classical"
    obj = project.add_object(obj_name)
    for i, m in enumerate(masks):
        project.masks.set(obj.id, 1001 + i, m)
    project.save()
    return project
