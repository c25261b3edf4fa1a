"""Clean plate quality on a generated shot built from a real photo.

A real photo from ../shared/data (grabcut/imgs) is the background; a panning, slowly zooming
camera (a moving crop window, sub-pixel) films it; a textured soft-edged object moves across the
frame on top. We remove the object with our temporal clean plate and with plain cv2.inpaint on the
same frames (same hole), and print the PSNR of the filled region against the true background.

    python benchmarks/eval_cleanplate.py [--frames 30] [--photo book]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def shared_data() -> Path:
    env = os.environ.get("ROTO_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


class Frames:
    """A minimal FrameSource over in-memory frames."""

    def __init__(self, frames: dict[int, np.ndarray]):
        self._frames = frames
        first = next(iter(frames.values()))
        self.height, self.width = first.shape[:2]

    @property
    def frame_numbers(self):
        return sorted(self._frames)

    def read(self, frame):
        return self._frames[frame]


def make_shot(photo: np.ndarray, n: int, size=(360, 270), first=1001, seed=0):
    """(frames, true backgrounds, object alphas) dicts keyed by plate frame number."""
    rng = np.random.default_rng(seed)
    H, W = photo.shape[:2]
    w, h = size
    # object: a textured ellipse with a soft edge (its own colours, noisy texture)
    ow, oh = 70, 56
    yy, xx = np.mgrid[0:oh * 2, 0:ow * 2].astype(np.float32)
    d = np.sqrt(((xx - ow) / (ow * 0.5)) ** 2 + ((yy - oh) / (oh * 0.5)) ** 2)
    obj_alpha = np.clip((1.0 - d) * 12.0 + 0.5, 0.0, 1.0).astype(np.float32)
    tex = rng.integers(0, 255, (oh * 2 // 8 + 1, ow * 2 // 8 + 1, 3)).astype(np.uint8)
    obj_rgb = cv2.resize(tex, (ow * 2, oh * 2), interpolation=cv2.INTER_CUBIC)
    frames, plates, alphas = {}, {}, {}
    for i in range(n):
        t = i / max(1, n - 1)
        # camera: pan right and a little down, zooming in slightly, sub-pixel positions
        scale = 1.0 + 0.06 * t
        cx = w / 2 + 10 + (W - w - 20) * t
        cy = h / 2 + 10 + (H - h - 20) * 0.35 * t
        M = np.array([[scale, 0, w / 2 - scale * cx], [0, scale, h / 2 - scale * cy]], np.float32)
        bg = cv2.warpAffine(photo, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # object moves left-to-right across the frame (against the pan), bobbing
        ox = 40 + (w - 80) * t
        oy = h * 0.55 + 20 * np.sin(6.0 * t)
        A = np.array([[1, 0, ox - ow], [0, 1, oy - oh]], np.float32)
        a = cv2.warpAffine(obj_alpha, A, (w, h), flags=cv2.INTER_LINEAR)
        rgb = cv2.warpAffine(obj_rgb, A, (w, h), flags=cv2.INTER_LINEAR)
        comp = (rgb.astype(np.float32) * a[..., None] + bg.astype(np.float32) * (1 - a[..., None]))
        f = first + i
        frames[f] = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
        plates[f] = bg
        alphas[f] = a
    return frames, plates, alphas


def psnr(mse: float) -> float:
    return float("inf") if mse <= 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--photo", default="book")
    args = ap.parse_args(argv)
    photo_path = shared_data() / "grabcut" / "imgs" / f"{args.photo}.jpg"
    if not photo_path.is_file():
        print(f"skipped: {photo_path} not found (set ROTO_SHARED_DATA to the shared data folder).")
        return 0
    from roto_studio.models.cleanplate import CleanPlate, _hole_mask, inpaint_only

    photo = cv2.cvtColor(cv2.imread(str(photo_path)), cv2.COLOR_BGR2RGB)
    frames, plates, alphas = make_shot(photo, args.frames)
    grow = 3
    plate = CleanPlate(Frames(frames), alphas.get, grow=grow)
    se = {"temporal": 0.0, "inpaint": 0.0}
    per_frame = {"temporal": [], "inpaint": []}
    count, spatial = 0, 0
    times = {"temporal": 0.0, "inpaint": 0.0}
    for f in sorted(frames):
        hole = _hole_mask(alphas[f], alphas[f].shape, grow)
        truth = plates[f].astype(np.float64)
        t0 = time.perf_counter()
        ours, left = plate.render(f)
        times["temporal"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        base = inpaint_only(frames[f], alphas[f], grow=grow)
        times["inpaint"] += time.perf_counter() - t0
        for key, img in (("temporal", ours), ("inpaint", base)):
            err = ((img.astype(np.float64) - truth)[hole] ** 2).sum()
            se[key] += err
            per_frame[key].append(psnr(err / (hole.sum() * 3)))
        count += hole.sum() * 3
        spatial += int(left.sum())
    n = len(frames)
    p_t, p_i = psnr(se["temporal"] / count), psnr(se["inpaint"] / count)
    print(f"clean plate on {photo_path.name}: {n} frames {frames[min(frames)].shape[1]}x"
          f"{frames[min(frames)].shape[0]}, panning + zooming camera, moving object")
    print(f"filled pixels: {count // 3} total, {spatial} left to the spatial fill ({spatial / max(1, count // 3):.1%})")
    print(f"temporal clean plate: PSNR {p_t:.2f} dB (mean per frame {np.mean(per_frame['temporal']):.2f}), "
          f"{times['temporal'] / n * 1000:.0f} ms/frame")
    print(f"baseline cv2.inpaint: PSNR {p_i:.2f} dB (mean per frame {np.mean(per_frame['inpaint']):.2f}), "
          f"{times['inpaint'] / n * 1000:.0f} ms/frame")
    print(f"gain: {p_t - p_i:+.2f} dB; MSE ratio inpaint/temporal = {se['inpaint'] / max(se['temporal'], 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
