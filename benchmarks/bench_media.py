"""Media decode benchmark: 1080p long-GOP H.264 with B-frames, made in a temp folder.

Prints, each against a baseline measured in the same run:
- sequential decode fps: Media.read(0..n-1) vs plain PyAV
  (`for frame in container.decode(video=0): frame.to_ndarray(format="rgb24")`);
- random-access latency (mean / p95 ms) and exactness: Media.read(n) in random order (no cache)
  vs a naive seek-per-frame reader (seek to n's time, decode until a frame at or past it).

    python benchmarks/bench_media.py [--frames 240] [--gop 120] [--samples 60]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.core.media import open_media  # noqa: E402


def make_clip(path: Path, frames: int, gop: int, width=1920, height=1080, rate=Fraction(24000, 1001)):
    import av

    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) // 8) % 256], -1).astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params":
                          f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:b-adapt=0:"
                          "colormatrix=bt709:colorprim=bt709:transfer=bt709"}
        for i in range(frames):
            img = np.roll(base, i * 6, axis=1)
            img[100:200, (i * 13) % (width - 100):(i * 13) % (width - 100) + 100] = (255, 255, 255)
            img[20:60, 20:20 + 12 * (i % 100)] = (255, 0, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def digest(image: np.ndarray) -> int:
    """Checksum to compare frames exactly (taken outside the timed sections)."""
    return zlib.crc32(np.ascontiguousarray(image))


def plain_sequential(path: Path):
    """Baseline: plain PyAV decode + rgb24 conversion; seconds spent in those only."""
    import av

    spent, hashes = 0.0, []
    with av.open(str(path)) as container:
        frames = container.decode(video=0)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                spent += time.perf_counter() - t0
                break
            image = frame.to_ndarray(format="rgb24")
            spent += time.perf_counter() - t0
            hashes.append(digest(image))
    return spent, hashes


def media_sequential(path: Path):
    t0 = time.perf_counter()
    hashes = []
    with open_media(path) as media:
        opened = spent = time.perf_counter() - t0
        for n in media.frame_numbers:
            t1 = time.perf_counter()
            image = media.read(n)
            spent += time.perf_counter() - t1
            hashes.append(digest(image))
    return spent, opened, hashes


def naive_random(path: Path, order, count):
    """Seek to the frame's time every time, decode until a frame at or after it."""
    import av

    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        first = stream.start_time or 0
        for n in order:
            t0 = time.perf_counter()
            target = first + int(round(n / rate / stream.time_base))
            container.seek(target, stream=stream, backward=True)
            got = None
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target:
                    got = frame.to_ndarray(format="rgb24")
                    break
            times.append(time.perf_counter() - t0)
            frames.append(got)
    return times, frames


def media_random(path: Path, order):
    times, frames = [], []
    with open_media(path, cache_bytes=0) as media:
        for n in order:
            t0 = time.perf_counter()
            image = media.read(n)
            times.append(time.perf_counter() - t0)
            frames.append(image)
    return times, frames


def p95(values):
    return float(np.percentile(np.asarray(values), 95))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--gop", type=int, default=120)
    parser.add_argument("--samples", type=int, default=60, help="random reads to time")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip_1080p.mp4"
        t0 = time.perf_counter()
        make_clip(path, args.frames, args.gop)
        print(f"clip: 1920x1080 H.264, {args.frames} frames, keyframe every {args.gop}, 3 B-frames, "
              f"{path.stat().st_size / 1e6:.1f} MB (made in {time.perf_counter() - t0:.1f} s)")

        base_s, reference = plain_sequential(path)
        ours_s, open_s, ours_hashes = media_sequential(path)
        n = len(reference)
        assert ours_hashes == reference, "sequential Media frames differ from plain PyAV"
        print(f"sequential decode: Media {n / ours_s:.1f} fps (open + index {open_s * 1000:.0f} ms) | "
              f"plain PyAV {n / base_s:.1f} fps | ratio {base_s / ours_s:.2f}x")

        rng = random.Random(1)
        order = [rng.randrange(n) for _ in range(args.samples)]
        ours_t, ours_f = media_random(path, order)
        naive_t, naive_f = naive_random(path, order, n)
        ours_ok = sum(digest(f) == reference[i] for f, i in zip(ours_f, order))
        naive_ok = sum(f is not None and digest(f) == reference[i] for f, i in zip(naive_f, order))
        mean_o, mean_n = statistics.mean(ours_t) * 1000, statistics.mean(naive_t) * 1000
        print(f"random access ({len(order)} reads): Media mean {mean_o:.1f} ms, p95 {p95(ours_t) * 1000:.1f} ms, "
              f"exact {ours_ok}/{len(order)} | naive seek-per-frame mean {mean_n:.1f} ms, "
              f"p95 {p95(naive_t) * 1000:.1f} ms, exact {naive_ok}/{len(order)} | "
              f"ratio {mean_n / mean_o:.2f}x (mean)")
        # scrubbing forward one frame at a time from a random point (cache off)
        with open_media(path, cache_bytes=0) as media:
            start = n // 3
            media.read(start)
            t1 = time.perf_counter()
            for k in range(start + 1, min(n, start + 25)):
                media.read(k)
            step = (time.perf_counter() - t1) / max(1, min(n, start + 25) - start - 1)
        print(f"scrub forward one frame: Media {step * 1000:.1f} ms per frame | "
              f"naive seek-per-frame {mean_n:.1f} ms | ratio {mean_n / (step * 1000):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
