"""Motion-blurred mattes on a generated shot with true motion blur, beside the sharp mask.

The shot: a textured object (an ellipse with a notch) moving fast (about 24 px per frame, along a
curve, turning) over a textured background. Each frame is rendered as a camera with a 180-degree
shutter sees it: the mean of 64 composites at evenly spaced moments of the open shutter; the true
alpha is the mean of the object's masks at those moments. The tracked mask is the sharp mask at
the frame's centre moment (what a perfect tracker gives). Printed, per shutter angle asked for:
mean SAD (sum |alpha - truth| / 1000) over the frames of
  (a) the sharp mask (the baseline),
  (b) ours: the sharp mask smeared along the object's motion (ops.motion_blur, velocity from the
      blurred plates' flow and the tracked masks), at the shot's shutter angle;
  (c) classical matting of the mask on the blurred plate (what `matte` gives without a shutter
      angle), and (d) that matte through the motion blur (`matte --shutter-angle`).

    python benchmarks/eval_motion_blur.py [--frames N] [--size WxH] [--speed PX]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.ops.motion_blur import blur_frame  # noqa: E402

SUB = 64


def _texture(h, w, seed, scale):
    rng = np.random.default_rng(seed)
    noise = rng.random((h // scale + 2, w // scale + 2, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w].clip(0, 1)


def object_mask(h, w, cx, cy, angle, rx, ry, ss=4):
    """Anti-aliased mask (4x supersampled) of an ellipse with a notch, centred at (cx, cy)."""
    big = np.zeros((h * ss, w * ss), np.uint8)
    c = (int(cx * ss), int(cy * ss))
    cv2.ellipse(big, c, (int(rx * ss), int(ry * ss)), angle, 0, 360, 255, -1)
    t = np.deg2rad(angle)
    nx, ny = cx + 0.8 * rx * np.cos(t), cy + 0.8 * rx * np.sin(t)
    cv2.circle(big, (int(nx * ss), int(ny * ss)), int(0.35 * ry * ss), 0, -1)
    return cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)


def make_shot(frames=8, w=320, h=240, speed=24.0, shutter=180.0, seed=0):
    """(plates uint8 list, true blurred alphas, sharp centre masks)."""
    bg = _texture(h, w, seed, 8) * 0.6 + 0.2
    fg_tex = _texture(h, w, seed + 1, 5)
    fg_col = np.array([0.9, 0.35, 0.2], np.float32)
    rx, ry = 0.12 * w, 0.08 * w

    def pose(t):  # the object's centre and angle at time t (frames)
        x = 0.2 * w + speed * t
        y = 0.5 * h + 0.15 * h * np.sin(0.5 * t)
        return x, y, 15.0 * t

    plates, truths, sharps = [], [], []
    s = shutter / 360.0
    for f in range(frames):
        acc_img = np.zeros((h, w, 3), np.float32)
        acc_a = np.zeros((h, w), np.float32)
        for k in range(SUB):
            t = f + s * ((k + 0.5) / SUB - 0.5)
            x, y, ang = pose(t)
            a = object_mask(h, w, x, y, ang, rx, ry)
            # the object's texture moves with it
            m = np.float32([[1, 0, x - pose(0)[0]], [0, 1, y - pose(0)[1]]])
            tex = cv2.warpAffine(fg_tex, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            fg = 0.5 * fg_col + 0.5 * tex
            acc_img += a[..., None] * fg + (1 - a[..., None]) * bg
            acc_a += a
        plates.append((np.clip(acc_img / SUB, 0, 1) * 255 + 0.5).astype(np.uint8))
        truths.append(acc_a / SUB)
        x, y, ang = pose(f)
        sharps.append((object_mask(h, w, x, y, ang, rx, ry) >= 0.5).astype(np.float32))
    return plates, truths, sharps


def sad(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b).sum() / 1000.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--speed", type=float, default=24.0, help="px per frame")
    ap.add_argument("--shutter", type=float, default=180.0, help="the shot's shutter angle (degrees)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    plates, truths, sharps = make_shot(args.frames, w, h, args.speed, args.shutter)
    t0 = time.perf_counter()
    ours = [blur_frame(f, args.shutter, plates.__getitem__, sharps.__getitem__, frames=range(len(plates)))
            for f in range(len(plates))]
    dt = (time.perf_counter() - t0) / len(plates)
    from roto_studio.core.edge_matte import matte_from_mask
    from roto_studio.models.matting.classical import ClassicalMatter

    matter = ClassicalMatter()
    mattes = [matte_from_mask(p, m, matter, soft=m) for p, m in zip(plates, sharps)]
    blurred_mattes = [blur_frame(f, args.shutter, plates.__getitem__, sharps.__getitem__, alpha=mattes[f],
                                 frames=range(len(plates))) for f in range(len(plates))]
    s_sharp = [sad(m, t) for m, t in zip(sharps, truths)]
    s_ours = [sad(o, t) for o, t in zip(ours, truths)]
    s_matte = [sad(o, t) for o, t in zip(mattes, truths)]
    s_bm = [sad(o, t) for o, t in zip(blurred_mattes, truths)]
    print(f"generated shot: {len(plates)} frames {w}x{h}, object at {args.speed:.0f} px/frame, "
          f"{args.shutter:.0f}-degree shutter ({SUB} sub-frame positions)")
    print(f"{'frame':>5} {'sharp SAD':>10} {'ours SAD':>9} {'matte SAD':>10} {'matte+blur':>10}")
    for f, row in enumerate(zip(s_sharp, s_ours, s_matte, s_bm)):
        print(f"{f:5d} {row[0]:10.3f} {row[1]:9.3f} {row[2]:10.3f} {row[3]:10.3f}")
    ratio = np.mean(s_ours) / max(np.mean(s_sharp), 1e-12)
    print(f"mean SAD: sharp mask {np.mean(s_sharp):.3f}, ours (motion-blurred matte) {np.mean(s_ours):.3f}: "
          f"{ratio:.3f}x (target <= 0.5); {dt:.2f} s per frame")
    print(f"mean SAD: matte without motion blur {np.mean(s_matte):.3f} "
          f"({np.mean(s_matte) / max(np.mean(s_sharp), 1e-12):.3f}x the sharp mask), the matte through the motion "
          f"blur {np.mean(s_bm):.3f} ({np.mean(s_bm) / max(np.mean(s_sharp), 1e-12):.3f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
