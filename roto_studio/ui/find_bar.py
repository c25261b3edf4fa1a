"""The "Find..." field: type what to cut out ("person, dog") and press Enter; a minimum score
beside it. Only the widget: ui/controllers/find.py does the work."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QLineEdit, QWidget


class FindBar(QWidget):
    findRequested = Signal(str, float)  # phrases as typed, minimum score
    trackRequested = Signal(str, float)  # the same, "Track through the shot" ticked

    def __init__(self, parent=None):
        super().__init__(parent)
        self.field = QLineEdit()
        self.field.setObjectName("find_field")
        self.field.setPlaceholderText("Find... (e.g. person, dog)")
        self.field.setToolTip("Every instance of each phrase on this frame becomes an object "
                              "(SAM 3, or Grounding DINO + SAM 2). Enter to find; one undo removes them.")
        self.score = QDoubleSpinBox()
        self.score.setObjectName("find_min_score")
        self.score.setRange(0.0, 1.0)
        self.score.setSingleStep(0.05)
        self.score.setValue(0.5)
        self.score.setToolTip("Minimum score of an instance")
        self.track = QCheckBox("Track through the shot")
        self.track.setObjectName("find_track")
        self.track.setToolTip("Follow the phrases from this frame to the end of the range (SAM 3 video: "
                              "instances that appear later become objects too); without SAM 3, find them "
                              "here and propagate them with the shot's backend")
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.field, 0, 0)
        lay.addWidget(self.score, 0, 1)
        lay.addWidget(self.track, 1, 0, 1, 2)
        lay.setColumnStretch(0, 1)
        self.field.returnPressed.connect(self._enter)

    def _enter(self) -> None:
        signal = self.trackRequested if self.track.isChecked() else self.findRequested
        signal.emit(self.field.text(), self.score.value())

    def set_busy(self, busy: bool) -> None:
        self.field.setEnabled(not busy)
