"""Undo memory over many propagation runs at 1080p: bounded payloads vs an unbounded history.

Each run replaces the masks of a span of frames, and its undo step (ui.undo.PropagationRun,
the window's own command on a real QUndoStack) keeps the 16-bit PNGs it replaced. We push RUNS
such steps twice, each in a fresh process: with the default 256 MB limit (ours: older payloads move to
files in the project's cache folder) and with no limit (what the history did before), printing
the payload bytes held in memory, the bytes on disk, and the process RSS growth of each. Then
the oldest step of the bounded history is read back from its file and compared.

    python benchmarks/bench_undo_memory.py [--runs 200] [--frames 50] [--limit-mb 256]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil  # noqa: E402
from PySide6.QtCore import QCoreApplication, QObject  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402

from roto_studio.core.project import create_project  # noqa: E402
from roto_studio.core.undo_payloads import UndoPayloads  # noqa: E402
from roto_studio.ui.undo import PropagationRun, encode_alpha  # noqa: E402

H, W = 1080, 1920


def soft_alpha(shift: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    d = np.hypot(x - 700 - shift, y - 540) - 300
    return np.clip(0.5 - d / 6.0, 0, 1).astype(np.float32)


class Host(QObject):
    """What the commands need from the window's Shot: the project, the payload store, a redraw."""

    def __init__(self, project, store):
        super().__init__()
        self.project, self.undo_payloads = project, store

    def project_changed(self, *_):
        pass


def run(limit: int | None, runs: int, frames: int, masks: list[bytes], folder: Path) -> dict:
    project = create_project(folder / ("bounded.roto" if limit else "unbounded.roto"), "bench.mp4")
    project.save()
    store = UndoPayloads(project.folder, limit) if limit else None
    host = Host(project, store)
    stack = QUndoStack()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    peak = unbounded = 0
    t0 = time.perf_counter()
    for r in range(runs):
        # fresh bytes objects, as PNGs read from disk are: nothing shared between steps
        before = {("obj1", 1001 + f): bytes(bytearray(masks[(r + f) % len(masks)])) for f in range(frames)}
        stack.push(PropagationRun(host, before))
        unbounded += sum(len(v) for v in before.values())
        held = store.memory_bytes if store else unbounded
        peak = max(peak, held)
    pushed = time.perf_counter() - t0
    rss = proc.memory_info().rss - rss0
    out = {"peak": peak, "disk": store.disk_bytes if store else 0, "rss": rss, "push_s": pushed}
    if store:
        # the oldest step's payload comes back from its file intact; undoing the newest is quick
        out["oldest_intact"] = stack.command(0).before[("obj1", 1001)] == masks[0] and \
            stack.command(0)._before.on_disk
        t0 = time.perf_counter()
        stack.undo()
        out["undo_s"] = time.perf_counter() - t0
    stack.clear()
    if store:
        store.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--frames", type=int, default=50, help="frames each run replaces")
    ap.add_argument("--limit-mb", type=float, default=256)
    ap.add_argument("--one", choices=("bounded", "unbounded"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    mb = 2 ** 20
    if args.one:  # a child: one history, figures as JSON
        QCoreApplication.instance() or QCoreApplication([])
        masks = [encode_alpha(soft_alpha(9 * i)) for i in range(16)]  # distinct 1080p soft mattes
        with tempfile.TemporaryDirectory(prefix="bench-undo-") as tmp:
            limit = int(args.limit_mb * mb) if args.one == "bounded" else None
            out = run(limit, args.runs, args.frames, masks, Path(tmp))
        out["png_kib"] = float(np.mean([len(m) for m in masks])) / 1024
        print(json.dumps(out))
        return 0
    figures = {}
    for one in ("unbounded", "bounded"):
        res = subprocess.run([sys.executable, __file__, "--one", one, "--runs", str(args.runs),
                              "--frames", str(args.frames), "--limit-mb", str(args.limit_mb)],
                             capture_output=True, text=True, check=True)
        figures[one] = json.loads(res.stdout.strip().splitlines()[-1])
    base, ours = figures["unbounded"], figures["bounded"]
    print(f"{args.runs} runs x {args.frames} frames of 1920x1080 16-bit PNG masks "
          f"({ours['png_kib']:.0f} KiB each)")
    print(f"  unbounded (baseline): {base['peak'] / mb:8.1f} MB of payloads in memory, "
          f"RSS +{base['rss'] / mb:.1f} MB")
    print(f"  limit {args.limit_mb:g} MB (ours):    {ours['peak'] / mb:8.1f} MB in memory, "
          f"{ours['disk'] / mb:.1f} MB in files, RSS +{ours['rss'] / mb:.1f} MB; "
          f"push {ours['push_s']:.2f} s (baseline {base['push_s']:.2f} s); "
          f"undo of the last step {ours['undo_s']:.2f} s; oldest step read back from its file intact: "
          f"{ours['oldest_intact']}")
    print(f"  memory held: {ours['peak'] / max(1, base['peak']):.2f}x the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
