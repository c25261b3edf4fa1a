"""Kill a child process (SIGKILL) at random moments while it saves a project, exports, or
propagates, then check that nothing was lost: the project opens, every frame the job reported
finished is there and intact, and no file under a final export name is partial.

Used by tests/safety/test_crash_safety.py (CI) and benchmarks/crash_kills.py (more kills)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
W, H = 160, 96


def make_project(folder: Path, frames: int = 24) -> Path:
    """A plate sequence (1001...) with a moving disc, and a project with a first-frame mask."""
    from roto_studio.core.project import create_project

    plate = folder / "plate"
    plate.mkdir(parents=True)
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 2)
    masks = []
    for i in range(frames):
        img = bg.copy()
        m = np.zeros((H, W), np.uint8)
        cv2.circle(m, (40 + 3 * i, 48), 18, 255, -1)
        img[m > 0] = (230, 60, 40)
        cv2.imwrite(str(plate / f"plate.{1001 + i:04d}.png"), img[..., ::-1])
        masks.append(m)
    p = create_project(folder / "shot.roto", plate / "plate.####.png")
    obj = p.add_object("disc")
    p.masks.set(obj.id, 1001, masks[0])
    for i in range(1, frames):  # something to export
        p.masks.set(obj.id, 1001 + i, masks[i])
    p.save()
    return p.folder


CHILD = {
    "save": """
        from roto_studio.core.project import load_project
        import numpy as np
        p = load_project(FOLDER)
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            p.settings["counter"] = n
            p.settings["pad"] = "x" * (200_000 + 5_000 * (n % 50))
            p.objects[0].name = f"disc{n}"
            p.save()
            p.autosave()
            print("done", n, flush=True)
    """,
    "export": """
        from roto_studio.core.project import load_project
        from roto_studio.core.export import ExportOptions, export_project
        p = load_project(FOLDER)
        print("ready", flush=True)
        n = 0
        while True:  # export again and again so the kill always lands mid-job
            for fmt in ("exr", "png16", "png8"):
                n += 1
                name = f"{fmt}-{n}"
                def progress(done, total):
                    print("done", name, done, flush=True)
                export_project(p, OUT / name, ExportOptions(format=fmt, workers=2), progress=progress)
    """,
    "propagate": """
        from roto_studio.core.project import load_project
        from roto_studio.models.engine import Engine
        p = load_project(FOLDER)
        eng = Engine.local(p, backend="classical")
        eng.set_mask("obj1", 1001, p.masks.get("obj1", 1001), keyframe=True)
        print("ready", flush=True)
        while True:
            for step in eng.propagate_steps(["obj1"], 1001, "forward"):
                if step.written:
                    print("done", step.frame, flush=True)
    """,
}


@dataclass
class KillResult:
    job: str
    delay: float
    reported: list
    ok: bool
    problem: str = ""


def run_and_kill(job: str, folder: Path, out: Path, delay: float) -> KillResult:
    code = "from pathlib import Path\nFOLDER = Path(%r)\nOUT = Path(%r)\n" % (str(folder), str(out))
    code += textwrap.dedent(CHILD[job])
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    first = proc.stdout.readline().strip()
    if first != "ready":
        err = proc.stderr.read()[-1500:]
        proc.kill()
        return KillResult(job, delay, [], False, f"child did not start: {first} {err}")
    time.sleep(delay)
    if proc.poll() is not None:  # the job died on its own: that is a failure, not a kill
        return KillResult(job, delay, [], False, f"child exited {proc.returncode}: {proc.stderr.read()[-1500:]}")
    proc.send_signal(signal.SIGKILL)
    out_text, _ = proc.communicate()
    complete = out_text.split("\n")[:-1]  # a kill can cut the last line short
    reported = [line.split()[1:] for line in complete if line.startswith("done")]
    problem = CHECK[job](folder, out, reported)
    return KillResult(job, delay, reported, not problem, problem)


def check_save(folder, out, reported) -> str:
    from roto_studio.core.project import load_project

    p = load_project(folder)
    last = int(reported[-1][0]) if reported else 0
    have = int(p.settings.get("counter", 0))
    if have < last:
        return f"saved counter {have} older than reported {last}"
    if p.objects[0].name != (f"disc{have}" if have else "disc"):
        return "object name does not match the saved counter"
    auto = folder / "autosave.json"
    if auto.exists():
        load_project(folder, use_autosave=True)
    return ""


def _intact(path: Path) -> str:
    if path.suffix == ".exr":
        import OpenEXR

        try:
            with OpenEXR.File(str(path)) as f:
                a = f.channels()["A"].pixels
            if a.shape != (H, W):
                return f"{path.name}: shape {a.shape}"
        except Exception as exc:  # noqa: BLE001 - any failure means a partial file
            return f"{path.name}: unreadable ({exc})"
        return ""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.shape[:2] != (H, W):
        return f"{path.name}: partial or unreadable"
    return ""


def check_export(folder, out, reported) -> str:
    done: dict[str, int] = {}
    for fmt, n in reported:
        done[fmt] = max(done.get(fmt, 0), int(n))
    for fmt_dir in out.glob("*"):
        finals = [f for f in fmt_dir.iterdir() if not f.name.startswith(".")]
        for f in finals:
            problem = _intact(f)
            if problem:
                return problem
        if len(finals) < done.get(fmt_dir.name, 0):
            return f"{fmt_dir.name}: {len(finals)} files but {done[fmt_dir.name]} reported"
    return ""


def check_propagate(folder, out, reported) -> str:
    from roto_studio.core.project import load_project

    p = load_project(folder)
    for (frame, *_rest) in reported:
        m = p.masks.get("obj1", int(frame))
        if m is None or m.shape != (H, W):
            return f"reported frame {frame} missing or damaged"
    return ""


CHECK = {"save": check_save, "export": check_export, "propagate": check_propagate}


def campaign(base: Path, kills_per_job: int, seed: int = 0, jobs=("save", "export", "propagate"),
             max_delay: dict | None = None) -> list[KillResult]:
    rng = random.Random(seed)
    max_delay = max_delay or {"save": 1.0, "export": 2.0, "propagate": 3.0}
    results = []
    for job in jobs:
        folder = make_project(base / job)
        for k in range(kills_per_job):
            out = base / job / f"out{k}"
            out.mkdir()
            results.append(run_and_kill(job, folder, out, rng.uniform(0.0, max_delay[job])))
    return results


def summary(results) -> str:
    ok = sum(r.ok for r in results)
    lines = [f"kills survived / kills tried: {ok} / {len(results)}"]
    for job in sorted({r.job for r in results}):
        rs = [r for r in results if r.job == job]
        lines.append(f"  {job:10s} {sum(r.ok for r in rs)} / {len(rs)}  "
                     f"(frames reported before the kill: {sum(len(r.reported) for r in rs)})")
    for r in results:
        if not r.ok:
            lines.append(f"  FAILED {r.job} after {r.delay:.2f}s: {r.problem}")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 17
    with tempfile.TemporaryDirectory() as d:
        res = campaign(Path(d), n)
        print(summary(res))
        print(json.dumps({"survived": sum(r.ok for r in res), "tried": len(res)}))
