"""Peak memory against clip length: our SAM 2 propagation vs the stock SAM2VideoPredictor.

    python benchmarks/bench_sam2_memory.py            # 50 and 400 frames at 480p, model size 256
    python benchmarks/bench_sam2_memory.py --quick    # 20 and 60 frames, model size 128 (slow CPUs)
    python benchmarks/bench_sam2_memory.py --image-size 1024 --device cuda

Each case (method x clip length) runs in its own subprocess on the same clip of 480p JPEGs (what the
stock predictor reads). The figure is the process's peak resident memory (ru_maxrss) minus its
resident memory right after the model was built and run once, i.e. what the clip costs; on CUDA
the peak allocated GPU memory is printed too. Also printed: seconds per frame of propagation (ours
decodes frames lazily inside that loop; stock decoded the clip before it, so its loading time is
shown separately). SAM 2.1 tiny with seeded random weights: the work done per frame is the real one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_clip(folder: Path, count: int, w=854, h=480) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(30, 120, size=(h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
    bg = np.kron(base, np.ones((16, 16, 1), np.uint8))[:h, :w]
    yy, xx = np.mgrid[:h, :w]
    for t in range(count):
        img = bg.copy()
        cx, cy = 100 + (3 * t) % (w - 200), h // 2 + 40 * np.sin(t / 10)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < 60 ** 2] = (220, 60, 50)
        Image.fromarray(img).save(folder / f"{t}.jpg", quality=90)


class Jpegs:
    """A FrameSource over the JPEG folder (plate numbers 1001...)."""

    def __init__(self, folder: Path, count: int):
        from PIL import Image

        self.folder, self.count = folder, count
        with Image.open(folder / "0.jpg") as im:
            self.width, self.height = im.size
        self.frame_numbers = list(range(1001, 1001 + count))

    def read(self, frame):
        import numpy as np
        from PIL import Image

        with Image.open(self.folder / f"{frame - 1001}.jpg") as im:
            return np.array(im.convert("RGB"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TQDM_DISABLE", "1")
    import numpy as np
    import torch

    from roto_studio.core.prompt import Prompt
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.video import Sam2VideoPropagator

    model = from_config("tiny", image_size=args.image_size, seed=0, device=args.device)
    folder = Path(args.clip)
    src = Jpegs(folder, args.frames)
    click = np.array([[100.0, src.height / 2]], np.float32)
    with torch.inference_mode():  # warm up: the model's own allocations are not the clip's
        model.forward_image(torch.zeros(1, 3, args.image_size, args.image_size, device=args.device))
    base = max(rss_mb(), peak_mb())
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    n = 0
    if args.method == "stock":
        st = model.init_state(str(folder), offload_video_to_cpu=args.device.startswith("cuda"))
        load_s = time.perf_counter() - t0
        with torch.inference_mode():
            model.add_new_points_or_box(st, 0, 1, points=click, labels=np.array([1], np.int32))
        t1 = time.perf_counter()
        for _f, _ids, m in model.propagate_in_video(st, 0):
            _ = torch.sigmoid(m).cpu().numpy()
            n += 1
    else:
        prop = Sam2VideoPropagator(model)
        prop.start(src)
        load_s = time.perf_counter() - t0
        prop.add_prompt(1001, 1, Prompt(points=[tuple(click[0])], labels=[1]))
        t1 = time.perf_counter()
        for _f, _d in prop.propagate(1001):
            n += 1
    per_frame = (time.perf_counter() - t1) / max(n, 1)
    out = {"peak_mb": peak_mb() - base, "base_mb": base, "per_frame_s": per_frame, "load_s": load_s, "frames": n}
    if args.device.startswith("cuda"):
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(out))


def run_case(method, folder, frames, args) -> dict:
    cmd = [sys.executable, __file__, "--child", "--method", method, "--clip", str(folder),
           "--frames", str(frames), "--image-size", str(args.image_size), "--device", args.device]
    r = subprocess.run(cmd, capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{method} on {frames} frames failed:\n{r.stderr[-3000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=None)
    ap.add_argument("--image-size", type=int, default=None, help="model input size (SAM 2 uses 1024)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="short clips and a small model size")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.image_size is None:
        args.image_size = 128 if args.quick else 256
    if args.child:
        child(args)
        return 0
    lengths = args.lengths or ([20, 60] if args.quick else [50, 400])
    print(f"SAM 2.1 tiny (random weights), model size {args.image_size}, 480p JPEG clip, {args.device}")
    print(f"{'frames':>6} {'stock MB':>9} {'ours MB':>8} {'ratio':>6} {'stock s/f':>9} {'ours s/f':>8} "
          f"{'time ratio':>10} {'stock load s':>12}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clip"
        write_clip(folder, max(lengths))
        for n in lengths:
            sub = Path(tmp) / f"clip{n}"
            sub.mkdir()
            for t in range(n):
                os.link(folder / f"{t}.jpg", sub / f"{t}.jpg")
            stock = run_case("stock", sub, n, args)
            ours = run_case("ours", sub, n, args)
            rows.append((n, stock, ours))
            key = "gpu_peak_mb" if "gpu_peak_mb" in stock else "peak_mb"
            print(f"{n:>6} {stock[key]:>9.1f} {ours[key]:>8.1f} {stock[key] / max(ours[key], 0.1):>6.1f} "
                  f"{stock['per_frame_s']:>9.3f} {ours['per_frame_s']:>8.3f} "
                  f"{ours['per_frame_s'] / stock['per_frame_s']:>10.2f} {stock['load_s']:>12.2f}", flush=True)
    (n0, s0, o0), (n1, s1, o1) = rows[0], rows[-1]
    print(f"growth from {n0} to {n1} frames: stock {s1['peak_mb'] - s0['peak_mb']:+.1f} MB, "
          f"ours {o1['peak_mb'] - o0['peak_mb']:+.1f} MB (RSS above the loaded model)")
    t_ratio = sum(o["per_frame_s"] for _, _, o in rows) / sum(s["per_frame_s"] for _, s, _ in rows)
    print(f"per-frame time ours / stock: {t_ratio:.2f} (target <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
