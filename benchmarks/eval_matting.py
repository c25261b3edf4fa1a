"""Matting quality from a mask, on every matting image in ../shared/data (alphamatting.com).

For each image: SAD (sum |alpha - gt| / 1000) and MSE over the benchmark trimap's unknown region
(the narrow `trimap.png`), alpha in 0..1, for
  (a) the binary mask (ground truth thresholded at 0.5): the baseline to beat;
  (b) ours from that mask alone (core.refine.matte_from_mask: adaptive trimap, closed-form
      matting, the guard that keeps the mask's edge where the matte is not more plausible);
  (c) closed-form matting given the benchmark's own hand-drawn trimap (a reference);
all from the same run. Then the clip `matting/video/hairball2_grass`: SAD per frame and flicker
(mean |alpha change| between frames where the ground truth is still) of the binary mask,
per-frame matting, blend smoothing of the per-frame mattes (core.refine.temporal_smooth) and ours
(ops.temporal_matte: each frame guided by its predecessor along the flow), with the ratios of ours
to per-frame matting.

    python benchmarks/eval_matting.py [--images-only] [--clip-only] [--frames N]
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


def scores(alpha: np.ndarray, gt: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    d = alpha.astype(np.float64)[region] - gt[region]
    return float(np.abs(d).sum() / 1000.0), float((d ** 2).mean())


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _grey(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def matting_images(data: Path) -> list[tuple[str, Path, Path, Path]]:
    """(name, image, benchmark trimap, true alpha) for every matting image present."""
    found = []
    gt05 = data / "matting" / "GT05"
    if (gt05 / "fg" / "GT05.jpg").is_file():
        found.append(("GT05", gt05 / "fg" / "GT05.jpg", gt05 / "trimap" / "GT05.png", gt05 / "alpha" / "GT05.jpg"))
    for folder in sorted((data / "matting" / "alphamatting").glob("GT*")):
        if (folder / "image.png").is_file():
            found.append((folder.name, folder / "image.png", folder / "trimap.png", folder / "alpha.png"))
    return found


def eval_images(data: Path) -> bool:
    from roto_studio.core.edge_matte import matte_from_mask
    import pymatting

    from roto_studio.core.trimap import UNKNOWN, make_trimap, normalize_trimap
    from roto_studio.models.matting.classical import ClassicalMatter

    items = matting_images(data)
    if not items:
        print(f"skipped: no matting images under {data / 'matting'}; set ROTO_SHARED_DATA.")
        return True
    matter = ClassicalMatter("cf")
    print(f"{'image':<6} {'size':>9}  {'mask SAD':>9} {'ours SAD':>9} {'ratio':>6} {'CF(trimap)':>10} "
          f"{'ratio':>6} {'old SAD':>8} {'ratio':>6}   {'mask MSE':>9} {'ours MSE':>9} {'CF MSE':>9}  ours s")
    ratios, worse, old_ratios, ref_ratios = [], [], [], []
    for name, image_path, trimap_path, alpha_path in items:
        image = _rgb(image_path)
        gt = _grey(alpha_path).astype(np.float64) / 255.0
        given = normalize_trimap(_grey(trimap_path))
        region = given == UNKNOWN
        binary = (gt > 0.5).astype(np.float32)
        t0 = time.perf_counter()
        ours = matte_from_mask(image, binary, matter)
        t_ours = time.perf_counter() - t0
        # (c) closed-form matting on the benchmark trimap, called as pymatting's docs show
        reference = pymatting.estimate_alpha_cf(image.astype(np.float64) / 255.0, given.astype(np.float64) / 255.0)
        old = matter.refine(image, make_trimap(binary))  # the previous fixed-band trimap, no guard
        sm, mm = scores(binary, gt, region)
        so, mo = scores(ours, gt, region)
        sr, mr = scores(reference, gt, region)
        sd, _ = scores(old, gt, region)
        ratios.append(so / sm)
        old_ratios.append(sd / sm)
        ref_ratios.append(sr / sm)
        if so > sm:
            worse.append(name)
        h, w = gt.shape
        print(f"{name:<6} {w:>4}x{h:<4}  {sm:9.3f} {so:9.3f} {so / sm:6.2f} {sr:10.3f} {sr / sm:6.2f} "
              f"{sd:8.3f} {sd / sm:6.2f}   "
              f"{mm:9.5f} {mo:9.5f} {mr:9.5f}  {t_ours:6.1f}")
    mean = float(np.mean(ratios))
    print(f"mean SAD ratio to the binary mask: ours {mean:.3f} (target <= 0.8), closed-form on the benchmark "
          f"trimap {np.mean(ref_ratios):.3f}, previous fixed-band trimap {np.mean(old_ratios):.3f}; images where "
          f"ours is worse than the mask: {', '.join(worse) or 'none'}")
    return mean <= 0.8 and not worse


def eval_clip(data: Path, frames: int | None) -> None:
    from roto_studio.core.edge_matte import matte_from_mask, smooth_alphas
    from roto_studio.models.matting.classical import ClassicalMatter

    clip = data / "matting" / "video" / "hairball2_grass"
    names = sorted((clip / "frames").glob("*.png"))
    if not names:
        print(f"skipped: no matting clip at {clip}.")
        return
    names = names[:frames] if frames else names
    from roto_studio.ops.temporal_matte import TemporalMatter

    matter = ClassicalMatter("cf")
    temporal = TemporalMatter(matter)
    gts, binaries, per_frame, guided = [], [], [], []
    t_per = t_guided = 0.0
    for i, path in enumerate(names):
        gt = _grey(clip / "alpha" / path.name).astype(np.float64) / 255.0
        image = _rgb(path)
        binary = (gt > 0.5).astype(np.float32)
        gts.append(gt)
        binaries.append(binary)
        t0 = time.perf_counter()
        per_frame.append(matte_from_mask(image, binary, matter))
        t1 = time.perf_counter()
        guided.append(temporal.matte(i, image, binary))
        t_per += t1 - t0
        t_guided += time.perf_counter() - t1
    smoothed = smooth_alphas(per_frame, binaries)

    def sad(seq):
        return [float(np.abs(a.astype(np.float64) - g).sum() / 1000.0) for a, g in zip(seq, gts)]

    def flicker(seq):
        vals = []
        for i in range(1, len(seq)):
            still = np.abs(gts[i] - gts[i - 1]) < 1e-3
            vals.append(float(np.abs(seq[i].astype(np.float64) - seq[i - 1])[still].mean()))
        return float(np.mean(vals)) if vals else 0.0

    rows = [("binary mask", binaries), ("per-frame matting", per_frame), ("blend smoothing", smoothed),
            ("ours (temporal)", guided)]
    print(f"clip {clip.name}: {len(names)} frames")
    print(f"{'method':<20} {'mean SAD':>9} {'max SAD':>8} {'flicker':>9}")
    for label, seq in rows:
        s = sad(seq)
        print(f"{label:<20} {np.mean(s):9.3f} {np.max(s):8.3f} {flicker(seq):9.5f}")
    fl_ratio = flicker(guided) / max(flicker(per_frame), 1e-12)
    sad_ratio = np.mean(sad(guided)) / max(np.mean(sad(per_frame)), 1e-12)
    print(f"temporal vs per-frame matting: flicker {fl_ratio:.3f}x (target <= 0.5), mean SAD {sad_ratio:.3f}x "
          f"(target <= 1.0); time per frame {t_guided / len(names):.2f} s vs {t_per / len(names):.2f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images-only", action="store_true")
    ap.add_argument("--clip-only", action="store_true")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of the clip")
    args = ap.parse_args(argv)
    data = shared_data()
    if not args.clip_only:
        eval_images(data)
    if not args.images_only:
        eval_clip(data, args.frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
