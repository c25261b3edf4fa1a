"""The PyInstaller bundle: its size, and its start-up time beside the source checkout's, same run.

    python benchmarks/bench_bundle.py [--app dist/roto-studio] [--runs 3]

Start-up = launch to the sample shot's first frame on screen (offscreen Qt, ROTO_SMOKE_EXIT; the
sample is made once before timing),
and launch to exit of `roto-studio --version` and of `roto-studio info` on a 3-frame PNG
sequence. The source checkout runs `python -m roto_studio` with this script's Python. Medians of
--runs fresh processes each; the first run of each also counts (cold disk cache shows there).
Build the bundle first: python packaging/build.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
import smoke  # noqa: E402 - packaging/smoke.py: the same launches the smoke check makes


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def biggest(app: Path, n: int = 6) -> list[tuple[str, int]]:
    inner = app / "_internal" if (app / "_internal").is_dir() else app
    sizes = [(p.name, folder_size(p) if p.is_dir() else p.stat().st_size)
             for p in inner.iterdir() if not p.is_symlink()]  # libraries linked to nvidia/... count once
    return sorted(sizes, key=lambda x: -x[1])[:n]


def median_time(fn, runs: int) -> tuple[float, float]:
    times = [fn() for _ in range(runs)]
    return statistics.median(times), times[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default=str(ROOT / "dist" / "roto-studio"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = Path(args.app).resolve()
    gui, cli = smoke.programs(app)
    if not gui.is_file():
        print(f"bench_bundle: no bundle at {app}; run `python packaging/build.py` first.", file=sys.stderr)
        return 2
    size = folder_size(app)
    print(f"bundle {app}: {size / 1e9:.2f} GB, {sum(1 for _ in app.rglob('*'))} files")
    print("  largest parts: " + ", ".join(f"{name} {s / 1e9:.2f} GB" for name, s in biggest(app)))
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as tmp:
        home = Path(tmp)
        env = smoke.smoke_env(home)
        src_env = dict(env, PYTHONPATH=str(ROOT))
        source = [sys.executable, "-m", "roto_studio"]
        shot = home / "shot"
        shot.mkdir()
        for frame in (1001, 1002, 1003):
            smoke.write_png(shot / f"plate.{frame}.png", 64, 36, 10)
        pattern = str(shot / "plate.####.png")

        def window(cmd, e):
            def once():
                seconds, out = smoke.window_start(cmd, e)
                if out.returncode:
                    raise SystemExit(f"bench_bundle: {cmd[0]} failed:\n{out.stderr[-2000:]}")
                return seconds
            return once

        def command(cmd, e):
            def once():
                seconds, out = smoke.timed(cmd, e)
                if out.returncode:
                    raise SystemExit(f"bench_bundle: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
                return seconds
            return once

        window(source, src_env)()  # makes the sample shot in the cache once, untimed
        rows = [
            ("window: launch to first frame", window([str(gui)], env), window(source, src_env)),
            ("roto-studio --version", command([str(cli), "--version"], env),
             command(source + ["--version"], src_env)),
            ("roto-studio info (PNG sequence)", command([str(cli), "info", pattern], env),
             command(source + ["info", pattern], src_env)),
        ]
        print(f"start-up, median of {args.runs} (first run in brackets):")
        print(f"  {'':<34}{'bundle':>16}{'source checkout':>20}")
        for name, bundle_fn, source_fn in rows:
            b, b0 = median_time(bundle_fn, args.runs)
            s, s0 = median_time(source_fn, args.runs)
            print(f"  {name:<34}{f'{b:.2f} s ({b0:.2f})':>16}{f'{s:.2f} s ({s0:.2f})':>20}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
