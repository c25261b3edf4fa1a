"""Timeline: scrub, in/out range, and marks (prompted frames, propagated spans, locked ranges,
frames needing attention). Frames are plate numbers; the bar is laid out by position so gaps in
a sequence take no room."""

from __future__ import annotations

import bisect

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


def spans(frames: list[int], numbers: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive positions (in `numbers`) covered by `frames`, as (first, last) plate
    numbers."""
    if not frames or not numbers:
        return []
    index = {f: i for i, f in enumerate(numbers)}
    pos = sorted(index[f] for f in frames if f in index)
    if not pos:
        return []
    out = []
    start = prev = pos[0]
    for p in pos[1:]:
        if p == prev + 1:
            prev = p
        else:
            out.append((numbers[start], numbers[prev]))
            start = prev = p
    out.append((numbers[start], numbers[prev]))
    return out


class Timeline(QWidget):
    frameRequested = Signal(int)  # plate number the user scrubbed to

    PROMPT = QColor(255, 200, 40)
    DONE = QColor(70, 160, 255)
    LOCK = QColor(150, 150, 150)
    ATTENTION = QColor(240, 70, 60)
    RANGE = QColor(255, 255, 255, 40)
    SHAPE_KEY = QColor(120, 255, 200)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setMinimumHeight(46)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.numbers: list[int] = []
        self.current: int | None = None
        self.in_frame: int | None = None
        self.out_frame: int | None = None
        self.prompted: set[int] = set()
        self.done: list[tuple[int, int]] = []
        self.locked: list[tuple[int, int]] = []
        self.attention: set[int] = set()
        self.busy: tuple[int, int] | None = None  # frames a running job covers
        self.shape_keys: list[int] = []  # key frames of the fitted shapes (outline view)
        self._dragging = False

    def sizeHint(self) -> QSize:
        return QSize(600, 50)

    # -- state
    def set_frames(self, numbers: list[int]) -> None:
        self.numbers = list(numbers)
        self.in_frame = self.numbers[0] if self.numbers else None
        self.out_frame = self.numbers[-1] if self.numbers else None
        self.current = self.numbers[0] if self.numbers else None
        self.update()

    def set_shape_keys(self, frames) -> None:
        self.shape_keys = list(frames)
        self.update()

    def set_current(self, frame: int) -> None:
        self.current = frame
        self.update()

    def set_marks(self, prompted=None, done_frames=None, locked=None, attention=None) -> None:
        if prompted is not None:
            self.prompted = set(prompted)
        if done_frames is not None:
            self.done = spans(sorted(done_frames), self.numbers)
        if locked is not None:
            self.locked = list(locked)
        if attention is not None:
            self.attention = set(attention)
        self.update()

    def set_range(self, in_frame: int | None, out_frame: int | None) -> None:
        if in_frame is not None:
            self.in_frame = in_frame
        if out_frame is not None:
            self.out_frame = out_frame
        if self.in_frame is not None and self.out_frame is not None and self.in_frame > self.out_frame:
            self.in_frame, self.out_frame = self.out_frame, self.in_frame
        self.update()

    def frame_range(self) -> tuple[int, int] | None:
        if self.in_frame is None or self.out_frame is None:
            return None
        return (self.in_frame, self.out_frame)

    # -- geometry
    def _pos(self, frame: int) -> int:
        return max(0, bisect.bisect_left(self.numbers, frame)) if self.numbers else 0

    def edge_x(self, frame: int, edge: str = "left") -> float:
        """x of the left (or right) edge of `frame`'s slot on the bar."""
        n = max(len(self.numbers), 1)
        w = self.width() - 12
        i = self._pos(frame) + (1 if edge == "right" else 0)
        return 6 + w * i / n

    def frame_at(self, x: float) -> int | None:
        if not self.numbers:
            return None
        n = len(self.numbers)
        i = int((x - 6) / max(self.width() - 12, 1) * n)
        return self.numbers[min(max(i, 0), n - 1)]

    def x_of(self, frame: int) -> float:
        """Centre x of `frame` (tests use it to click on the bar)."""
        return (self.edge_x(frame) + self.edge_x(frame, "right")) / 2

    # -- input
    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self._scrub(event.position().x())

    def mouseMoveEvent(self, event):
        if self._dragging:
            self._scrub(event.position().x())

    def mouseReleaseEvent(self, event):
        self._dragging = False

    def _scrub(self, x: float) -> None:
        f = self.frame_at(x)
        if f is not None and f != self.current:
            self.current = f
            self.update()
            self.frameRequested.emit(f)

    # -- paint
    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 32))
        if not self.numbers:
            p.end()
            return
        h = self.height()
        track = QRectF(6, 14, self.width() - 12, h - 22)
        p.fillRect(track, QColor(52, 52, 56))
        if self.in_frame is not None and self.out_frame is not None:
            p.fillRect(QRectF(self.edge_x(self.in_frame), track.top(),
                              self.edge_x(self.out_frame, "right") - self.edge_x(self.in_frame), track.height()),
                       self.RANGE)
        band = track.height() / 3
        for a, b in self.done:
            p.fillRect(QRectF(self.edge_x(a), track.top() + band, max(self.edge_x(b, "right") - self.edge_x(a), 1), band),
                       self.DONE)
        for a, b in self.locked:
            p.fillRect(QRectF(self.edge_x(a), track.bottom() - band * 0.6,
                              max(self.edge_x(b, "right") - self.edge_x(a), 1), band * 0.6), self.LOCK)
        if self.busy:
            a, b = self.busy
            p.setPen(QPen(QColor(120, 220, 255), 1, Qt.PenStyle.DashLine))
            p.drawRect(QRectF(self.edge_x(a), track.top(), self.edge_x(b, "right") - self.edge_x(a), track.height()))
        for f in self.prompted:
            x = self.x_of(f)
            p.fillRect(QRectF(x - 2, track.top(), 4, band), self.PROMPT)
        for f in self.attention:
            x = self.x_of(f)
            p.fillRect(QRectF(x - 1.5, track.top() + 2 * band, 3, band), self.ATTENTION)
        for f in self.shape_keys:
            x = self.x_of(f)
            p.fillRect(QRectF(x - 1.5, track.top() - 4, 3, 4), self.SHAPE_KEY)
        # in / out brackets
        p.setPen(QPen(QColor(255, 255, 255), 2))
        if self.in_frame is not None:
            x = self.edge_x(self.in_frame)
            p.drawLine(int(x), int(track.top()), int(x), int(track.bottom()))
        if self.out_frame is not None:
            x = self.edge_x(self.out_frame, "right")
            p.drawLine(int(x), int(track.top()), int(x), int(track.bottom()))
        # playhead and labels
        font = QFont(p.font())
        font.setPointSizeF(8)
        p.setFont(font)
        p.setPen(QColor(200, 200, 200))
        cx = self.x_of(self.current) if self.current is not None else -1e9
        if cx > 60:  # the end labels give way to the playhead's
            p.drawText(QRectF(6, 0, 80, 14), Qt.AlignmentFlag.AlignLeft, str(self.numbers[0]))
        if cx < self.width() - 60:
            p.drawText(QRectF(self.width() - 86, 0, 80, 14), Qt.AlignmentFlag.AlignRight, str(self.numbers[-1]))
        if self.current is not None:
            x = self.x_of(self.current)
            p.setPen(QPen(QColor(255, 90, 60), 2))
            p.drawLine(int(x), 12, int(x), h - 4)
            p.drawText(QRectF(x - 40, 0, 80, 14), Qt.AlignmentFlag.AlignHCenter, str(self.current))
        p.end()
