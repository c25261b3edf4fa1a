"""Batch throughput: 6 generated shots, `roto-studio batch` one after another in this process
(the baseline, same run) against `batch --ray` on a local Ray with 2 worker CPUs.

    python benchmarks/bench_batch.py [--shots 6] [--frames 24] [--size 160x120] [--workers 2]

Each shot is tracked (CPU fallback), matted (classical) and exported (16-bit PNG). Both sides
run twice: a first round on fresh shots (Ray workers start cold: they import roto_studio and
compile the matting kernels), then the same shots again with --force (warm workers; the
in-process side is warm from its first round too). Ray's own start-up is printed apart.
The machine is shared: the 1-minute load average is printed next to each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roto_studio.cli import main  # noqa: E402
from tests.render_shots import make_shot  # noqa: E402


def timed_batch(folder: Path, out: Path, *extra: str) -> float:
    args = ["batch", str(folder), "--stages", "track,matte,export", "--matte-backend", "classical",
            "--out", str(out), "--format", "png16", *extra]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as table, contextlib.redirect_stderr(io.StringIO()):
        rc = main(args)
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"batch failed ({rc}):\n{table.getvalue()}")
    return seconds


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main_bench() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=6)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--workers", type=int, default=2, help="Ray worker CPUs")
    ap.add_argument("--chunk", type=int, default=12)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    import ray

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp = Path(tmp)
        for side in ("seq", "ray"):
            for i in range(a.shots):
                make_shot(tmp / side, f"shot{i}", frames=a.frames, width=w, height=h, seed=i)
        frames = a.shots * a.frames
        print(f"{a.shots} shots x {a.frames} frames at {w}x{h}: track + matte + export png16, "
              f"{os.cpu_count()} CPUs on this machine")
        seq = [timed_batch(tmp / "seq", tmp / "seq_out")]
        print(f"  {'sequential, first round:':34s}{seq[0]:6.1f}s  {frames / seq[0]:6.2f} frames/s  ({load()})")
        os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
        t0 = time.perf_counter()
        ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False, logging_level="error")
        start = time.perf_counter() - t0
        try:
            ray_s = [timed_batch(tmp / "ray", tmp / "ray_out", "--ray", "--chunk", str(a.chunk))]
            print(f"  {f'--ray {a.workers} workers, first round:':34s}{ray_s[0]:6.1f}s  {frames / ray_s[0]:6.2f} frames/s  "
                  f"({load()}; Ray start-up {start:.1f}s not included)")
            seq.append(timed_batch(tmp / "seq", tmp / "seq_out", "--force"))
            print(f"  {'sequential, --force again:':34s}{seq[1]:6.1f}s  {frames / seq[1]:6.2f} frames/s  ({load()})")
            ray_s.append(timed_batch(tmp / "ray", tmp / "ray_out", "--ray", "--chunk", str(a.chunk), "--force"))
            print(f"  {f'--ray {a.workers} workers, --force again:':34s}{ray_s[1]:6.1f}s  {frames / ray_s[1]:6.2f} frames/s  ({load()})")
        finally:
            ray.shutdown()
        for k, name in enumerate(("first round", "warm round")):
            print(f"throughput ratio --ray / sequential, {name}: {seq[k] / ray_s[k]:.2f}x "
                  f"({frames / ray_s[k]:.2f} vs {frames / seq[k]:.2f} frames/s)")


if __name__ == "__main__":
    main_bench()
