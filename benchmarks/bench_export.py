"""Export throughput at 1080p: our EXR half ZIP and 16-bit PNG export vs plain cv2.imwrite PNG.

    python benchmarks/bench_export.py [--frames 48] [--workers N]

The baseline, measured in the same run on the same frames, is a single-threaded loop of
cv2.imwrite of 8-bit PNGs (alpha already converted to uint8, i.e. the least work possible).
Our export runs the real export_project path (atomic temp + rename, parallel frames) on an
in-memory project, so mask decoding is not part of either figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.core.export import ExportOptions, alpha_to_uint8, export_project  # noqa: E402

W, H = 1920, 1080


def soft_frames(n: int) -> list[np.ndarray]:
    """Soft-edged moving blobs with a feathered edge and some grain, like real mattes."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        cx, cy = 500 + 20 * i, 540 + 80 * np.sin(i / 6)
        d = np.hypot((xx - cx) / 1.3, yy - cy)
        a = np.clip((300 - d) / 25 + 0.5, 0, 1)
        d2 = np.hypot(xx - (1400 - 10 * i), yy - 300)
        a = np.maximum(a, np.clip((150 - d2) / 10 + 0.5, 0, 1))
        a += rng.normal(0, 0.01, a.shape).astype(np.float32) * ((a > 0) & (a < 1))
        frames.append(np.clip(a, 0, 1).astype(np.float32))
    return frames


class MemoryProject:
    """Just enough of Project for export_project: one object, alphas in memory."""

    def __init__(self, alphas: list[np.ndarray], first: int = 1001):
        self.name = "bench"
        self.folder = Path("bench.roto")
        self.objects = [SimpleNamespace(id="obj1", name="matte")]
        self.alphas = {first + i: a for i, a in enumerate(alphas)}

    def open_media(self, **kw):
        return SimpleNamespace(width=W, height=H, frame_numbers=sorted(self.alphas), fps=Fraction(24),
                               close=lambda: None)

    def final_alpha(self, obj_id, frame):
        return self.alphas.get(frame)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--workers", type=int, default=None, help="default: CPUs (at most 8)")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds; the best of each is kept")
    args = ap.parse_args()
    n = args.frames
    print(f"making {n} soft-edged {W}x{H} alpha frames ...", flush=True)
    alphas = soft_frames(n)
    project = MemoryProject(alphas)
    work = Path(tempfile.mkdtemp(prefix="roto-bench-export-"))
    try:
        u8 = [alpha_to_uint8(a) for a in alphas]
        base_dir = work / "baseline"
        base_dir.mkdir()

        def baseline():
            for i, a in enumerate(u8):
                cv2.imwrite(str(base_dir / f"matte.{1001 + i:04d}.png"), a)

        def ours(fmt, workers, **kw):
            out = work / f"{fmt}-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            files = export_project(project, out, ExportOptions(format=fmt, workers=workers, **kw))
            assert len(files) == n
            return out

        baseline()  # warm the disk cache and OpenCV
        configs = [("exr", "EXR half ZIP"), ("png16", "PNG 16-bit"), ("png8", "PNG 8-bit")]
        worker_counts = sorted({1, args.workers or min(8, os.cpu_count() or 1)})
        best: dict = {}
        outs: dict = {}
        # Interleave baseline and ours over several rounds and keep each one's best time, so a
        # busy machine (other jobs) hurts both alike.
        for _ in range(args.rounds):
            t = timed(baseline)
            best["base"] = min(best.get("base", t), t)
            for fmt, _label in configs:
                for workers in worker_counts:
                    t = timed(lambda: outs.__setitem__((fmt, workers), ours(fmt, workers)))
                    best[(fmt, workers)] = min(best.get((fmt, workers), t), t)
        size = lambda d: sum(p.stat().st_size for p in Path(d).iterdir()) / n / 1e6  # noqa: E731
        base_fps = n / best["base"]
        print(f"cpus: {os.cpu_count()}  frames: {n}  size: {W}x{H}  rounds: {args.rounds} (best of)")
        print(f"baseline  cv2.imwrite PNG 8-bit, 1 thread :  {base_fps:7.1f} frames/s  "
              f"({size(base_dir):.2f} MB/frame)")
        for fmt, label in configs:
            for workers in worker_counts:
                fps = n / best[(fmt, workers)]
                print(f"ours      {label:<14} workers={workers:<2}   :  {fps:7.1f} frames/s  "
                      f"({size(outs[(fmt, workers)]):.2f} MB/frame)  ratio vs baseline {fps / base_fps:5.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
