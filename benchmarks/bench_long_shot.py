"""A 1,000- and a 10,000-frame generated shot (96x64) opened, scrubbed and propagated with the CPU
fallback: peak memory of each run (its own process) and the ratio. Flat memory means ~1.0
(target: the longer run's peak at most 1.1x the shorter's), with every cap that bounds it named.

    python benchmarks/bench_long_shot.py [--frames 1000 10000] [--no-propagate]
    python benchmarks/bench_long_shot.py --size 1920x1080 --frames 300 3000

The propagation reads frames through models.frame_stream.StreamFrames (a few frames of its own,
never added to the shot's frame cache); the scrub before it fills the media cache up to its byte
budget; masks go to the store through a bounded write-behind queue.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.safety.long_shot import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--no-propagate", action="store_true")
    ap.add_argument("--size", default="96x64", help="frame size WxH (default 96x64)")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"{w}x{h} generated shot, classical CPU fallback, own process per run; {load()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in args.frames:
            r = run(n, Path(d) / str(n), w=w, h=h, propagate=not args.no_propagate)
            rows.append(r)
            print(f"{n:6d} frames: peak {r['peak_mb']:7.1f} MB (after open+scrub {r['after_scrub_mb']:.1f} MB, "
                  f"process baseline {r['baseline_mb']:.1f} MB); open {r['open_s']:.2f} s, "
                  f"scrub {r['scrub_ms']:.1f} ms/frame, propagate {r['propagate_s']:.1f} s "
                  f"({r['written']} frames, {r['propagate_s'] / max(1, r['written']) * 1000:.1f} ms/frame); "
                  f"{r['cached_frames']} frames in the media cache at the end; {load()}", flush=True)
    if rows:
        print("caps that bound it:")
        for name, value in rows[-1]["caps"].items():
            shown = f"{value / 2**20:.0f} MiB" if "bytes" in name else str(value)
            print(f"  {name}: {shown}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"peak memory {b['frames']} / {a['frames']} frames: {b['peak_mb'] / a['peak_mb']:.2f}x "
              f"({b['frames'] / a['frames']:.0f}x the frames; target <= 1.10x)")


def load() -> str:
    import os

    try:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "load average n/a"


if __name__ == "__main__":
    main()
