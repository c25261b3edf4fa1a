"""Drive the window like an artist: drops, clicks on the canvas, keys."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def drop_files(window, paths) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    accepted = enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return accepted


def click_canvas(window, x: float, y: float, button=Qt.MouseButton.LeftButton,
                 modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A mouse click at frame pixel (x, y) on the canvas viewport."""
    canvas = window.canvas
    pos = canvas.mapFromScene(QPointF(x, y))
    QTest.mouseClick(canvas.viewport(), button, modifier, pos)


def drag_canvas(window, x0, y0, x1, y1, button=Qt.MouseButton.LeftButton, steps: int = 4) -> None:
    canvas = window.canvas
    vp = canvas.viewport()
    p0 = canvas.mapFromScene(QPointF(x0, y0))
    QTest.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, p0)
    for i in range(1, steps + 1):
        t = i / steps
        p = canvas.mapFromScene(QPointF(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, canvas.mapFromScene(QPointF(x1, y1)))


def key(window, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(window, k, modifier)


def wait_frame(qtbot, window, frame: int, timeout: int = 10000) -> None:
    qtbot.waitUntil(lambda: window.playback.shown_frame == frame and window.playback.reader.idle(), timeout=timeout)


def wait_job(qtbot, window, timeout: int = 60000) -> str:
    qtbot.waitUntil(lambda: window.shot.job is not None and not window.shot.job.is_running()
                    and window.shot.job.state != "running", timeout=timeout)
    qtbot.wait(50)  # let the ended signal reach the window
    return window.shot.job.state


def wait_masks(qtbot, window, timeout: int = 30000) -> None:
    qtbot.waitUntil(lambda: window.prompting.pending_requests() == 0 and window.shot.service.pending() == 0, timeout=timeout)
    qtbot.wait(30)
