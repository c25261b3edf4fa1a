"""Faults: the window's local model server SIGKILLed at random moments of a propagation, 20 times.

    python benchmarks/bench_server_faults.py [--kills 20]

Runs the window test tests/ui/test_model_server.py::test_server_killed_during_propagation_window_recovers
(pytest-qt, offscreen, CPU fallback, tiny frames) with ROTO_FAULT_KILLS=N (the test suite runs 8).
Every round: the window stays up and says so in one line, the server restarts, no finished frame
is lost, and resuming completes the span with the same masks as an uninterrupted run. Prints the
rounds, how many cut a propagation short, and the time per round (kill to resumed end).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    args = ap.parse_args()
    env = {**os.environ, "ROTO_FAULT_KILLS": str(args.kills), "ROTO_FAULT_TRACE": "1",
           "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    test = "tests/ui/test_model_server.py::test_server_killed_during_propagation_window_recovers"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:warnings", "-p", "no:cacheprovider",
                        test], cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("round ") or " kills, " in ln]
    print("\n".join(lines))
    print("passed: window up, server restarted, no finished frame lost, resumed masks equal an uninterrupted run"
          if r.returncode == 0 else f"FAILED:\n{r.stdout[-3000:]}")
    return r.returncode


if __name__ == "__main__":
    raise SystemExit(main())
