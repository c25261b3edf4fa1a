"""Click-to-mask on a neighbouring frame embedded ahead (engine.ahead, between requests in the
model thread) against a click on the current frame and on a frame nobody embedded, same run.

    python benchmarks/bench_ahead.py                     # SAM 2.1 tiny, random weights @1024, CPU
    python benchmarks/bench_ahead.py --image-size 512 --repeats 2

Through workers.service.ModelService as the window drives it (no window: a QCoreApplication),
an 854x480 generated shot; each figure is from submitting one click (a fresh prompt: the same
decoder work everywhere) to its promptDone signal.
Target: the prefetched neighbour at most 1.2x the current frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Frames:
    """A generated FrameSource: a textured plate with a disc moving right."""

    def __init__(self, n=60, w=854, h=480):
        import numpy as np

        self.width, self.height = w, h
        self.frame_numbers = list(range(1001, 1001 + n))
        rng = np.random.default_rng(0)
        base = rng.integers(30, 120, size=(h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
        self._base = np.kron(base, np.ones((16, 16, 1), np.uint8))[:h, :w]
        self.path = "generated://bench-ahead"

    def read(self, frame):
        import numpy as np

        img = self._base.copy()
        yy, xx = np.mgrid[:self.height, :self.width]
        t = frame - 1001
        img[(xx - 200 - 3 * t) ** 2 + (yy - self.height // 2) ** 2 < 60 ** 2] = (220, 60, 50)
        return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3, help="neighbour clicks (each a new frame)")
    args = ap.parse_args()
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from roto_studio.core.project import create_project
    from roto_studio.models.backends import BackendPlan
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.engine import Engine
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.image import Sam2ImageSegmenter
    from roto_studio.workers.service import ModelService

    _app = QCoreApplication.instance() or QCoreApplication([])  # kept: the event loop needs it
    tmp = Path(tempfile.mkdtemp(prefix="roto-bench-ahead-"))
    project = create_project(tmp / "shot.roto", tmp / "clip.mp4")
    obj = project.add_object("disc")
    made = {}

    def build():
        image = Sam2ImageSegmenter(from_config("tiny", image_size=args.image_size))
        made["engine"] = Engine.given(project, image=image, video=None, media=Frames(),
                                plan=BackendPlan("sam2", "bench", device="cpu"))
        return made["engine"]

    service = ModelService(build)
    done = {}
    service.promptDone.connect(lambda rid, o, f, a: done.__setitem__(rid, time.perf_counter()))
    service.failed.connect(lambda rid, msg, opts: (print("failed:", msg), done.__setitem__(rid, None)))

    def spin(cond, timeout=1800.0):
        loop, poll = QEventLoop(), QTimer()
        end = time.perf_counter() + timeout
        poll.timeout.connect(lambda: loop.quit() if cond() or time.perf_counter() > end else None)
        poll.start(5)
        loop.exec()
        poll.stop()

    def click(frame, points):
        t = time.perf_counter()
        rid = service.prompt(obj.id, frame, Prompt(points=points, labels=[1] * len(points)))
        spin(lambda: rid in done)
        return done[rid] - t

    def idle():
        spin(lambda: "engine" in made and not made["engine"].ahead.pending() and not made["engine"].ahead.busy
             and service.pending() == 0)

    first = click(1010, [(200 + 27, 240)])
    current, neighbour, cold = [], [], []
    frame = 1010
    for i in range(args.repeats):
        idle()
        # one click again on the shown frame (a new prompt: the same work as the neighbour's click)
        current.append(click(frame, [(205 + 3 * (frame - 1001), 242)]))
        idle()
        frame += 1  # the next frame: embedded ahead while the model thread was idle
        neighbour.append(click(frame, [(200 + 3 * (frame - 1001), 240)]))
    idle()
    for f in (1040, 1050):  # frames nobody looked near: the encoder runs in the click
        cold.append(click(f, [(200 + 3 * (f - 1001), 240)]))
        idle()
    ahead, encoded = made["engine"].ahead.computed, made["engine"].image.embeddings_computed
    service.stop()
    med = statistics.median
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"SAM 2.1 tiny, random weights @{args.image_size}, 854x480, CPU; load average {load}")
    print(f"  first click (model built, frame embedded): {first * 1000:8.1f} ms")
    print(f"  click on the current frame:               {med(current) * 1000:8.1f} ms (median of {len(current)}, baseline)")
    print(f"  click on a neighbour embedded ahead:       {med(neighbour) * 1000:8.1f} ms (median of {len(neighbour)}); "
          f"{med(neighbour) / med(current):.2f}x the current frame (target <= 1.2x)")
    print(f"  click on a frame not embedded ahead:       {med(cold) * 1000:8.1f} ms (median of {len(cold)}); "
          f"{med(cold) / med(current):.2f}x")
    print(f"  frames handed to the prefetch ahead: {ahead}; image encoder runs in all: {encoded}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
