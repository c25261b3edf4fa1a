"""Take the README's screenshots of the real window on the sample shot, under a real X server.

    Xvfb :99 -screen 0 1366x768x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python scripts/readme_screenshots.py docs/

Opens the window on the generated sample shot (resources/make_footage.py) with the CPU fallback,
drags a box round the walker, adds a second object for the path, propagates every object (Ctrl+Shift+F,
sent with xdotool as a key press from outside), then writes docs/screenshot.png (the whole
screen, ImageMagick's `import -window root`) and docs/timeline.png (the timeline: thumbnails,
scrub bar, a track per object). Needs xdotool and ImageMagick (apt: xdotool imagemagick)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(out_dir: str) -> int:
    out = Path(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix="roto-shots-"))
    os.environ.setdefault("ROTO_PROJECTS_DIR", str(tmp / "projects"))
    os.environ.setdefault("ROTO_DEVICE", "cpu")
    from PySide6.QtCore import QPointF, QSettings, Qt
    from PySide6.QtTest import QTest

    from roto_studio.ui.app import create_app, sample_shot

    app = create_app(["roto-studio"])
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("models/server", "in-process")
    settings.setValue("models/backend", "classical")
    settings.setValue("project/autosave_s", 0)
    from roto_studio.ui.main_window import MainWindow

    w = MainWindow(settings)
    w.ask = lambda *a, **k: False
    w.setGeometry(0, 0, 1366, 740)
    w.show()

    def pump(seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            if until is not None and until():
                return True
            time.sleep(0.02)
        return until is None

    pump(0.5)
    w.projects.open_media_path(sample_shot())
    assert pump(30, lambda: w.playback.shown_frame == 0), "the sample shot did not open"

    def click(x, y):
        QTest.mouseClick(w.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         w.canvas.mapFromScene(QPointF(x, y)))
        pump(60, lambda: w.prompting.pending_requests() == 0 and w.shot.service.pending() == 0)

    def box(x0, y0, x1, y1):
        vp = w.canvas.viewport()
        w.prompting.set_tool("box")
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         w.canvas.mapFromScene(QPointF(x0, y0)))
        for k in range(1, 5):
            QTest.mouseMove(vp, w.canvas.mapFromScene(QPointF(x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4)))
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           w.canvas.mapFromScene(QPointF(x1, y1)))
        pump(60, lambda: w.prompting.pending_requests() == 0 and w.shot.service.pending() == 0)
        w.prompting.set_tool("click")

    box(72, 92, 138, 332)  # a box round the walker
    w.objects_ctl.add_object()
    box(1, 226, 639, 306)  # the path, a second object
    w.playback.set_frame(0)
    pump(1)
    w.activateWindow()
    pump(0.5)
    subprocess.run(["xdotool", "key", "--clearmodifiers", "ctrl+shift+f"], check=True)  # Propagate all
    pump(5, lambda: w.shot.job_running())
    pump(600, lambda: not w.shot.job_running())
    pump(3)
    w.objects_ctl.select_object(w.shot.project.objects[0].id)
    w.playback.set_frame(20)
    pump(2, lambda: False)
    subprocess.run(["xdotool", "mousemove", "700", "330"], check=True)
    pump(1)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["import", "-window", "root", "-crop", "1366x740+0+0", str(out / "screenshot.png")], check=True)
    col = w.timeline_column
    top = col.mapToGlobal(col.rect().topLeft())
    left = w.mapToGlobal(w.rect().topLeft())
    geom = f"{w.width()}x{col.height() + 8}+{left.x()}+{top.y() - 4}"
    subprocess.run(["import", "-window", "root", "-crop", geom, str(out / "timeline.png")], check=True)
    print(f"wrote {out / 'screenshot.png'} and {out / 'timeline.png'}")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "docs")))
