"""A long generated shot (small frames) opened, scrubbed and propagated with the CPU fallback in
a child process, reporting that process's peak memory. Used by the test and the benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, sys, time, random
from pathlib import Path
import av, numpy as np
n, w, h, folder, propagate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "1"

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

video = folder / f"long{n}.mp4"
with av.open(str(video), "w") as out:
    s = out.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
    s.width, s.height, s.pix_fmt = w, h, "yuv420p"
    yy, xx = np.mgrid[0:h, 0:w]
    bg = ((xx * 7 + yy * 3) % 64 + 96).astype(np.uint8)
    for i in range(n):
        img = np.repeat(bg[..., None], 3, 2).copy()
        cx = int(w / 2 + (w / 4) * np.sin(i / 40))
        img[(xx - cx) ** 2 + (yy - h // 2) ** 2 < (h // 4) ** 2] = (220, 60, 40)
        for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
base = peak_mb()  # python + numpy + av + the encode

from roto_studio.core.project import create_project
from roto_studio.models.engine import Engine
t = time.perf_counter()
p = create_project(folder / "long.roto", video)
media = p.open_media()
open_s = time.perf_counter() - t
assert media.frame_count == n, media.frame_count
rng = random.Random(0)
t = time.perf_counter()
for f in [rng.randrange(n) for _ in range(100)]:
    media.read(f)
for f in range(0, n, max(1, n // 200)):
    media.read(f)
scrub_ms = (time.perf_counter() - t) / 300 * 1000
after_scrub = peak_mb()
obj = p.add_object("disc")
first = media.read(0)
mask = (np.abs(first.astype(int) - (220, 60, 40)).sum(2) < 60).astype(np.float32)
eng = Engine.local(p, backend="classical", media=media)
eng.set_mask(obj.id, 0, mask, keyframe=True)
prop_s, written = 0.0, 0
if propagate:
    t = time.perf_counter()
    res = eng.propagate([obj.id], 0, "forward")
    prop_s = time.perf_counter() - t
    written = len(res.written[obj.id])
    assert written == n - 1, written
    assert p.masks.get(obj.id, n - 1) is not None
caps = {"media frame cache (LRU, bytes)": media.cache.max_bytes,
        "frames the propagation holds (StreamFrames.keep_frames)": getattr(getattr(eng, "_stream", None), "keep_frames", 0),
        "masks queued to the writer (Engine.write_behind)": eng.write_behind}
print(json.dumps({"frames": n, "caps": caps, "cached_frames": len(media.cache), "baseline_mb": base, "after_scrub_mb": after_scrub, "peak_mb": peak_mb(),
                  "open_s": open_s, "scrub_ms": scrub_ms, "propagate_s": prop_s, "written": written}))
"""


def run(n: int, folder: Path, w: int = 96, h: int = 64, propagate: bool = True, timeout: float = 3000) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, str(n), str(w), str(h), str(folder), "1" if propagate else "0"],
                       capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])
