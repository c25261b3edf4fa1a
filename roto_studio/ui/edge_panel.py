"""Edge settings of the current object (grow / shrink, feather, smooth, fill holes, remove specks,
temporal smoothing, shutter angle for motion blur). The panel only shows settings and emits what the user changed; the window
stores them in ObjectInfo.refine through an undoable command. Nothing is computed here."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDoubleSpinBox, QGridLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QWidget)

# key, label, minimum, maximum, slider range (the spin box goes further), step, suffix, tip.
# Keys and defaults are those of core.refine.DEFAULTS.
FIELDS = [
    ("grow", "Grow / shrink", -200, 200, (-40, 40), 1, " px", "Positive grows the matte, negative shrinks it"),
    ("feather", "Feather", 0.0, 200.0, (0.0, 30.0), 0.5, " px", "Softens the edge"),
    ("smooth", "Smooth", 0.0, 100.0, (0.0, 20.0), 0.5, " px", "Rounds jagged contours, keeps the edge hard"),
    ("fill_holes", "Fill holes", 0, 10**9, (0, 5000), 10, " px²", "Enclosed holes up to this area become solid"),
    ("remove_specks", "Remove specks", 0, 10**9, (0, 5000), 10, " px²", "Detached pieces smaller than this vanish"),
    ("temporal", "Temporal", 0, 8, (0, 8), 1, " fr", "Frames each side blended on still edges (0 = off)"),
    ("shutter_angle", "Shutter angle", 0.0, 360.0, (0.0, 360.0), 15.0, "°",
     "Motion blur: the matte is smeared along the object's motion over this share of a frame when it is "
     "matted and rendered (180 = common film, 0 = off)"),
]
DEFAULTS = {"grow": 0, "feather": 0.0, "smooth": 0.0, "fill_holes": 0, "remove_specks": 0, "temporal": 0,
            "shutter_angle": 0.0}
_SLIDER_STEPS = 10  # slider ticks per unit for float settings


def _spin_box(is_float: bool, lo: float, hi: float, step: float) -> QSpinBox | QDoubleSpinBox:
    """A spin box for a float setting (one decimal) or an int one."""
    if is_float:
        fspin = QDoubleSpinBox()
        fspin.setDecimals(1)
        fspin.setRange(lo, hi)
        fspin.setSingleStep(step)
        return fspin
    ispin = QSpinBox()
    ispin.setRange(int(lo), int(hi))
    ispin.setSingleStep(int(step))
    return ispin


class EdgePanel(QWidget):
    """settingChanged(key, value) while the user edits; resetRequested() for "Reset"."""

    settingChanged = Signal(str, object)
    resetRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("edge_panel")
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self.sliders: dict[str, QSlider] = {}
        self._updating = False
        for row, (key, label, lo, hi, (smin, smax), step, suffix, tip) in enumerate(FIELDS):
            is_float = isinstance(lo, float)
            spin = _spin_box(is_float, lo, hi, step)
            spin.setSuffix(suffix)
            spin.setKeyboardTracking(False)
            spin.setObjectName(f"edge_{key}")
            spin.setToolTip(tip)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"edge_{key}_slider")
            scale = _SLIDER_STEPS if is_float else 1
            slider.setRange(int(smin * scale), int(smax * scale))
            slider.setToolTip(tip)
            name = QLabel(label)
            name.setToolTip(tip)
            grid.addWidget(name, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(spin, row, 2)
            spin.valueChanged.connect(lambda v, k=key: self._spin_changed(k, v))
            slider.valueChanged.connect(lambda v, k=key, s=scale: self._slider_changed(k, v / s if s != 1 else v))
            self.spins[key] = spin
            self.sliders[key] = slider
        self.reset = QPushButton("Reset edges")
        self.reset.setObjectName("edge_reset")
        self.reset.clicked.connect(self.resetRequested)
        grid.addWidget(self.reset, len(FIELDS), 0, 1, 3)
        grid.setColumnStretch(1, 1)

    def add_section(self, widget) -> None:
        """Another panel's widgets below the edge settings (the shapes' tolerance and budget)."""
        grid = self.layout()
        assert isinstance(grid, QGridLayout), "__init__ sets a grid layout"
        grid.addWidget(widget, grid.rowCount(), 0, 1, 3)

    def set_settings(self, settings: dict | None, enabled: bool = True) -> None:
        """Show `settings` (missing keys = defaults) without emitting anything."""
        self._updating = True
        try:
            for key, spin in self.spins.items():
                value = (settings or {}).get(key, DEFAULTS[key])
                spin.setValue(value)
                self._move_slider(key, value)
        finally:
            self._updating = False
        self.setEnabled(enabled)

    def values(self) -> dict:
        return {k: s.value() for k, s in self.spins.items()}

    def _move_slider(self, key: str, value) -> None:
        slider = self.sliders[key]
        scale = _SLIDER_STEPS if isinstance(self.spins[key], QDoubleSpinBox) else 1
        slider.blockSignals(True)
        slider.setValue(int(round(min(max(value * scale, slider.minimum()), slider.maximum()))))
        slider.blockSignals(False)

    def _spin_changed(self, key: str, value) -> None:
        if self._updating:
            return
        self._move_slider(key, value)
        self.settingChanged.emit(key, value)

    def _slider_changed(self, key: str, value) -> None:
        if self._updating:
            return
        spin = self.spins[key]
        spin.blockSignals(True)
        spin.setValue(value)
        spin.blockSignals(False)
        self.settingChanged.emit(key, spin.value())
