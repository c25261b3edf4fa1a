"""Trackers side by side: EdgeTAM, SAM 2.1 tiny and Cutie on the same 854x480 frames.

    python benchmarks/bench_trackers.py                  # speed (16 frames) + memory at 50 and 400 frames
    python benchmarks/bench_trackers.py --quick          # speed (8 frames) + memory at 20 and 80 frames
    python benchmarks/bench_trackers.py --threads 1      # every tracker on one CPU thread (shared machines)
    python benchmarks/bench_trackers.py --fuse           # also EdgeTAM with its backbone fused (opt-in)
    python benchmarks/bench_trackers.py --device cuda    # on a GPU
    python benchmarks/bench_trackers.py --skip-memory    # speed only (--skip-speed: memory only)

Speed: each tracker at its published size (EdgeTAM: RepViT-M1 at 1024; SAM 2.1 tiny at 1024;
Cutie base at its default size) with seeded random weights, so the work per frame is the real one,
prompted with the same mask on the first frame of the same JPEG frames and propagated through our
backends (what the app runs), each in its own process with the same torch thread count. Timed:
the frames after the memory bank has filled (the first `--warm` tracked frames are left out, fewer
on short runs), wall seconds and CPU seconds (process time: what contention on a shared machine
does not inflate, on one thread) per frame, and the peak memory the run adds (resident on CPU;
allocated on CUDA). Then EdgeTAM's per-frame speedup over SAM 2.1 tiny from the same run, as ratios
(target >= 3x on the CPU).

Memory: peak memory the clip adds (on CUDA: peak GPU memory allocated) at two lengths for the new
video paths (EdgeTAM; SAM 3 video tracking a phrase) beside our SAM 2 path (the flat baseline),
with small test-sized models on a small clip: flat means the long clip costs about what the short
one does.
Each case runs in its own subprocess. No Qt is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    if tracker in ("edgetam", "edgetam-fused", "edgetam-torch"):
        from roto_studio.models.hf import build as hf_build
        from roto_studio.models.hf.video import HFVideoPropagator

        model, processor = hf_build.random_edgetam(tiny=size == "small")
        runtime = "torch" if tracker == "edgetam-torch" else None  # None: ROTO_CPU_RUNTIME, auto by default
        return HFVideoPropagator(model.to(device), processor, device=device, fuse=tracker == "edgetam-fused",
                                 cpu_runtime=runtime)
    if tracker == "sam2":
        from roto_studio.models.sam2.common import from_config
        from roto_studio.models.sam2.video import Sam2VideoPropagator

        return Sam2VideoPropagator(from_config("tiny", image_size=1024 if size == "full" else 128, device=device))
    if tracker == "cutie":
        from roto_studio.models.cutie.video import CutieVideoPropagator

        return CutieVideoPropagator.from_config("base", device=device)
    if tracker == "sam3":
        from roto_studio.models.hf import build as hf_build
        from roto_studio.models.hf.sam3_video import Sam3VideoPropagator

        model, processor = hf_build.random_sam3_video(tiny=True)
        return Sam3VideoPropagator(model.to(device), processor, device=device)
    raise SystemExit(f"unknown tracker {tracker}")


def child(args) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    from roto_studio.core.prompt import Prompt

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    src = Jpegs(Path(args.clip), args.frames)
    prop = _build(args.tracker, args.size, args.device)
    prop.start(src)
    if args.tracker == "sam3":
        prop.add_text("person", "person")
    else:
        prop.add_prompt(1001, "a", Prompt(mask=_disc_mask(src)))
    base = max(rss_mb(), peak_mb())
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    wall, cpu, marks = [], [], {}
    t, c = time.perf_counter(), time.process_time()
    for i, (_f, _alphas) in enumerate(prop.propagate(1001)):
        if cuda:
            torch.cuda.synchronize()
        now, now_c = time.perf_counter(), time.process_time()
        wall.append(now - t)
        cpu.append(now_c - c)
        t, c = now, now_c
        if i + 1 in args.marks:  # on CUDA: peak GPU memory allocated (what grows there)
            marks[i + 1] = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_mb() - base
    # frame 0 is the prompted frame (already computed); then the memory bank fills
    skip = min(args.warm, max(1, len(wall) // 2))
    timed = slice(skip, None) if len(wall) > skip else slice(0, None)
    out = {"per_frame_s": statistics.mean(wall[timed]), "cpu_per_frame_s": statistics.mean(cpu[timed]),
           "timed_frames": len(wall[timed]), "peak_mb": peak_mb() - base, "frames": len(wall), "marks": marks,
           "threads": torch.get_num_threads(), "load": os.getloadavg()[0],
           "runtime": prop.runtime.describe() if getattr(prop, "runtime", None) else "torch", "qt_loaded": any(m.startswith("PySide6") for m in sys.modules)}
    if cuda:
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(out))


def run_case(tracker, size, folder, frames, args, marks=()) -> dict:
    cmd = [sys.executable, __file__, "--child", "--tracker", tracker, "--size", size, "--clip", str(folder),
           "--frames", str(frames), "--device", args.device, "--marks", ",".join(map(str, marks)) or "0",
           "--threads", str(args.threads), "--warm", str(args.warm)]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{tracker} on {frames} frames failed:\n{r.stderr[-3000:]}")


LABELS = {"edgetam": "EdgeTAM", "edgetam-fused": "EdgeTAM fused", "edgetam-torch": "EdgeTAM PyTorch",
          "sam2": "SAM 2.1 tiny", "cutie": "Cutie base"}


def speed(args, clip: Path, frames: int) -> None:
    print(f"speed: {frames} frames at 854x480 on {args.device}, published model sizes, random weights, "
          f"{args.threads or 'default'} torch threads; timed after {args.warm} warm-up frames")
    print(f"{'tracker':<16}{'s/frame':>10}{'fps':>7}{'cpu s/fr':>10}{'peak MB':>10}{'load':>7}  image encoder")
    rows = {}
    trackers = ["edgetam", "edgetam-torch", "sam2"] + (["edgetam-fused"] if args.fuse else []) \
        + ([] if args.skip_cutie else ["cutie"])
    for tr in trackers:
        r = run_case(tr, "full", clip, frames, args)
        rows[tr] = r
        mem = r.get("gpu_peak_mb", r["peak_mb"])
        print(f"{LABELS[tr]:<16}{r['per_frame_s']:>10.3f}{1 / r['per_frame_s']:>7.2f}{r['cpu_per_frame_s']:>10.3f}"
              f"{mem:>10.0f}{r['load']:>7.1f}  {r['runtime']}", flush=True)
    base = rows["sam2"]
    print(f"(threads used: {base['threads']}; {base['timed_frames']} frames timed; Qt imported: "
          f"{any(r['qt_loaded'] for r in rows.values())})")
    if "edgetam-torch" in rows:
        t = rows["edgetam-torch"]
        print(f"EdgeTAM (the app's runtime) over EdgeTAM PyTorch per frame: "
              f"{t['per_frame_s'] / rows['edgetam']['per_frame_s']:.2f}x wall; target <= 0.5 s/frame (2 fps) on the CPU")
    for tr in ("edgetam", "edgetam-torch", "edgetam-fused"):
        if tr in rows:
            r = rows[tr]
            print(f"{LABELS[tr]} speedup over SAM 2.1 tiny per frame: {base['per_frame_s'] / r['per_frame_s']:.2f}x wall, "
                  f"{base['cpu_per_frame_s'] / r['cpu_per_frame_s']:.2f}x CPU time (target >= 3x on the CPU)")


def memory(args, folder: Path, short: int, long: int) -> None:
    what = "peak GPU memory allocated during" if args.device.startswith("cuda") else "memory added by"
    print(f"\n{what} the clip at {short} and {long} frames (test-sized models, "
          f"{MEM_W}x{MEM_H} frames, {args.device})")
    print(f"{'tracker':<16}{short:>8} fr{long:>8} fr{'growth':>10}")
    for tr, label in (("sam2", "SAM 2 (base)"), ("edgetam", "EdgeTAM"), ("sam3", "SAM 3 video")):
        r = run_case(tr, "small", folder, long, args, marks=(short, long))
        a, b = r["marks"].get(str(short), 0.0), r["marks"].get(str(long), r["peak_mb"])
        print(f"{label:<16}{a:>8.0f} MB{b:>8.0f} MB{b - a:>8.0f} MB", flush=True)


MEM_W, MEM_H = 320, 180


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tracker", help=argparse.SUPPRESS)
    ap.add_argument("--size", default="full", help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    ap.add_argument("--marks", default="0", help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, default=None, help="frames for the speed part (default 16, quick 8)")
    ap.add_argument("--warm", type=int, default=None,
                    help="tracked frames left out of the timing while the memory bank fills (default 7, quick 3)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in every case (default: torch's default)")
    ap.add_argument("--fuse", action="store_true", help="also time EdgeTAM with its backbone fused (opt-in mode)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--quick", action="store_true", help="fewer frames everywhere (slow shared CPUs)")
    ap.add_argument("--skip-memory", action="store_true", help="speed only")
    ap.add_argument("--skip-speed", action="store_true", help="memory only")
    ap.add_argument("--skip-cutie", action="store_true", help="leave Cutie out (rf-cutie not installed)")
    args = ap.parse_args()
    if args.warm is None:
        args.warm = 3 if args.quick else 7
    if args.child:
        args.marks = {int(v) for v in args.marks.split(",") if v.strip() and v != "0"}
        child(args)
        return 0
    speed_frames = args.frames or (8 if args.quick else 16)
    short, long = (20, 80) if args.quick else (50, 400)
    with tempfile.TemporaryDirectory(prefix="roto-bench-trackers-") as tmp:
        if not args.skip_speed:
            clip = Path(tmp) / "clip"
            write_clip(clip, speed_frames)
            speed(args, clip, speed_frames)
        if not args.skip_memory:
            small = Path(tmp) / "small"
            write_clip(small, long, MEM_W, MEM_H)
            memory(args, small, short, long)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
