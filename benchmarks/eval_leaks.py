"""Leak and drift flags (ops.leak_check) on DAVIS 2016, beside the area-jump rule the timeline
had before (workers.jobs.attention_frames, flagged when the area changes by 30%), same masks.

    python benchmarks/eval_leaks.py [--seq NAME ...] [--tracker-seq blackswan]

1. Ground truth as if it were propagated from frame 0 (every sequence, first 50 frames): each
   flag is a false alarm, since the masks are right.
2. The CPU fallback tracker (classical, the first frame's true mask as its prompt) on the tracker
   sequence: frames flagged by each rule, against the frames where the tracked mask has the most
   area outside the true object (what an artist would want to look at).
Skips with a message when ../shared/data (or $ROTO_SHARED_DATA) is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.ops.leak_check import leak_frames  # noqa: E402
from roto_studio.workers.jobs import attention_frames  # noqa: E402


def shared_data() -> Path:
    env = os.environ.get("ROTO_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


class Store(dict):
    def get(self, oid, f):  # noqa: D401 - the mask store's shape
        return dict.get(self, f)


class Frames:
    def __init__(self, folder: Path):
        self.folder = folder

    def read(self, f):
        return cv2.cvtColor(cv2.imread(str(self.folder / f"{f:05d}.jpg")), cv2.COLOR_BGR2RGB)


def truth(root: Path, seq: str, f: int) -> np.ndarray:
    return (cv2.imread(str(root / "Annotations/480p" / seq / f"{f:05d}.png"), 0) > 127).astype(np.float32)


def both_rules(store, frames_src, numbers):
    written = numbers[1:]
    area = attention_frames(store, "o", written, numbers)
    leaks = leak_frames(store, frames_src, "o", written, numbers, [numbers[0]])
    return area, sorted(leaks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq", nargs="*")
    ap.add_argument("--tracker-seq", default="blackswan")
    args = ap.parse_args()
    root = shared_data() / "davis2016"
    if not root.is_dir():
        print(f"skipped: no DAVIS data at {root}")
        return 0
    seqs = args.seq or sorted(p.name for p in (root / "Annotations/480p").iterdir())
    print("1. true masks (every flag is a false alarm)")
    print(f"{'sequence':<20} {'frames':>6} {'area rule':>10} {'leak flags':>11}")
    tot = [0, 0, 0]
    t0 = time.perf_counter()
    for seq in seqs:
        n = min(50, len(list((root / "Annotations/480p" / seq).glob("*.png"))))
        numbers = list(range(n))
        store = Store({f: truth(root, seq, f) for f in numbers})
        area, leaks = both_rules(store, Frames(root / "JPEGImages/480p" / seq), numbers)
        tot[0] += n - 1
        tot[1] += len(area)
        tot[2] += len(leaks)
        print(f"{seq:<20} {n - 1:>6} {len(area):>10} {len(leaks):>11}")
    print(f"{'all':<20} {tot[0]:>6} {tot[1]:>10} {tot[2]:>11}   ({time.perf_counter() - t0:.1f} s)")

    seq = args.tracker_seq
    print(f"\n2. CPU fallback tracker on {seq}")
    from roto_studio.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "t.roto"
        rc = cli(["segment", str(root / "JPEGImages/480p" / seq), "--out", str(project), "--frame", "0",
                  "--mask", str(root / "Annotations/480p" / seq / "00000.png"), "--propagate", "forward",
                  "--backend", "classical"])
        if rc:
            return rc
        from roto_studio.core.project import load_project

        p = load_project(project)
        oid = p.objects[0].id
        numbers = p.masks.frames(oid)
        store = Store({f: p.masks.get(oid, f) for f in numbers})
        area, leaks = both_rules(store, Frames(root / "JPEGImages/480p" / seq), numbers)
        extra = {f: float(((store[f] >= 0.5) & (truth(root, seq, f) < 0.5)).sum() / max((store[f] >= 0.5).sum(), 1))
                 for f in numbers[1:]}
    worst = sorted(extra, key=extra.get, reverse=True)[:8]
    print(f"frames with the most mask outside the object: {sorted(worst)} "
          f"({100 * min(extra[f] for f in worst):.1f}-{100 * max(extra.values()):.1f}% of the mask)")
    print(f"area rule flags:  {area}")
    print(f"leak flags:       {leaks}  ({len(set(leaks) & set(worst))} of them among those frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
