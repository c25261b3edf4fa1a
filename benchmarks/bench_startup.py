"""Start-up time: launch -> studio window shown with the first frame of a shot on screen.

Each measurement is a fresh Python process (so imports count). Baseline, same run: a bare
QApplication showing an empty QMainWindow. Also reports whether torch was imported by then
(it must not be: no model is needed until the first click).

    python benchmarks/bench_startup.py [--runs 3]
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

ROOT = Path(__file__).resolve().parents[1]


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
    from PySide6.QtCore import QSettings

    from roto_studio.ui.app import create_app
    from roto_studio.ui.main_window import MainWindow

    app = create_app()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    w.show()
    app.processEvents()
    window_s = time.time() - t0
    w.open_media_path(media)
    while w._shown_frame is None and time.time() - t0 < 60:
        app.processEvents()
        time.sleep(0.002)
    frame_s = time.time() - t0
    print(json.dumps({"shown_s": window_s, "frame_s": frame_s, "torch": "torch" in sys.modules,
                      "frame": w._shown_frame}))
    w.close()


def launch(mode: str, media: str | None, env: dict) -> dict:
    env = dict(env, ROTO_T0=repr(time.time()))
    out = subprocess.run([sys.executable, __file__, "--child", mode] + ([media] if media else []),
                         capture_output=True, text=True, env=env, timeout=120)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def measure(runs: int = 3) -> dict:
    tmp = Path(tempfile.mkdtemp())
    sys.path.insert(0, str(ROOT / "resources"))
    from make_sample import make_sample

    media = str(make_sample(tmp / "sample.mp4"))
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               ROTO_PROJECTS_DIR=str(tmp / "projects"), PYTHONPATH=str(ROOT))
    bare = [launch("bare", None, env)["shown_s"] for _ in range(runs)]
    studio = [launch("studio", media, env) for _ in range(runs)]
    return {"bare": min(bare), "window": min(s["shown_s"] for s in studio),
            "frame": min(s["frame_s"] for s in studio), "torch": any(s["torch"] for s in studio)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1] if len(args.child) > 1 else None)
        return 0
    r = measure(args.runs)
    print(f"bare Qt window shown:            {r['bare'] * 1000:7.0f} ms (baseline)")
    print(f"studio window shown:             {r['window'] * 1000:7.0f} ms  ratio {r['window'] / r['bare']:.2f}")
    print(f"studio with first frame on show: {r['frame'] * 1000:7.0f} ms  ratio {r['frame'] / r['bare']:.2f}")
    print(f"torch imported at that point:    {r['torch']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
