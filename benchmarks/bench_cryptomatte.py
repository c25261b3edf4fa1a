"""Cryptomatte export cost at 1080p against the EXR export of the same mattes, in the same run.

    python benchmarks/bench_cryptomatte.py [--frames 8] [--objects 3] [--workers 1]

Three soft, overlapping objects (feathered discs moving across each other). The baseline is
`export --format exr --combine` (one half-float ZIP file per frame, a `<object>.A` layer per
object); ours is `--format cryptomatte` (ranked 32-bit float ID/coverage pairs, as the
specification asks: IDs do not survive half precision). Both run the real export_project path
on an in-memory project; the figures are seconds per frame (wall and this process's CPU) and
bytes per file.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.core.export import ExportOptions, export_project  # noqa: E402

W, H = 1920, 1080


class MemoryProject:
    """Just enough of Project for export_project: some objects, alphas in memory."""

    def __init__(self, frames: int, objects: int, first: int = 1001):
        self.name = "bench"
        self.folder = Path("bench.roto")
        self.objects = [SimpleNamespace(id=f"obj{k}", name=f"object {k}") for k in range(objects)]
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        self.alphas = {}
        for i in range(frames):
            for k in range(objects):
                d = np.hypot(xx - (500 + 300 * k + 15 * i), yy - (540 + 60 * np.sin(i / 4 + k)))
                self.alphas[(f"obj{k}", first + i)] = np.clip((260 - d) / 40 + 0.5, 0, 1).astype(np.float32)
        self.numbers = list(range(first, first + frames))

    def open_media(self, **kw):
        return SimpleNamespace(width=W, height=H, frame_numbers=self.numbers, fps=Fraction(24), close=lambda: None)

    def final_alpha(self, obj_id, frame):
        return self.alphas.get((obj_id, frame))


def run(project, options) -> tuple[float, float, float]:
    out = Path(tempfile.mkdtemp(prefix="roto-bench-crypto-"))
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        paths = export_project(project, out, options)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(p.stat().st_size for p in paths) / len(paths)
        return wall / len(paths), cpu / len(paths), size
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--objects", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    project = MemoryProject(args.frames, args.objects)
    print(f"{args.frames} frames {W}x{H}, {args.objects} overlapping soft objects, {args.workers} worker(s), "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = [("exr --combine (baseline)", ExportOptions(format="exr", combine=True, workers=args.workers)),
            ("cryptomatte", ExportOptions(format="cryptomatte", workers=args.workers)),
            ("cryptomatte --crypto-layers", ExportOptions(format="cryptomatte", crypto_layers=True,
                                                          workers=args.workers))]
    base = None
    for label, options in rows:
        wall, cpu, size = run(project, options)
        base = base or (wall, cpu, size)
        print(f"{label:30s} {wall * 1000:7.1f} ms/frame wall ({wall / base[0]:.2f}x)  {cpu * 1000:7.1f} ms CPU "
              f"({cpu / base[1]:.2f}x)  {size / 1e6:6.2f} MB/file ({size / base[2]:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
