"""Start-up time: launch -> studio window shown with the first frame of a shot on screen.

Each measurement is a fresh Python process (so imports count). Baseline, same run: a bare
QApplication showing an empty QMainWindow. Also reports whether torch was imported by then
(it must not be: no model is needed until the first click).

Two ways in: "studio" builds the window and opens a given clip; "app" runs the real
`roto-studio` entry with no file (the sample shot, already made), timing the first turn of the
event loop after show() (when the window is painted) and the first frame on the canvas.

    python benchmarks/bench_startup.py [--runs 3] [--root OTHER_CHECKOUT]

--root times another checkout of the project (e.g. an older commit) with this same script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("ROTO_BENCH_ROOT") or Path(__file__).resolve().parents[1])


def child(mode: str, media: str | None) -> None:
    t0 = float(os.environ.get("ROTO_T0", time.time()))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if mode == "bare":
        from PySide6.QtWidgets import QApplication, QMainWindow

        app = QApplication([])
        w = QMainWindow()
        w.resize(1280, 800)
        w.show()
        app.processEvents()
        shown = time.time() - t0
        print(json.dumps({"shown_s": shown, "torch": "torch" in sys.modules}))
        return
    sys.path.insert(0, str(ROOT))
    if mode == "app":
        return child_app(t0)
    from PySide6.QtCore import QSettings

    from roto_studio.ui.app import create_app
    from roto_studio.ui.main_window import MainWindow

    app = create_app()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    w.show()
    app.processEvents()
    window_s = time.time() - t0
    w.projects.open_media_path(media)
    while w.playback.shown_frame is None and time.time() - t0 < 60:
        app.processEvents()
        time.sleep(0.002)
    frame_s = time.time() - t0
    print(json.dumps({"shown_s": window_s, "frame_s": frame_s, "torch": "torch" in sys.modules,
                      "frame": w.playback.shown_frame}))
    w.close()


def child_app(t0: float) -> None:
    """`roto-studio` with no file: time to the first event-loop turn after show() and to the
    sample shot's first frame on the canvas."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import roto_studio.ui.app as app_module

    seen: dict = {}

    def poll():
        app = QApplication.instance()
        w = next((x for x in app.topLevelWidgets() if x.objectName() == "main_window"), None)
        now = time.time() - t0
        if w is not None and "window_s" not in seen:
            seen["window_s"] = now
        if w is not None and w.playback.shown_frame is not None:
            seen["frame_s"] = now
            seen["frame"] = w.playback.shown_frame
            seen["torch"] = "torch" in sys.modules
            w.close()
            app.quit()
            return
        if now > 60:
            app.quit()
            return
        QTimer.singleShot(2, poll)

    create = app_module.create_app

    def create_app(argv=None):
        app = create(argv)
        QTimer.singleShot(0, poll)  # runs on the first turn of the event loop
        return app

    app_module.create_app = create_app
    app_module.main([])
    print(json.dumps({"shown_s": seen.get("window_s"), "frame_s": seen.get("frame_s"),
                      "torch": seen.get("torch"), "frame": seen.get("frame")}))


def launch(mode: str, media: str | None, env: dict) -> dict:
    env = dict(env, ROTO_T0=repr(time.time()))
    out = subprocess.run([sys.executable, __file__, "--child", mode] + ([media] if media else []),
                         capture_output=True, text=True, env=env, timeout=120)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def measure(runs: int = 3, roots: list[Path] | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resources"))
    from make_sample import make_sample

    media = str(make_sample(tmp / "sample.mp4"))
    # the app's own sample shot, made once beforehand in a private cache (XDG dirs: Linux)
    cache, config = tmp / "cache", tmp / "config"
    make_sample(cache / "roto-studio" / "sample" / "sample_shot.mp4")
    base = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                ROTO_PROJECTS_DIR=str(tmp / "projects"), XDG_CACHE_HOME=str(cache),
                XDG_CONFIG_HOME=str(config), XDG_DATA_HOME=str(tmp / "data"))
    out = {"bare": []}
    roots = roots or [ROOT]
    for _ in range(runs):  # interleaved, so load changes hit every variant alike
        out["bare"].append(launch("bare", None, base)["shown_s"])
        for root in roots:
            env = dict(base, PYTHONPATH=str(root), ROTO_BENCH_ROOT=str(root))
            r = out.setdefault(str(root), {"studio": [], "app": []})
            r["studio"].append(launch("studio", media, env))
            r["app"].append(launch("app", None, env))
    result = {"bare": min(out["bare"]), "roots": {}}
    for root in roots:
        r = out[str(root)]
        result["roots"][str(root)] = {
            "window": min(s["shown_s"] for s in r["studio"]), "frame": min(s["frame_s"] for s in r["studio"]),
            "app_window": min(s["shown_s"] for s in r["app"]), "app_frame": min(s["frame_s"] for s in r["app"]),
            "torch": any(s["torch"] for s in r["studio"] + r["app"])}
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--root", action="append", default=[],
                    help="also time this checkout (e.g. `git worktree` / `git archive` of an older commit)")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1] if len(args.child) > 1 else None)
        return 0
    roots = [Path(r).resolve() for r in args.root] + [ROOT]
    r = measure(args.runs, roots)
    bare = r["bare"]
    print(f"bare Qt window shown:                   {bare * 1000:7.0f} ms (baseline), best of {args.runs}")
    for root, m in r["roots"].items():
        print(f"[{root}]")
        print(f"  studio window shown:                  {m['window'] * 1000:7.0f} ms  ratio {m['window'] / bare:.2f}")
        print(f"  studio, first frame of a clip:        {m['frame'] * 1000:7.0f} ms  ratio {m['frame'] / bare:.2f}")
        print(f"  roto-studio (sample): window painted: {m['app_window'] * 1000:7.0f} ms  ratio {m['app_window'] / bare:.2f}")
        print(f"  roto-studio (sample): first frame:    {m['app_frame'] * 1000:7.0f} ms  ratio {m['app_frame'] / bare:.2f}")
        print(f"  torch imported by then:               {m['torch']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
