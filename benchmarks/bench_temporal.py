"""Temporal stability of mattes: chatter on still edges, with and without temporal smoothing.

A generated shot: a static textured background, a soft-edged object made of a still body and a
moving limb (so the shot has still edges and moving edges). The per-frame masks are the true
alpha with chatter added: the edge position wobbles per pixel and per frame (about 1 px) and a
few specks flicker, as a per-frame segmenter produces. We print:
  - mean absolute alpha change between consecutive frames on pixels whose true alpha does not
    change (all such pixels near an edge), without and with temporal smoothing;
  - mean absolute error against the true alpha (edge band; and on moving-edge pixels alone, to
    show that moving edges are not smeared), without and with smoothing;
  - for reference, a plain temporal box average of the same window (it smears moving edges).

    python benchmarks/bench_temporal.py [--frames 40] [--radius 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_shot(n=40, h=270, w=480, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    small = rng.integers(0, 255, (h // 12, w // 12, 3)).astype(np.uint8)
    background = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)  # static texture
    soft = 2.0  # px width of the true soft edge
    truth, masks, frames = [], [], []
    for i in range(n):
        # body: a still ellipse; limb: a disk swinging left-right
        body = 1.0 - np.sqrt(((xx - 200) / 70) ** 2 + ((yy - 150) / 90) ** 2)
        body_sd = body * 70  # ~signed distance in px near the edge
        lx = 300 + 60 * np.sin(i * 0.35)
        limb_sd = 30 - np.sqrt((xx - lx) ** 2 + (yy - 110) ** 2)
        sd = np.maximum(body_sd, limb_sd)
        t = np.clip(sd / soft + 0.5, 0, 1).astype(np.float32)
        # chatter: per-frame, per-pixel wobble of the edge (spatially correlated over ~3 px)
        wobble = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5) * 3.5
        m = np.clip((sd + wobble) / soft + 0.5, 0, 1).astype(np.float32)
        for _ in range(3):  # flickering specks
            y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
            m[y:y + 3, x:x + 3] = 1.0 - m[y:y + 3, x:x + 3]
        obj = np.array([230, 120, 60], np.float32)
        img = obj * t[..., None] + background.astype(np.float32) * (1 - t[..., None])
        frames.append(np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8))
        truth.append(t)
        masks.append(m)
    return frames, truth, masks


def smoothed(masks, radius, settings_extra=None):
    from roto_studio.core.refine import apply_refine

    out = []
    settings = {"temporal": radius, **(settings_extra or {})}
    for i, m in enumerate(masks):
        nb = {o: masks[i + o] for o in range(-radius, radius + 1) if o and 0 <= i + o < len(masks)}
        out.append(apply_refine(m, settings, nb))
    return out


def box_average(masks, radius):
    return [np.mean(masks[max(0, i - radius):i + radius + 1], axis=0) for i in range(len(masks))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--radius", type=int, default=2)
    args = ap.parse_args(argv)
    frames, truth, masks = make_shot(args.frames)
    t0 = time.perf_counter()
    ours = smoothed(masks, args.radius)
    ms = (time.perf_counter() - t0) / len(masks) * 1000
    box = box_average(masks, args.radius)
    k = np.ones((7, 7), np.uint8)
    edge = [cv2.dilate(((t > 0) & (t < 1)).astype(np.uint8), k).astype(bool) for t in truth]

    def flicker(seq):
        vals = []
        for i in range(1, len(seq)):
            still = (np.abs(truth[i] - truth[i - 1]) < 1e-4) & (edge[i] | edge[i - 1])
            vals.append(np.abs(seq[i] - seq[i - 1])[still].mean())
        return float(np.mean(vals))

    def error(seq, which="edge"):
        vals = []
        for i in range(1, len(seq) - 1):
            if which == "edge":
                region = edge[i]
            else:  # moving-edge pixels: true alpha changes from the previous or to the next frame
                region = edge[i] & ((np.abs(truth[i] - truth[i - 1]) > 0.05) | (np.abs(truth[i + 1] - truth[i]) > 0.05))
            vals.append(np.abs(seq[i] - truth[i])[region].mean())
        return float(np.mean(vals))

    rows = [("raw masks (no smoothing)", masks), (f"temporal smoothing r={args.radius} (ours)", ours),
            (f"plain box average r={args.radius} (reference)", box)]
    h, w = truth[0].shape
    print(f"generated shot: {len(masks)} frames {w}x{h}, still body + swinging limb, ~1 px edge chatter + specks")
    print(f"{'':<40} {'flicker still':>14} {'err edge':>10} {'err moving':>11}")
    res = {}
    for name, seq in rows:
        res[name] = (flicker(seq), error(seq), error(seq, "moving"))
        print(f"{name:<40} {res[name][0]:14.4f} {res[name][1]:10.4f} {res[name][2]:11.4f}")
    raw, our = res[rows[0][0]], res[rows[1][0]]
    print(f"flicker on still edges: {raw[0] / our[0]:.2f}x lower with temporal smoothing "
          f"({our[0]:.4f} vs {raw[0]:.4f})")
    print(f"error vs true alpha (edge band): {our[1]:.4f} vs {raw[1]:.4f} without (ratio {our[1] / raw[1]:.2f}); "
          f"on moving edges {our[2]:.4f} vs {raw[2]:.4f} (box average: {res[rows[2][0]][2]:.4f})")
    print(f"cost: {ms:.1f} ms/frame at {w}x{h}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
