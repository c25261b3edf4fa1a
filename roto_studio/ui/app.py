"""GUI entry: `roto-studio [MEDIA_OR_PROJECT]`. With no file, opens the bundled sample shot."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def sample_shot() -> Path | None:
    """The sample shot made by resources/make_footage.py (drawn on first use, then cached): a
    walker with hair crossing a panning landscape, so the first click shows what the tool does."""
    script = Path(__file__).resolve().parents[2] / "resources" / "make_footage.py"
    if not script.exists():
        return None
    spec = importlib.util.spec_from_file_location("roto_make_footage", script)
    if spec is None or spec.loader is None:  # only for a file that is not Python source
        raise ImportError(f"cannot load {script} as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_footage()


def create_app(argv=None):
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    if existing is None:
        app = QApplication(list(argv or ["roto-studio"]))
    elif isinstance(existing, QApplication):
        app = existing
    else:  # a QCoreApplication (no widgets) made earlier in this process
        raise RuntimeError("a QCoreApplication is already running; the window needs a QApplication.")
    app.setApplicationName("Roto Studio")
    app.setOrganizationName("roto-studio")
    style = Path(__file__).resolve().parents[2] / "resources" / "style.qss"
    if style.exists():
        app.setStyleSheet(style.read_text())
    return app


def open_first(window, path=None) -> None:
    """After the window is on screen: open `path`, or the sample shot (made on first use); on the
    first start with no weights on disk, the model manager is offered too (once)."""
    window.models_ctl.offer_first_start()
    if path:
        window.projects.open_path(path)
        return
    try:
        sample = sample_shot()
    except Exception as exc:  # noqa: BLE001 - a missing sample must not stop the app
        log.warning("could not make the sample shot: %s", exc)
        sample = None
    if sample is not None:
        window.projects.open_media_path(sample)
    else:
        window.show_message("Drop a video, an image sequence or a folder of frames here.", error=False)


# Qt platforms that need a display server; any other QT_QPA_PLATFORM (offscreen, minimal, vnc,
# eglfs, linuxfb, ...) is the user's explicit choice and is trusted.
_DISPLAY_PLATFORMS = {"", "xcb", "wayland", "wayland-egl", "wayland-brcm", "wayland-xcomposite-egl"}


def no_display_reason() -> str | None:
    """Why the window cannot open here (a Linux/BSD box with no X11 or Wayland display), or None.

    Checked before Qt loads: Qt itself aborts the process when it finds no display."""
    if sys.platform.startswith(("win", "darwin", "cygwin")):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0].strip().lower()
    if platform not in _DISPLAY_PLATFORMS:
        return None
    if platform in ("", "xcb") and os.environ.get("DISPLAY"):
        return None
    if platform != "xcb" and os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print("usage: roto-studio [MEDIA | PROJECT.roto]\n\nOpens the studio window; with no file, "
              "the bundled sample shot. `roto-studio --help` lists the headless commands.")
        return 0
    reason = no_display_reason()
    if reason:
        sys.stderr.write(f"roto-studio: cannot open the window: {reason}; use the commands "
                         f"(`roto-studio --help`) or run it on a desktop session (ssh -X, or "
                         f"QT_QPA_PLATFORM=offscreen for a headless window).\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app([sys.argv[0]] + argv)
    from roto_studio.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    app.processEvents()  # paint the window now; the shot opens right after
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: open_first(window, argv[0] if argv else None))
    if os.environ.get("ROTO_SMOKE_EXIT"):
        _quit_when_frame_shown(app, window, float(os.environ["ROTO_SMOKE_EXIT"] or 60))
    return int(app.exec())


def _quit_when_frame_shown(app, window, timeout_s: float) -> None:
    """ROTO_SMOKE_EXIT=SECONDS (a start-up check, e.g. packaging/smoke.py): once the first frame
    of the shot is on the canvas print `roto-studio: frame N shown` and quit (status 0); after
    SECONDS without a frame, quit with status 1."""
    from PySide6.QtCore import QTimer

    deadline = time.monotonic() + timeout_s
    timer = QTimer(window)

    def poll():
        frame = window.playback.shown_frame
        if frame is not None:
            print(f"roto-studio: frame {frame} shown", flush=True)
            timer.stop()
            window.close()  # stops the model service thread
            app.exit(0)
        elif time.monotonic() > deadline:
            print(f"roto-studio: no frame shown after {timeout_s:g} s", flush=True)
            timer.stop()
            window.close()
            app.exit(1)

    timer.timeout.connect(poll)
    timer.start(20)


if __name__ == "__main__":
    raise SystemExit(main())
