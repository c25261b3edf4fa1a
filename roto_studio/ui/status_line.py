"""Layout helpers that keep the window still: a status line that elides long messages before the
read-outs at the right of the status bar (the whole text in its tooltip), and a banner that
floats over the top of the canvas instead of pushing it down, so the frame does not jump when a
message comes or goes."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class StatusLine(QLabel):
    """One line of status text, elided with '…' to the room it has."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("status_line")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.full = ""
        self._clear = QTimer(self, singleShot=True)
        self._clear.timeout.connect(lambda: self.show_text("", 0))

    def show_text(self, text: str, ms: int = 0) -> None:
        """Show `text` (for `ms` milliseconds; 0 = until the next one)."""
        self.full = str(text)
        self.setToolTip(self.full)
        self._elide()
        if ms > 0:
            self._clear.start(ms)
        else:
            self._clear.stop()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideRight, max(10, self.width() - 4))
        super().setText(shown)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._elide()


class FloatOver(QObject):
    """Keeps `banner` laid over the top edge of `host` (full width, its own height for that
    width): showing or hiding it changes nothing else's size."""

    def __init__(self, banner: QWidget, host: QWidget):
        super().__init__(banner)
        self.banner, self.host = banner, host
        banner.setParent(host)
        host.installEventFilter(self)
        banner.installEventFilter(self)
        self.place()

    def place(self) -> None:
        w = self.host.width()
        h = self.banner.heightForWidth(w) if self.banner.hasHeightForWidth() else self.banner.sizeHint().height()
        self.banner.setGeometry(0, 0, w, max(h, self.banner.minimumSizeHint().height()))
        self.banner.raise_()

    def eventFilter(self, obj, e):
        if e.type() in (QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.LayoutRequest) or \
                (obj is self.banner and e.type() == QEvent.Type.FontChange):
            QTimer.singleShot(0, self.place) if obj is self.banner else self.place()
        return False
