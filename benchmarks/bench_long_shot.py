"""A 1,000- and a 10,000-frame generated shot (96x64) opened, scrubbed and propagated with the CPU
fallback: peak memory of each run (its own process) and the ratio. Flat memory means ~1.0.

    python benchmarks/bench_long_shot.py [--frames 1000 10000] [--no-propagate]
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
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in args.frames:
            r = run(n, Path(d) / str(n), propagate=not args.no_propagate)
            rows.append(r)
            print(f"{n:6d} frames: peak {r['peak_mb']:7.1f} MB (after open+scrub {r['after_scrub_mb']:.1f} MB, "
                  f"process baseline {r['baseline_mb']:.1f} MB); open {r['open_s']:.2f} s, "
                  f"scrub {r['scrub_ms']:.1f} ms/frame, propagate {r['propagate_s']:.1f} s "
                  f"({r['written']} frames, {r['propagate_s'] / max(1, r['written']) * 1000:.1f} ms/frame)", flush=True)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"peak memory {b['frames']} / {a['frames']} frames: {b['peak_mb'] / a['peak_mb']:.2f}x "
              f"({b['frames'] / a['frames']:.0f}x the frames)")


if __name__ == "__main__":
    main()
