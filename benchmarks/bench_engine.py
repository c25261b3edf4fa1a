"""Engine propagation throughput: masks saved by the background writer vs written inline.

A stand-in propagator spends a fixed time per frame (like a GPU model; sleep releases the GIL the
way CUDA work does) and returns a soft 1920x1080 alpha. We time Engine.propagate with
write_behind=4 (ours) against write_behind=0 (write each 16-bit PNG before the next frame), and
print the bare model time as the floor. No shared data needed.

    python benchmarks/bench_engine.py [--frames 40] [--model-ms 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.core.project import create_project  # noqa: E402
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import VideoPropagator  # noqa: E402
from roto_studio.models.engine import Engine  # noqa: E402

H, W = 1080, 1920


class Media:
    path = "bench://clip"
    width, height = W, H

    def __init__(self, n):
        self.frame_numbers = list(range(1001, 1001 + n))

    def read(self, f):
        return np.zeros((H, W, 3), np.uint8)


def soft_alpha(shift: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    d = np.hypot(x - 700 - shift, y - 540) - 300
    return np.clip(0.5 - d / 6.0, 0, 1).astype(np.float32)


class TimedModel(VideoPropagator):
    name = "timed"

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.alphas = [soft_alpha(4 * i) for i in range(8)]

    def start(self, frames):
        self.frames = frames

    def add_prompt(self, frame, obj_id, prompt):
        return prompt.mask

    def propagate(self, start, reverse=False, stop=None):
        numbers = self.frames.frame_numbers
        i0 = numbers.index(start)
        i1 = numbers.index(stop) if stop is not None else len(numbers) - 1
        for i in range(i0, i1 + 1):
            time.sleep(self.seconds)
            yield numbers[i], {"obj1": self.alphas[i % len(self.alphas)]}

    def remove_object(self, obj_id):
        pass

    def reset(self):
        pass


def run(frames: int, model_s: float, write_behind: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        project = create_project(Path(tmp) / "b.roto", Path(tmp) / "clip.mp4")
        obj = project.add_object()
        engine = Engine.given(project, image=None, video=TimedModel(model_s), media=Media(frames))
        engine.write_behind = write_behind
        engine.prompt(obj.id, 1001, Prompt(mask=soft_alpha(0)))
        t = time.perf_counter()
        res = engine.propagate([obj.id], 1001, "forward")
        elapsed = time.perf_counter() - t
        assert res.count == frames - 1 and len(project.masks.frames(obj.id)) == frames
        return elapsed / (frames - 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--model-ms", type=float, default=40.0)
    args = ap.parse_args()
    s = args.model_ms / 1000
    run(4, s, 4)  # warm up imports and caches
    inline = run(args.frames, s, 0)
    ours = run(args.frames, s, 4)
    print(f"propagation, {args.frames} frames of {W}x{H} soft alpha, model {args.model_ms:.0f} ms/frame")
    print(f"  model alone (floor):          {s * 1000:7.1f} ms/frame")
    print(f"  baseline, inline PNG writes:  {inline * 1000:7.1f} ms/frame")
    print(f"  ours, background writer:      {ours * 1000:7.1f} ms/frame")
    print(f"  ratio ours / baseline: {ours / inline:.2f}  (speed-up x{inline / ours:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
