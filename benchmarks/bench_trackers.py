"""Trackers side by side: EdgeTAM, SAM 2.1 tiny and Cutie on the same 854x480 frames.

    python benchmarks/bench_trackers.py                 # speed (12 frames) + memory at 50 and 400 frames
    python benchmarks/bench_trackers.py --quick         # speed (6 frames) + memory at 20 and 80 frames
    python benchmarks/bench_trackers.py --device cuda   # on a GPU
    python benchmarks/bench_trackers.py --skip-memory   # speed only

Speed: each tracker at its published size (EdgeTAM: RepViT-M1 at 1024; SAM 2.1 tiny at 1024;
Cutie base at its default size) with seeded random weights, so the work per frame is the real one,
prompted with the same mask on the first frame and propagated through the same frames through our
backends (what the app runs). Printed: seconds per frame (after the first, warm-up frame) and the
peak memory the run adds (resident on CPU; allocated on CUDA), then EdgeTAM's per-frame speedup
over SAM 2.1 tiny as a ratio (target >= 3x on the CPU).

Memory: peak memory the clip adds at two lengths for the new video paths (EdgeTAM; SAM 3 video
tracking a phrase) beside our SAM 2 path (the flat baseline), with small test-sized models so it
runs on slow CPUs: flat means the long clip costs about what the short one does.
Each case runs in its own subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sam2_memory import Jpegs, peak_mb, rss_mb, write_clip  # noqa: E402


def _disc_mask(src):
    import numpy as np

    h, w = src.height, src.width
    yy, xx = np.mgrid[:h, :w]
    return ((xx - 100) ** 2 + (yy - h // 2) ** 2 < 60 ** 2).astype(np.float32)


def _build(tracker: str, size: str, device: str):
    """A VideoPropagator for the case; size 'full' (published) or 'small' (test-sized)."""
    if tracker == "edgetam":
        from roto_studio.models import hf_build
        from roto_studio.models.hf_video import HFVideoPropagator

        model, processor = hf_build.random_edgetam(tiny=size == "small")
        return HFVideoPropagator(model.to(device), processor, device=device)
    if tracker == "sam2":
        from roto_studio.models.sam2_common import from_config
        from roto_studio.models.sam2_video import Sam2VideoPropagator

        return Sam2VideoPropagator(from_config("tiny", image_size=1024 if size == "full" else 128, device=device))
    if tracker == "cutie":
        from roto_studio.models.cutie_video import CutieVideoPropagator

        return CutieVideoPropagator.from_config("base", device=device)
    if tracker == "sam3":
        from roto_studio.models import hf_build
        from roto_studio.models.sam3_video import Sam3VideoPropagator

        model, processor = hf_build.random_sam3_video(tiny=True)
        return Sam3VideoPropagator(model.to(device), processor, device=device)
    raise SystemExit(f"unknown tracker {tracker}")


def child(args) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    from roto_studio.models.base import Prompt

    src = Jpegs(Path(args.clip), args.frames)
    prop = _build(args.tracker, args.size, args.device)
    prop.start(src)
    if args.tracker == "sam3":
        prop.add_text("person", "person")
    else:
        prop.add_prompt(1001, "a", Prompt(mask=_disc_mask(src)))
    base = max(rss_mb(), peak_mb())
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    t = time.perf_counter()
    marks = {}
    for i, (_f, _alphas) in enumerate(prop.propagate(1001)):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        now = time.perf_counter()
        times.append(now - t)
        t = now
        if i + 1 in args.marks:
            marks[i + 1] = peak_mb() - base
    steady = times[1:] or times
    out = {"per_frame_s": sum(steady) / len(steady), "peak_mb": peak_mb() - base, "frames": len(times),
           "marks": marks}
    if args.device.startswith("cuda"):
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(out))


def run_case(tracker, size, folder, frames, args, marks=()) -> dict:
    cmd = [sys.executable, __file__, "--child", "--tracker", tracker, "--size", size, "--clip", str(folder),
           "--frames", str(frames), "--device", args.device, "--marks", ",".join(map(str, marks)) or "0"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{tracker} on {frames} frames failed:\n{r.stderr[-3000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tracker", help=argparse.SUPPRESS)
    ap.add_argument("--size", default="full", help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    ap.add_argument("--marks", default="0", help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, default=None, help="frames for the speed part (default 12, quick 6)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--quick", action="store_true", help="fewer frames everywhere (slow shared CPUs)")
    ap.add_argument("--skip-memory", action="store_true", help="speed only")
    ap.add_argument("--skip-cutie", action="store_true", help="leave Cutie out (rf-cutie not installed)")
    args = ap.parse_args()
    if args.child:
        args.marks = {int(v) for v in args.marks.split(",") if v.strip() and v != "0"}
        child(args)
        return 0
    speed_frames = args.frames or (6 if args.quick else 12)
    short, long = (20, 80) if args.quick else (50, 400)
    with tempfile.TemporaryDirectory(prefix="roto-bench-trackers-") as tmp:
        clip = Path(tmp) / "clip"
        write_clip(clip, max(speed_frames, long))
        print(f"speed: {speed_frames} frames at 854x480 on {args.device}, published model sizes, random weights")
        print(f"{'tracker':<16}{'s/frame':>10}{'peak MB':>10}")
        rows = {}
        trackers = ["edgetam", "sam2"] + ([] if args.skip_cutie else ["cutie"])
        for tr in trackers:
            r = run_case(tr, "full", clip, speed_frames, args)
            rows[tr] = r
            mem = r.get("gpu_peak_mb", r["peak_mb"])
            label = {"edgetam": "EdgeTAM", "sam2": "SAM 2.1 tiny", "cutie": "Cutie base"}[tr]
            print(f"{label:<16}{r['per_frame_s']:>10.3f}{mem:>10.0f}", flush=True)
        ratio = rows["sam2"]["per_frame_s"] / rows["edgetam"]["per_frame_s"]
        print(f"EdgeTAM speedup over SAM 2.1 tiny per frame: {ratio:.2f}x (target >= 3x on the CPU)")
        if args.skip_memory:
            return 0
        print(f"\nmemory added by the clip at {short} and {long} frames (test-sized models, same 854x480 frames)")
        print(f"{'tracker':<16}{short:>8} fr{long:>8} fr{'growth':>10}")
        for tr, label in (("sam2", "SAM 2 (base)"), ("edgetam", "EdgeTAM"), ("sam3", "SAM 3 video")):
            r = run_case(tr, "small", clip, long, args, marks=(short, long))
            a, b = r["marks"].get(str(short), 0.0), r["marks"].get(str(long), r["peak_mb"])
            print(f"{label:<16}{a:>8.0f} MB{b:>8.0f} MB{b - a:>8.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
