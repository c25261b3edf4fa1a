"""Shared helpers for the SAM 2 tests: a small seeded random model, a generated clip as JPEGs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from roto_studio.models.sam2.common import from_config  # noqa: E402


def make_model(image_size=128, seed=0, max_obj_ptrs=8):
    """SAM 2.1 tiny from its shipped config with seeded random weights.

    max_obj_ptrs is lowered from 16 so the attention window (max(num_maskmem + 1, ptrs) frames)
    is 8 and a 16-frame clip really releases memory; None keeps the shipped settings (16 object
    pointers, 7 memory frames: a window of 16). The object-score head is biased so that random
    weights still "see" an object on every frame (else every mask would be empty and comparisons
    meaningless).
    """
    extra = [f"++model.max_obj_ptrs_in_encoder={max_obj_ptrs}"] if max_obj_ptrs else []
    model = from_config("tiny", image_size=image_size, seed=seed, extra_overrides=extra)
    with torch.no_grad():
        head = model.sam_mask_decoder.pred_obj_score_head
        last = head.layers[-1] if hasattr(head, "layers") else head
        last.bias.fill_(8.0)
    return model


def memo_backbone(model):
    """Cache forward_image on the exact input bytes: both runs of a comparison encode each frame
    once (an input that differs by one bit misses the cache and is computed). Returns counters."""
    orig = model.forward_image
    cache, stats = {}, {"hits": 0, "misses": 0}

    def forward_image(img):
        key = hashlib.sha1(img.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        if key in cache:
            stats["hits"] += 1
        else:
            stats["misses"] += 1
            cache[key] = orig(img)
        out = cache[key]
        return {k: (list(v) if isinstance(v, list) else v) for k, v in out.items()}

    model.forward_image = forward_image
    return stats


def _bounce(x: float, span: float) -> float:
    """x folded back and forth into [0, span] (a triangle wave): objects stay in the frame."""
    x = x % (2 * span)
    return x if x <= span else 2 * span - x


def disc_centre(t: int):
    return (30 + _bounce(5 * t, 100), 50 + 2 * np.sin(t / 3))


def square_box(t: int):
    sx, sy = 120 - _bounce(3 * t, 80), 30 + _bounce(t, 60)
    return (sx - 12, sy - 10, sx + 12, sy + 10)


def scene(t: int, w=160, h=120, seed=1) -> np.ndarray:
    """Frame t of a synthetic shot: textured background, a disc and a square moving (bouncing)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 90, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    img = np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w].copy()
    yy, xx = np.mgrid[:h, :w]
    cx, cy = disc_centre(t)
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < 15 ** 2] = (220, 60, 50)
    x0, y0, x1, y1 = square_box(t)
    img[(abs(xx - (x0 + x1) / 2) < 12) & (abs(yy - (y0 + y1) / 2) < 10)] = (40, 200, 230)
    return img


class JpegFrames:
    """A FrameSource over a folder of JPEGs named 0.jpg, 1.jpg ... (what stock sam2 reads),
    decoded with PIL exactly as sam2 decodes them; plate numbers start at `first`."""

    def __init__(self, folder: Path, count: int, first: int = 1001):
        from PIL import Image

        self.folder = Path(folder)
        self.count = count
        self.first = first
        with Image.open(self.folder / "0.jpg") as im:
            self.width, self.height = im.size
        self.reads = 0

    @property
    def frame_numbers(self):
        return list(range(self.first, self.first + self.count))

    def read(self, frame: int) -> np.ndarray:
        from PIL import Image

        self.reads += 1
        with Image.open(self.folder / f"{frame - self.first}.jpg") as im:
            return np.array(im.convert("RGB"))


def write_clip(folder: Path, count: int, w=160, h=120) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for t in range(count):
        Image.fromarray(scene(t, w, h)).save(folder / f"{t}.jpg", quality=95)
    return folder
