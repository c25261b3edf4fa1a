"""Crash safety and hostile inputs: prints kills survived / kills tried and handled / tried.

    python benchmarks/safety.py [--kills-per-job 34] [--fuzz 10000]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.safety.crash_harness import campaign, summary as crash_summary  # noqa: E402
from tests.safety.hostile import run_all, summary as hostile_summary  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills-per-job", type=int, default=34)
    ap.add_argument("--fuzz", type=int, default=10_000, help="hypothesis cases per fuzz target")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        print(crash_summary(campaign(Path(d) / "crash", args.kills_per_job, seed=7)))
        print(f"  ({time.perf_counter() - t:.0f} s)")
        print(hostile_summary(run_all(Path(d) / "hostile")))
        from tests.fuzz.fuzz_project import make_tests

        counter = itertools.count()
        t = time.perf_counter()
        for test in make_tests(args.fuzz, lambda: Path(d) / "fuzz" / f"p{next(counter)}.roto"):
            (Path(d) / "fuzz").mkdir(exist_ok=True)
            test()
        fuzz_targets = ["project loader"]
        try:
            from tests.fuzz.fuzz_patterns import make_tests as pattern_tests

            for test in pattern_tests(args.fuzz):
                test()
            fuzz_targets.append("sequence patterns")
        except ImportError:
            pass
        print(f"fuzzing: {args.fuzz} cases per strategy over {', '.join(fuzz_targets)}: no exception "
              f"other than RotoError ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
