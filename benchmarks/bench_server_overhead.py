"""Cost of running the models in the model server instead of in-process, measured in one run.

    python benchmarks/bench_server_overhead.py [--frames 16] [--image-size 512] [--upload]

Random-weight SAM 2.1 tiny (ROTO_SAM2_RANDOM_WEIGHTS) on the CPU, a generated 640x360 shot.
In-process: models.engine.Engine. Server: the same Engine over client.remote.RemoteBackends
talking to `roto-studio serve` started as a local child (frames read by path, the window's
default; --upload also measures a server that cannot see the files). Runs alternate (in-process,
server, in-process, server) and the best of each is kept, so both see the same machine load.
- propagation: seconds per propagated frame (masks written to the project), target <= 5% more;
- click-to-mask: one click on a frame whose embedding is cached, median of --clicks, target
  <= 15 ms extra on loopback.
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
sys.path.insert(0, str(ROOT / "resources"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--clicks", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--upload", action="store_true", help="also a server that cannot read the files (uploads)")
    args = ap.parse_args()
    os.environ["ROTO_SAM2_RANDOM_WEIGHTS"] = f"tiny@{args.image_size}"
    os.environ["ROTO_DEVICE"] = "cpu"

    from make_sample import make_sample

    from roto_studio.client.local import LocalServer
    from roto_studio.client.remote import remote_engine
    from roto_studio.core.media import open_media
    from roto_studio.core.project import create_project
    from roto_studio.models.base import Prompt
    from roto_studio.models.device import inference_context
    from roto_studio.models.engine import Engine

    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    clip = make_sample(tmp / "shot" / "clip.mp4", frames=args.frames, width=640, height=360)
    import torch

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)  # the same CPU share on both sides (the window's child is niced
    env = {"ROTO_SAM2_RANDOM_WEIGHTS": os.environ["ROTO_SAM2_RANDOM_WEIGHTS"],  # and one core lighter)
           "OMP_NUM_THREADS": str(threads), "ROTO_SERVER_NICE": "0"}
    servers = {"server (by path)": LocalServer([tmp / "shot"], device="cpu", env=env)}
    if args.upload:
        servers["server (uploads)"] = LocalServer([], device="cpu", env=env)
    for s in servers.values():
        s.start()
    media = open_media(clip)
    first = media.frame_numbers[0]
    click = Prompt(points=[(640 * 0.45, 360 * 0.5)], labels=[1])
    n = 0

    def engine_for(kind):
        nonlocal n
        n += 1
        project = create_project(tmp / f"p{n}.roto", clip)
        obj = project.add_object().id
        if kind == "in-process":
            return Engine(project, backend="sam2", media=media), obj
        return remote_engine(project, servers[kind].client(), "sam2", media=media), obj

    def measure(kind):
        engine, obj = engine_for(kind)
        with inference_context(engine.device):
            engine.prompt(obj, first, click)  # builds the model, embeds the frame
            times = []
            for _ in range(args.clicks):
                t = time.perf_counter()
                engine.prompt(obj, first, click)
                times.append(time.perf_counter() - t)
            engine.propagate([obj], first, "forward", stop=first + 1)  # warm the video path
            t = time.perf_counter()
            result = engine.propagate([obj], first, "forward")
            per_frame = (time.perf_counter() - t) / max(1, result.count)
        engine.close()
        return statistics.median(times), per_frame

    kinds = ["in-process", *servers]
    best = {k: [float("inf"), float("inf")] for k in kinds}
    for _ in range(args.rounds):
        for k in kinds:
            click_s, frame_s = measure(k)
            best[k] = [min(best[k][0], click_s), min(best[k][1], frame_s)]
    for s in servers.values():
        s.close()
    media.close()

    base_click, base_frame = best["in-process"]
    print(f"SAM 2.1 tiny (random weights) @{args.image_size}, 640x360, {args.frames} frames, CPU; best of {args.rounds}")
    print(f"{'':18} {'click-to-mask':>14} {'extra':>9} {'s/frame':>9} {'overhead':>9}")
    for k in kinds:
        c, f = best[k]
        extra = "" if k == "in-process" else f"{(c - base_click) * 1000:+7.1f}ms"
        over = "" if k == "in-process" else f"{100 * (f / base_frame - 1):+7.1f}%"
        print(f"{k:18} {c * 1000:11.1f} ms {extra:>9} {f:9.3f} {over:>9}")
    print("targets: click-to-mask <= 15 ms extra on loopback; propagation <= 5% per frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
