"""Dialogs: export, settings / models, shot settings (frame rate), keyboard shortcuts (F1)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from roto_studio.ui.actions import help_rows, shortcuts_markdown  # noqa: F401 - shortcuts_markdown for callers
from roto_studio.ui.help import HelpDialog as ShortcutsDialog  # noqa: F401 - F1: getting started + keys
from roto_studio.workers.jobs import Job

# (keys, what): made from the window's action table (ui.actions), as is README.md's key table
SHORTCUTS = help_rows()


class ExportDialog(QDialog):
    """Collects ExportOptions and an output folder; the window runs the export as a job."""

    def __init__(self, project, frame_range=None, out_dir: str = "", parent=None, spaces=(), plate_space: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("export_dialog")
        self.project = project
        self.format = QComboBox()
        for key, label in [("exr", "OpenEXR (half, ZIP)"), ("png16", "PNG 16-bit"), ("png8", "PNG 8-bit"),
                           ("prores", "ProRes 4444 .mov with alpha"), ("cryptomatte", "Cryptomatte EXR")]:
            self.format.addItem(label, key)
        self.objects = QListWidget()
        for o in project.objects:
            item = QListWidgetItem(o.name)
            item.setData(Qt.ItemDataRole.UserRole, o.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.objects.addItem(item)
        self.objects.setMaximumHeight(110)
        self.combine = QCheckBox("One file per frame holding every object (layers)")
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText("{object}.####.exr")
        self.example = QLabel()
        self.example.setObjectName("export_example")
        self.start = QSpinBox()
        self.start.setRange(-1, 10_000_000)
        self.start.setSpecialValueText("plate numbers")
        self.start.setValue(-1)
        self.first = QSpinBox()
        self.last = QSpinBox()
        for s in (self.first, self.last):
            s.setRange(-10_000_000, 10_000_000)
        if frame_range:
            self.first.setValue(frame_range[0])
            self.last.setValue(frame_range[1])
        self.rgba = QComboBox()
        self.rgba.addItem("Alpha only", None)
        self.rgba.addItem("RGBA cut-out, straight", "straight")
        self.rgba.addItem("RGBA cut-out, premultiplied", "premultiplied")
        # as `export --exr-float` and `--out-colorspace` on the command line
        self.precision = QComboBox()
        self.precision.setObjectName("export_precision")
        self.precision.addItem("Half float (16-bit)", "half")
        self.precision.addItem("Float (32-bit)", "float")
        self.out_space = QComboBox()
        self.out_space.setObjectName("export_colorspace")
        self.out_space.addItem(f"The plate's own{f' ({plate_space})' if plate_space else ''}", None)
        for name in spaces:
            self.out_space.addItem(name, name)
        self.out_space.setToolTip("The colour space cut-out RGB is written in; the matte is never converted. "
                                  "PNG and ProRes cut-outs of a linear plate default to sRGB.")
        self.out = QLineEdit(out_dir)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out)
        out_row.addWidget(browse)
        rng = QHBoxLayout()
        rng.addWidget(self.first)
        rng.addWidget(QLabel("to"))
        rng.addWidget(self.last)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Objects", self.objects)
        form.addRow("", self.combine)
        form.addRow("Name pattern", self.pattern)
        form.addRow("Example", self.example)
        form.addRow("Start frame", self.start)
        form.addRow("Range", rng)
        form.addRow("Output", self.rgba)
        form.addRow("EXR precision", self.precision)
        form.addRow("Cut-out colour space", self.out_space)
        form.addRow("Folder", out_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        for sig in (self.format.currentIndexChanged, self.combine.toggled, self.pattern.textChanged,
                    self.start.valueChanged, self.first.valueChanged, self.rgba.currentIndexChanged):
            sig.connect(self.update_example)
        for sig in (self.format.currentIndexChanged, self.rgba.currentIndexChanged):
            sig.connect(self._update_output_rows)
        self.update_example()
        self._update_output_rows()

    def _update_output_rows(self) -> None:
        self.precision.setEnabled(self.format.currentData() == "exr")
        self.out_space.setEnabled(self.rgba.currentData() is not None)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.out.text())
        if d:
            self.out.setText(d)

    def selected_objects(self) -> list[str]:
        out = []
        for i in range(self.objects.count()):
            item = self.objects.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def options(self):
        from roto_studio.core.export import ExportOptions

        first, last = sorted((self.first.value(), self.last.value()))
        return ExportOptions(
            format=self.format.currentData(), objects=self.selected_objects(),
            combine=self.combine.isChecked(), pattern=self.pattern.text().strip() or None,
            start_frame=None if self.start.value() < 0 else self.start.value(),
            frame_range=(first, last), rgba=self.rgba.currentData(),
            exr_precision=self.precision.currentData(), out_colorspace=self.out_space.currentData())

    def update_example(self) -> None:
        from roto_studio.core.errors import RotoError
        from roto_studio.core.export.naming import example_name
        from roto_studio.core.export.options import cutout_mode

        objs = self.selected_objects()
        name = next((o.name for o in self.project.objects if o.id in objs), "object")
        start = self.start.value()
        frame = start if start >= 0 else min(self.first.value(), self.last.value())
        try:
            cutout_mode(self.format.currentData(), self.rgba.currentData())  # the CLI's rule (no premultiplied PNG)
            text = example_name(self.pattern.text().strip() or None, name, frame, self.format.currentData(),
                                combined=self.combine.isChecked(), project_name=self.project.name)
            self.example.setText(text)
            self.example.setStyleSheet("")
            ok = True
        except RotoError as exc:
            self.example.setText(str(exc))
            self.example.setStyleSheet("color: #e55;")
            ok = False
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)


class WeightsRow(QWidget):
    """One model: its status, and a download button with progress and cancel."""

    changed = Signal()

    def __init__(self, name: str, description: str, parent=None):
        super().__init__(parent)
        self.name = name
        self.label = QLabel(f"<b>{name}</b> {description}")
        self.state = QLabel()
        self.state.setObjectName(f"weights_state_{name}")
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.button = QPushButton("Download")
        self.button.setObjectName(f"weights_download_{name}")
        self.button.clicked.connect(self._clicked)
        self.job: Job | None = None
        self.error = ""
        row = QGridLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 0, 0, 1, 2)
        row.addWidget(self.state, 1, 0)
        row.addWidget(self.button, 1, 1)
        row.addWidget(self.bar, 2, 0, 1, 2)
        self.refresh()

    def refresh(self) -> None:
        """State without hashing (a pinned file not hashed yet is 'present, checked before first use')."""
        from roto_studio.models.weights import store as weights

        tip = ""
        try:
            st = weights.status(self.name, check=False)
            state = st.state
            where = f" ({st.folder})" if st.state != "missing" else ""
            if state != "ok":
                tip = weights.message(st)
        except Exception as exc:  # noqa: BLE001
            state, where = f"unknown ({exc})", ""
        self.present = state in ("ok", "unverified", "present")
        shown = "present, checked before first use" if state == "present" else state
        self.state.setText(shown + where)
        self.state.setToolTip(tip)
        self.button.setEnabled(not self.present or self.job is not None)
        self.button.setText("Cancel" if self.job is not None else ("Installed" if self.present else "Download"))

    def _clicked(self) -> None:
        if self.job is not None:
            self.job.cancel()
            return

        def run(progress, cancelled):
            from roto_studio.models.weights import fetch

            return fetch.download(self.name, progress=lambda d, t: progress(d, t), cancel=cancelled)

        self.job = Job(run, f"downloading {self.name}", self)
        self.job.progress.connect(self._progress)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(lambda: self._failed("download cancelled"))
        self.job.ended.connect(self._ended)
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        self.job.start()
        self.refresh()

    def _progress(self, done: int, total: int, _info) -> None:
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
            self.bar.setFormat(f"{done / 2**20:.0f} / {total / 2**20:.0f} MB")

    def _failed(self, msg: str) -> None:
        self.error = msg

    def _ended(self) -> None:
        msg, self.error = self.error, ""
        self.job = None
        self.bar.setVisible(False)
        self.refresh()
        if msg:  # what went wrong stays visible until the next refresh
            self.state.setText(msg)
        self.changed.emit()


class SettingsDialog(QDialog):
    """Device, precision, backend, cache folders, weights status and downloads."""

    def __init__(self, values: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings and models")
        self.setObjectName("settings_dialog")
        self.device = QComboBox()
        for d in ("auto", "cuda", "mps", "cpu"):
            self.device.addItem(d, d)
        self.precision = QComboBox()
        for p in ("auto", "bfloat16", "float16", "float32"):
            self.precision.addItem(p, p)
        self.backend = QComboBox()
        for b in ("auto", "sam2", "cutie", "classical"):
            self.backend.addItem(b, b)
        self.weights_dir = QLineEdit()
        self.offline_dir = QLineEdit()
        self.offline_dir.setPlaceholderText("folder with weights copied by hand (optional)")
        self.frame_cache = QSpinBox()
        self.frame_cache.setRange(64, 65536)
        self.frame_cache.setSuffix(" MiB")
        self.undo_memory = QSpinBox()
        self.undo_memory.setRange(16, 65536)
        self.undo_memory.setSuffix(" MB")
        self.undo_memory.setToolTip("Undo steps beyond this move to a file in the project's cache folder.")
        self.autosave = QSpinBox()
        self.autosave.setRange(0, 3600)
        self.autosave.setSuffix(" s (0 = off)")
        self._set_combo(self.device, values.get("device", "auto"))
        self._set_combo(self.precision, values.get("precision", "auto"))
        self._set_combo(self.backend, values.get("backend", "auto"))
        self.offline_dir.setText(values.get("offline_dir", ""))
        self.frame_cache.setValue(int(values.get("frame_cache_mb", 512)))
        self.autosave.setValue(int(values.get("autosave_s", 60)))
        self.undo_memory.setValue(int(values.get("undo_memory_mb", 256)))
        self.server = QComboBox()
        self.server.setObjectName("server_mode")
        for key, text in (("local", "Local model server (this machine)"), ("remote", "Remote model server"),
                          ("in-process", "In this process (no server)")):
            self.server.addItem(text, key)
        self.server_url = QLineEdit(values.get("server_url", ""))
        self.server_url.setObjectName("server_url")
        self.server_url.setPlaceholderText("http://gpu-box:8765")
        self.server_token = QLineEdit(values.get("server_token", ""))
        self.server_token.setObjectName("server_token")
        self.server_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.server_token.setPlaceholderText("the token the server was started with")
        self._set_combo(self.server, values.get("server", "local"))
        self.server.currentIndexChanged.connect(self._update_server)
        self._update_server()
        try:
            from roto_studio.models.weights import store as weights

            self.weights_dir.setText(str(weights.weights_dir()))
        except Exception:  # noqa: BLE001
            pass
        self.weights_dir.setReadOnly(True)
        self.weights_dir.setToolTip("Set ROTO_WEIGHTS_DIR to move it.")
        form = QFormLayout()
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Segmentation backend", self.backend)
        form.addRow("Models run in", self.server)
        form.addRow("Server URL", self.server_url)
        form.addRow("Server token", self.server_token)
        form.addRow("Frame cache", self.frame_cache)
        form.addRow("Autosave every", self.autosave)
        form.addRow("Undo memory", self.undo_memory)
        form.addRow("Weights folder", self.weights_dir)
        form.addRow("Offline weights folder", self.offline_dir)
        models = QGroupBox("Models")
        mlay = QVBoxLayout(models)
        self.rows: list[WeightsRow] = []
        try:
            from roto_studio.models.weights import registry

            for s in registry.all_specs():
                row = WeightsRow(s.name, f"{s.description} (licence: {s.licence or 'unknown'})")
                row.changed.connect(self._update_fallback)
                self.rows.append(row)
                mlay.addWidget(row)
        except Exception as exc:  # noqa: BLE001
            mlay.addWidget(QLabel(f"model list unavailable: {exc}"))
        self.fallback = QLabel()
        self.fallback.setObjectName("cpu_fallback_note")
        self.fallback.setWordWrap(True)
        mlay.addWidget(self.fallback)
        self._update_fallback()
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.addLayout(form)
        inner.addWidget(models)
        scroll = QScrollArea()  # the model rows make it taller than a laptop screen
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(box)
        self.resize(max(640, body.sizeHint().width() + 40), min(680, body.sizeHint().height() + 80))

    @staticmethod
    def _set_combo(combo: QComboBox, value) -> None:
        i = combo.findData(value)
        combo.setCurrentIndex(max(i, 0))

    def _update_fallback(self) -> None:
        sam_ok = any(r.name.startswith("sam2") and r.present for r in self.rows)
        if sam_ok:
            self.fallback.setText("SAM 2 weights found: clicks and propagation use SAM 2 (backend auto).")
        else:
            self.fallback.setText("No SAM 2 weights: the CPU fallback (classical segmentation and optical-flow "
                                  "propagation) is used. Download a SAM 2 model above for better masks.")

    def _update_server(self) -> None:
        remote = self.server.currentData() == "remote"
        self.server_url.setEnabled(remote)
        self.server_token.setEnabled(remote)

    def values(self) -> dict:
        return {"device": self.device.currentData(), "precision": self.precision.currentData(),
                "backend": self.backend.currentData(), "offline_dir": self.offline_dir.text().strip(),
                "server": self.server.currentData(), "server_url": self.server_url.text().strip(),
                "server_token": self.server_token.text().strip(),
                "frame_cache_mb": self.frame_cache.value(), "autosave_s": self.autosave.value(),
                "undo_memory_mb": self.undo_memory.value()}

    def closeEvent(self, event):
        for r in self.rows:
            if r.job is not None:
                r.job.cancel()
        super().closeEvent(event)


def existing_dir(path: str) -> str:
    p = Path(path).expanduser()
    return str(p) if p.is_dir() else ""


class ShotSettingsDialog(QDialog):
    """The shot's own settings: its frame rate (saved in the project; used by playback and ProRes).

    The combo offers the common rates and takes any typed rate (24, 23.976, 24000/1001); its
    first entry goes back to the files' own rate (or 24, assumed, when they give none)."""

    RATES = ("23.976", "24", "25", "29.97", "30", "48", "50", "59.94", "60")

    def __init__(self, media, saved_fps: str | None, parent=None):
        super().__init__(parent)
        from roto_studio.core.framerate import fps_decimal

        self.setWindowTitle("Shot settings")
        self.setObjectName("shot_settings_dialog")
        files = fps_decimal(media.files_fps)
        self.fps = QComboBox()
        self.fps.setEditable(True)
        self.fps.setObjectName("shot_fps")
        self.fps.addItem(f"From the files ({files})", "")
        for rate in self.RATES:
            self.fps.addItem(rate, rate)
        if saved_fps:
            from roto_studio.core.framerate import parse_fps

            shown = fps_decimal(parse_fps(saved_fps))
            i = self.fps.findData(shown)
            if i < 0:
                self.fps.addItem(shown, shown)
                i = self.fps.count() - 1
            self.fps.setCurrentIndex(i)
        self.source = QLabel(f"Now: {fps_decimal(media.fps)} fps, {media.fps_note}.")
        self.source.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Frame rate", self.fps)
        form.addRow("", self.source)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(box)

    def value(self) -> str:
        """'' for the files' rate, else the rate as typed or picked."""
        i = self.fps.currentIndex()
        text = self.fps.currentText().strip()
        if i >= 0 and self.fps.itemText(i) == text:
            return str(self.fps.itemData(i) or "")
        return text
