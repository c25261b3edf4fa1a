"""Cost of running the models in the model server instead of in-process, measured in one run.

    python benchmarks/bench_server_overhead.py [--frames 16] [--image-size 512] [--upload]

Random-weight SAM 2.1 tiny (ROTO_SAM2_RANDOM_WEIGHTS) on the CPU, a generated 640x360 shot.
In-process: models.engine.Engine. Server: the same Engine over client.remote.RemoteBackends
talking to `roto-studio serve` started as a local child (frames read by path, the window's
default; --upload also measures a server that cannot see the files). Runs are interleaved
(in-process, server, server, in-process, ...) so both sides see the same machine load, and the
figures are medians over every frame and click of every round (a busy shared machine adds
spikes to single runs; the minimum is printed too).
- propagation: seconds per propagated frame (masks written to the project), target <= 5% more;
- click-to-mask: one click on a frame whose embedding is cached, target <= 15 ms extra on
  loopback.
CPU seconds per frame (this process, plus the server's) are printed too: on a machine other work
keeps busy they show the work the server path adds when wall times swing.
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
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch threads on each side (default: all cores)")
    ap.add_argument("--upload", action="store_true", help="also a server that cannot read the files (uploads)")
    args = ap.parse_args()
    os.environ["ROTO_SAM2_RANDOM_WEIGHTS"] = f"tiny@{args.image_size}"
    os.environ["ROTO_DEVICE"] = "cpu"

    from make_sample import make_sample

    from roto_studio.client.local import LocalServer
    from roto_studio.client.remote import remote_engine
    from roto_studio.core.media import open_media
    from roto_studio.core.project import create_project
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.device import inference_context
    from roto_studio.models.engine import Engine

    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    clip = make_sample(tmp / "shot" / "clip.mp4", frames=args.frames, width=640, height=360)
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)  # the same threads and priority on both sides
    env = {"ROTO_SAM2_RANDOM_WEIGHTS": os.environ["ROTO_SAM2_RANDOM_WEIGHTS"],
           "OMP_NUM_THREADS": str(threads), "ROTO_SERVER_NICE": "0"}
    servers = {"server (by path)": LocalServer([tmp / "shot"], device="cpu", env=env)}
    if args.upload:
        servers["server (uploads)"] = LocalServer([], device="cpu", env=env)
    for s in servers.values():
        s.start()
    with open_media(clip) as media:
        first = media.frame_numbers[0]
    click = Prompt(points=[(640 * 0.45, 360 * 0.5)], labels=[1])
    n = 0

    def engine_for(kind, media):
        nonlocal n
        n += 1
        project = create_project(tmp / f"p{n}.roto", clip)
        obj = project.add_object().id
        if kind == "in-process":
            return Engine.local(project, backend="sam2", media=media), obj
        return remote_engine(project, servers[kind].client(), "sam2", media=media), obj

    def cpu_seconds(kind):
        """CPU time used so far by this process, plus the server's for a server run: the work
        each side does, which a busy machine does not change the way it changes wall time."""
        import psutil

        total = time.process_time()
        if kind != "in-process":
            t = psutil.Process(servers[kind].pid).cpu_times()
            total += t.user + t.system
        return total

    def measure(kind):
        """Click times and per-frame times of one run (each engine opens the shot afresh)."""
        media = open_media(clip)
        engine, obj = engine_for(kind, media)
        with inference_context(engine.device):
            engine.prompt(obj, first, click)  # builds the model, embeds the frame
            clicks = []
            for _ in range(args.clicks):
                t = time.perf_counter()
                engine.prompt(obj, first, click)
                clicks.append(time.perf_counter() - t)
            engine.propagate([obj], first, "forward", stop=first + 1)  # warm the video path
            stamps = [time.perf_counter()]
            cpu0 = cpu_seconds(kind)
            result = engine.propagate([obj], first, "forward", progress=lambda d, t: stamps.append(time.perf_counter()))
            whole = (stamps[-1] - stamps[0]) / max(1, result.count)
            cpu = (cpu_seconds(kind) - cpu0) / max(1, result.count)
        engine.close()
        media.close()
        # the first step also conditions the model on the start mask: per-frame times are the rest
        frames = [b - a for a, b in zip(stamps[1:], stamps[2:])]
        return clicks, frames, whole, cpu

    kinds = ["in-process", *servers]
    clicks = {k: [] for k in kinds}
    frames = {k: [] for k in kinds}
    whole = {k: [] for k in kinds}
    cpu = {k: [] for k in kinds}
    for r in range(args.rounds):  # ABBA order: a drift in machine load hits both sides alike
        for k in (kinds if r % 2 == 0 else kinds[::-1]):
            c, f, w, u = measure(k)
            clicks[k] += c
            frames[k] += f
            whole[k].append(w)
            cpu[k].append(u)
    for s in servers.values():
        s.close()

    med = statistics.median
    base_click, base_frame, base_cpu = med(clicks["in-process"]), med(frames["in-process"]), med(cpu["in-process"])
    print(f"SAM 2.1 tiny (random weights) @{args.image_size}, 640x360, {args.frames} frames, CPU, "
          f"{args.rounds} interleaved rounds ({len(frames['in-process'])} frames, "
          f"{len(clicks['in-process'])} clicks a side), {threads} torch thread(s) a side; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("medians [min]; 'whole': best run's wall time per frame; 'cpu': CPU seconds per frame, both processes")
    print(f"{'':18} {'click-to-mask':>20} {'extra':>10} {'s/frame':>16} {'overhead':>10} {'whole':>7}"
          f" {'cpu':>7} {'cpu over':>9}")
    for k in kinds:
        c, f, u = med(clicks[k]), med(frames[k]), med(cpu[k])
        base = k == "in-process"
        extra = "(baseline)" if base else f"{(c - base_click) * 1000:+7.1f}ms"
        over = "(baseline)" if base else f"{100 * (f / base_frame - 1):+7.1f}%"
        cpu_over = "(baseline)" if base else f"{100 * (u / base_cpu - 1):+7.1f}%"
        print(f"{k:18} {c * 1000:8.1f} ms [{min(clicks[k]) * 1000:6.1f}] {extra:>10} {f:7.3f} [{min(frames[k]):6.3f}]"
              f" {over:>10} {min(whole[k]):7.3f} {u:7.3f} {cpu_over:>9}")
    print("targets: click-to-mask <= 15 ms extra on loopback; propagation <= 5% per frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
