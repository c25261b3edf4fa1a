"""Matting quality on ../shared/data/matting/GT05 (alphamatting.com training image).

SAD (sum |alpha - gt| / 1000) and MSE over the given trimap's unknown region, alpha in 0..1:
  1. our classical path (pymatting closed-form, tiled crop) from the given trimap;
  2. our classical path from a trimap made by core.trimap.make_trimap from the thresholded
     ground-truth mask (alpha > 0.5), i.e. what the app does with a segmentation mask;
  3. baseline: that binary mask itself.

    python benchmarks/eval_matting.py [--band PX] [--method cf|lbdm|knn] [--sweep]
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--band", type=int, default=None, help="band for the made trimap (default: the app's default)")
    ap.add_argument("--method", default="cf", choices=("cf", "lbdm", "knn"))
    ap.add_argument("--sweep", action="store_true", help="also print a band-width sweep for the made trimap")
    args = ap.parse_args(argv)
    folder = shared_data() / "matting" / "GT05"
    files = [folder / "fg" / "GT05.jpg", folder / "trimap" / "GT05.png", folder / "alpha" / "GT05.jpg"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"skipped: matting data not found ({', '.join(missing)}); set ROTO_SHARED_DATA.")
        return 0
    from roto_studio.core.trimap import UNKNOWN, default_band, make_trimap, normalize_trimap
    from roto_studio.models.matting_classical import ClassicalMatter

    image = cv2.cvtColor(cv2.imread(str(files[0])), cv2.COLOR_BGR2RGB)
    given = normalize_trimap(cv2.imread(str(files[1]), cv2.IMREAD_GRAYSCALE))
    gt = cv2.imread(str(files[2]), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0
    region = given == UNKNOWN
    h, w = gt.shape
    band = args.band or default_band(h, w)
    matter = ClassicalMatter(args.method)
    binary = (gt > 0.5).astype(np.float32)

    t0 = time.perf_counter()
    a_given = matter.refine(image, given)
    t_given = time.perf_counter() - t0
    made = make_trimap(binary, band, band)
    t0 = time.perf_counter()
    a_made = matter.refine(image, made)
    t_made = time.perf_counter() - t0

    rows = [
        (f"classical ({args.method}) from the given trimap", *scores(a_given, gt, region), f"{t_given:.2f}s"),
        (f"classical ({args.method}) from trimap of GT>0.5 (band {band}px, adaptive)",
         *scores(a_made, gt, region), f"{t_made:.2f}s"),
        ("baseline: binary mask GT>0.5", *scores(binary, gt, region), ""),
    ]
    print(f"GT05 {w}x{h}, scored over the given trimap's unknown region ({int(region.sum())} px)")
    print(f"{'method':<62} {'SAD':>8} {'MSE':>9}  time")
    for name, sad, mse, t in rows:
        print(f"{name:<62} {sad:8.3f} {mse:9.5f}  {t}")
    base_sad, base_mse = rows[2][1], rows[2][2]
    print(f"ratio vs binary baseline (lower is better): given trimap SAD {rows[0][1] / base_sad:.2f}, "
          f"MSE {rows[0][2] / base_mse:.2f}; made trimap SAD {rows[1][1] / base_sad:.2f}, "
          f"MSE {rows[1][2] / base_mse:.2f}")
    if args.sweep:
        print("band sweep for the made trimap (adaptive on / off):")
        for b in (3, 5, 8, 12):
            out = []
            for adaptive in (True, False):
                a = matter.refine(image, make_trimap(binary, b, b, adaptive=adaptive))
                out.append("SAD %.3f MSE %.5f" % scores(a, gt, region))
            print(f"  band {b:2d}px: adaptive {out[0]} | fixed {out[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
