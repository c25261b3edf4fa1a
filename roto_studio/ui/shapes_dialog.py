"""Shape widgets: the Shapes section of the Edges panel (tolerance, key tolerance, point budget, the point count
of the current frame) and the File > Export shapes... dialog. They show values and emit what the
user changed; the shapes controller does the work."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QWidget)

from roto_studio.ops.shapes import DEFAULT_KEY_TOLERANCE

FORMAT_NAMES = {"nuke": "Nuke (.nk)", "silhouette": "Silhouette (.fxs)", "fusion": "Fusion / Resolve (.setting)",
                "ae": "After Effects (.jsx)", "svg": "SVG (one file per frame)", "json": "JSON (roto-studio)"}


class ShapesPanel(QWidget):
    """settingsChanged(tolerance, max_points or 0, key tolerance) while the user edits."""

    settingsChanged = Signal(float, int, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("shapes_panel")
        form = QFormLayout(self)
        form.setContentsMargins(4, 8, 4, 4)
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setObjectName("shapes_tolerance")
        self.tolerance.setRange(0.1, 20.0)
        self.tolerance.setSingleStep(0.25)
        self.tolerance.setDecimals(2)
        self.tolerance.setSuffix(" px")
        self.tolerance.setValue(1.0)
        self.tolerance.setKeyboardTracking(False)
        self.tolerance.setToolTip("How closely the shapes follow the matte, in plate pixels")
        self.key_tolerance = QDoubleSpinBox()
        self.key_tolerance.setObjectName("shapes_key_tolerance")
        self.key_tolerance.setRange(0.1, 20.0)
        self.key_tolerance.setSingleStep(0.25)
        self.key_tolerance.setDecimals(2)
        self.key_tolerance.setSuffix(" px")
        self.key_tolerance.setValue(DEFAULT_KEY_TOLERANCE)
        self.key_tolerance.setKeyboardTracking(False)
        self.key_tolerance.setToolTip("How far the frames between keys may stray from the matte, in plate pixels: "
                                      "a frame is a key only where the interpolation would miss it")
        self.budget = QSpinBox()
        self.budget.setObjectName("shapes_max_points")
        self.budget.setRange(0, 100000)
        self.budget.setSpecialValueText("no limit")
        self.budget.setKeyboardTracking(False)
        self.budget.setToolTip("The most points an object's shapes may have on a frame (0: no limit)")
        self.count = QLabel("Shapes: off (View > Shapes)")
        self.count.setObjectName("shapes_count")
        self.count.setWordWrap(True)
        form.addRow("Shape tolerance", self.tolerance)
        form.addRow("Key tolerance", self.key_tolerance)
        form.addRow("Point budget", self.budget)
        form.addRow(self.count)
        self.tolerance.valueChanged.connect(self._emit)
        self.key_tolerance.valueChanged.connect(self._emit)
        self.budget.valueChanged.connect(self._emit)
        self._quiet = False

    def set_values(self, tolerance: float, max_points: int, key_tolerance: float = DEFAULT_KEY_TOLERANCE) -> None:
        self._quiet = True
        try:
            self.tolerance.setValue(float(tolerance))
            self.budget.setValue(int(max_points or 0))
            self.key_tolerance.setValue(float(key_tolerance))
        finally:
            self._quiet = False

    def _emit(self, *_):
        if not self._quiet:
            self.settingsChanged.emit(self.tolerance.value(), self.budget.value(), self.key_tolerance.value())


class ExportShapesDialog(QDialog):
    """Format and destination; accepted() when the user clicks Export."""

    def __init__(self, project_name: str, folder: str, fmt: str = "nuke", parent=None):
        super().__init__(parent)
        self.setObjectName("export_shapes_dialog")
        self.setWindowTitle("Export shapes")
        self.project_name = project_name
        form = QFormLayout(self)
        self.format = QComboBox()
        self.format.setObjectName("shapes_format")
        for key, text in FORMAT_NAMES.items():
            self.format.addItem(text, key)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.out = QLineEdit(str(Path(folder) / project_name))
        self.out.setObjectName("shapes_out")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        form.addRow("Format", self.format)
        form.addRow("File (SVG: folder)", row)
        self.note = QLabel("The extension is added when missing. Nuke also gets NAME_nuke.py for its Script Editor.")
        self.note.setWordWrap(True)
        form.addRow(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def chosen_format(self) -> str:
        return self.format.currentData()

    def _browse(self) -> None:
        if self.chosen_format() == "svg":
            path = QFileDialog.getExistingDirectory(self, "Folder for the SVG files", self.out.text())
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export shapes", self.out.text())
        if path:
            self.out.setText(path)
