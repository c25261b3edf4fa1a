"""Click-to-mask latency on a frame whose embedding is cached: ours vs the bare predictor call.

    python benchmarks/bench_sam2_latency.py                 # model size 1024, 1920x1080 frame
    python benchmarks/bench_sam2_latency.py --image-size 256 --width 1280 --height 720 --device cuda

Ours: Sam2ImageSegmenter.set_image(frame, key) (an LRU hit) + predict(one click) -> soft alpha at
full size, best of three candidates by predicted IoU. Baseline: SAM2ImagePredictor.predict(one
click, multimask_output=True) on the same predictor with the embedding already set (what a bare
integration calls per click; it returns three thresholded masks). Same click, interleaved runs,
medians. SAM 2.1 tiny with seeded random weights: the prompt encoder / decoder work is the real one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import numpy as np
    import torch

    from roto_studio.core.prompt import Prompt
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.image import Sam2ImageSegmenter

    model = from_config("tiny", image_size=args.image_size, seed=0, device=args.device)
    seg = Sam2ImageSegmenter(model)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, size=(args.height, args.width, 3), dtype=np.uint8)
    t = time.perf_counter()
    seg.set_image(frame, key=("clip", 1001))
    embed_s = time.perf_counter() - t
    click = (args.width * 0.4, args.height * 0.5)
    pred = seg.predictor
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def ours():
        seg.set_image(frame, key=("clip", 1001))  # cache hit
        return seg.predict(Prompt(points=[click], labels=[1])).alpha

    def bare():
        with torch.inference_mode():
            return pred.predict(point_coords=np.array([click]), point_labels=np.array([1]), multimask_output=True)

    for _ in range(3):  # warm up both paths
        ours(), bare()
    times = {"ours": [], "bare": []}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("ours", ours)):
            sync()
            t = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t)
    b = statistics.median(times["bare"]) * 1000
    o = statistics.median(times["ours"]) * 1000
    print(f"SAM 2.1 tiny (random weights), model size {args.image_size}, frame {args.width}x{args.height}, "
          f"{args.device}; embedding once: {embed_s * 1000:.0f} ms (cached afterwards, "
          f"{seg.embeddings_computed} computed)")
    print(f"bare SAM2ImagePredictor.predict: {b:.1f} ms  (median of {args.repeats})")
    print(f"ours (cache hit + predict + soft alpha): {o:.1f} ms")
    print(f"overhead: {100 * (o - b) / b:+.1f}% (target <= 20%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
