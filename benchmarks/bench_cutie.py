"""Cutie vs SAM 2 tiny propagation: per-frame time and peak memory on the same 480p clip.

Both models are built from their packaged configs with random weights (seeded; no downloads), so
the figures are about compute and memory, not quality. Cutie runs at its default internal size
(480 on the short side: a 854x480 plate is not resized); SAM 2 tiny at its own 1024 input size.
Each case (model x clip length) runs in its own process so peak memory (ru_maxrss) of one case
does not leak into another. The clip is generated (moving shapes on a textured background), so the
script needs no shared data.

    python benchmarks/bench_cutie.py             # 100 and 1,000 frames: long on a CPU (hours)
    python benchmarks/bench_cutie.py --quick     # 10 and 30 frames, a few minutes on a CPU
    python benchmarks/bench_cutie.py --frames 50 200 --device cuda

Baseline: SAM 2 tiny, measured in the same run; ratios are Cutie / SAM 2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

W, H = 854, 480


class SyntheticClip:
    """A FrameSource of generated 854x480 frames: two shapes moving over a fixed texture."""

    def __init__(self, n: int, first: int = 1001):
        rng = np.random.default_rng(0)
        self.height, self.width = H, W
        self._numbers = list(range(first, first + n))
        self._bg = (rng.random((H, W, 3)) * 90 + 30).astype(np.uint8)
        self.first = first

    @property
    def frame_numbers(self):
        return self._numbers

    def mask(self, frame: int) -> np.ndarray:
        t = frame - self.first
        yy, xx = np.ogrid[:H, :W]
        cx = 250 + 150 * np.sin(t / 40.0)
        cy = 240 + 60 * np.cos(t / 55.0)
        return (((xx - cx) / 110.0) ** 2 + ((yy - cy) / 150.0) ** 2 < 1.0).astype(np.float32)

    def read(self, frame: int) -> np.ndarray:
        t = frame - self.first
        img = np.roll(self._bg, t % W, axis=1).copy()
        img[self.mask(frame) > 0] = (220, 170, 120)
        x = int(600 + 120 * np.cos(t / 30.0))
        img[300:380, x - 50:x + 50] = (60, 90, 210)
        return img


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_case(model: str, frames: int, device: str, variant: str) -> dict:
    """One case in this process: build, prompt the first frame, propagate, measure."""
    import torch

    from roto_studio.core.prompt import Prompt

    clip = SyntheticClip(frames)
    t0 = time.perf_counter()
    if model == "cutie":
        from roto_studio.models.cutie.video import CutieVideoPropagator

        prop = CutieVideoPropagator.from_config(variant, seed=0, device=device, size=480)
    else:
        from roto_studio.models.sam2 import common as sam2_common
        from roto_studio.models.sam2.video import Sam2VideoPropagator

        prop = Sam2VideoPropagator(sam2_common.from_config("tiny", image_size=1024, seed=0, device=device))
    build_s = time.perf_counter() - t0
    prop.start(clip)
    prop.add_prompt(clip.first, "obj", Prompt(mask=clip.mask(clip.first)))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = rss_mb()
    times = []
    t = time.perf_counter()
    done = 0
    for _frame, alphas in prop.propagate(clip.first):
        now = time.perf_counter()
        times.append(now - t)
        t = now
        done += 1
        assert alphas["obj"].shape == (H, W)
    steady = times[1:] or times  # the first yield is the prompted frame
    out = {
        "model": model if model == "sam2" else f"cutie-{variant}",
        "frames": done,
        "build_s": build_s,
        "per_frame_s": float(np.mean(steady)),
        "median_frame_s": float(np.median(steady)),
        "rss_before_mb": before,
        "peak_rss_mb": rss_mb(),
    }
    if device.startswith("cuda"):
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def spawn(model: str, frames: int, device: str, variant: str) -> dict:
    cmd = [sys.executable, __file__, "--case", model, "--frames", str(frames), "--device", device,
           "--variant", variant]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise SystemExit(f"case {model} {frames} failed:\n{res.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=None, help="clip lengths (default 100 1000)")
    ap.add_argument("--quick", action="store_true", help="10 and 30 frames (CPU smoke run)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps (default cpu)")
    ap.add_argument("--variant", default="base", choices=("base", "small"), help="Cutie variant")
    ap.add_argument("--skip-sam2", action="store_true", help="Cutie only (no baseline, no ratios)")
    ap.add_argument("--case", choices=("cutie", "sam2"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.case:  # child process: one case, one JSON line
        print(json.dumps(run_case(args.case, args.frames[0], args.device, args.variant)), flush=True)
        return 0

    lengths = args.frames or ([10, 30] if args.quick else [100, 1000])
    try:
        import cutie  # noqa: F401
    except ImportError:
        print("rf-cutie is not installed (pip install 'rf-cutie[inference]'); skipping.")
        return 0
    have_sam2 = not args.skip_sam2
    if have_sam2:
        try:
            import sam2  # noqa: F401
        except ImportError:
            print("sam2 is not installed: Cutie only, no baseline.")
            have_sam2 = False

    print(f"clip {W}x{H}, device {args.device}, {os.cpu_count()} CPU cores; random weights")
    print(f"{'model':12s} {'frames':>6s} {'s/frame':>8s} {'median':>8s} {'peak RSS MB':>12s} "
          f"{'RSS before':>11s} {'build s':>8s}")
    rows: dict[tuple[str, int], dict] = {}
    for n in lengths:
        for model in (["cutie", "sam2"] if have_sam2 else ["cutie"]):
            r = spawn(model, n, args.device, args.variant)
            rows[(model, n)] = r
            gpu = f"  GPU peak {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else ""
            print(f"{r['model']:12s} {r['frames']:6d} {r['per_frame_s']:8.3f} {r['median_frame_s']:8.3f} "
                  f"{r['peak_rss_mb']:12.0f} {r['rss_before_mb']:11.0f} {r['build_s']:8.1f}{gpu}", flush=True)
    print()
    for n in lengths:
        c = rows[("cutie", n)]
        if have_sam2:
            s = rows[("sam2", n)]
            line = (f"{n:5d} frames: Cutie / SAM 2 tiny time per frame {c['per_frame_s'] / s['per_frame_s']:.2f}x, "
                    f"peak RSS {c['peak_rss_mb'] / s['peak_rss_mb']:.2f}x, "
                    f"RSS growth while propagating {c['peak_rss_mb'] - c['rss_before_mb']:.0f} MB vs "
                    f"{s['peak_rss_mb'] - s['rss_before_mb']:.0f} MB")
            if "peak_gpu_mb" in c and "peak_gpu_mb" in s:
                line += f", GPU peak {c['peak_gpu_mb'] / s['peak_gpu_mb']:.2f}x"
            print(line)
    if len(lengths) >= 2:
        a, b = lengths[0], lengths[-1]
        for model in (["cutie", "sam2"] if have_sam2 else ["cutie"]):
            ra, rb = rows[(model, a)], rows[(model, b)]
            print(f"{ra['model']}: peak RSS {b} / {a} frames {rb['peak_rss_mb'] / ra['peak_rss_mb']:.2f}x "
                  f"(flat memory = 1.00x), time per frame {rb['per_frame_s'] / ra['per_frame_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
