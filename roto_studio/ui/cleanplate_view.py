"""The clean plate in the window, as on the CLI (`roto-studio cleanplate`): a dialog with its
settings (fill backend, inpainting model, prompt, seed, alignment: saved with the project, the
same ones the CLI reads) and the output folder; and the clean-plate view (Shift+V), which shows
the current object's rendered clean plate in the canvas instead of the plate (no masks drawn),
offering to render it first when there is none yet."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QPushButton, QSpinBox, QVBoxLayout)
from roto_studio.ui import settings_keys as keys
from roto_studio.workers.jobs import JobKind

BACKENDS = (("auto", "Auto (diffusers when installed, else OpenCV)"), ("diffusers", "Diffusers inpainting model"),
            ("opencv", "OpenCV (fast, no weights)"))
ALIGNS = (("auto", "Auto"), ("homography", "Homography (planar motion)"), ("flow", "Optical flow (parallax)"))


class CleanPlateDialog(QDialog):
    """Clean-plate settings and where to write it."""

    def __init__(self, object_name: str, settings: dict, folder: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Clean plate of {object_name}")
        self.setObjectName("cleanplate_dialog")
        self.backend = QComboBox()
        self.backend.setObjectName("cleanplate_backend")
        for key, text in BACKENDS:
            self.backend.addItem(text, key)
        self.model = QLineEdit(str(settings.get("model") or ""))
        self.model.setObjectName("cleanplate_model")
        self.model.setPlaceholderText("sd15-inpainting, sdxl-inpainting or a diffusers folder (diffusers only)")
        self.prompt = QLineEdit(str(settings.get("prompt") or ""))
        self.prompt.setObjectName("cleanplate_prompt")
        self.prompt.setPlaceholderText("what the fill should show (default: clean background)")
        self.seed = QSpinBox()
        self.seed.setObjectName("cleanplate_seed")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(int(settings.get("seed") or 0))
        self.seed.setToolTip("Noise seed of the learned fill: the same seed renders the same plate")
        self.align = QComboBox()
        self.align.setObjectName("cleanplate_align")
        for key, text in ALIGNS:
            self.align.addItem(text, key)
        for combo, value in ((self.backend, settings.get("backend", "auto")), (self.align, settings.get("align", "auto"))):
            combo.setCurrentIndex(max(0, combo.findData(value)))
        self.folder = QLineEdit(folder)
        self.folder.setObjectName("cleanplate_folder")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.show_after = QCheckBox("Show it in the canvas when done (clean-plate view, Shift+V)")
        self.show_after.setObjectName("cleanplate_show")
        self.show_after.setChecked(True)
        self.backend.currentIndexChanged.connect(self._update)
        form = QFormLayout()
        form.addRow("Fill", self.backend)
        form.addRow("Model", self.model)
        form.addRow("Prompt", self.prompt)
        form.addRow("Seed", self.seed)
        form.addRow("Alignment", self.align)
        form.addRow("Folder", row)
        form.addRow("", self.show_after)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Render")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(box)
        self._update()

    def _update(self) -> None:
        learned = self.backend.currentData() != "opencv"
        for w in (self.model, self.prompt, self.seed):
            w.setEnabled(learned)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder for the clean plate", self.folder.text())
        if d:
            self.folder.setText(d)

    def values(self) -> dict:
        return {"backend": self.backend.currentData(), "model": self.model.text().strip(),
                "prompt": self.prompt.text().strip(), "seed": self.seed.value(), "align": self.align.currentData()}


def read_plate_file(path: Path):
    """A written clean-plate frame as display RGB uint8 (EXR and 16-bit PNG converted), or None."""
    import numpy as np

    from roto_studio.core.media.display import to_display_uint8

    from roto_studio.core.media.images import read_image

    if not path.is_file():
        return None
    image = np.asarray(read_image(path)[0])
    return to_display_uint8(image if image.ndim == 3 else np.dstack([image] * 3))


class CleanPlateController(QObject):
    """Settings dialog, rendering through the jobs controller, and the view toggle."""

    def __init__(self, shot, jobs, playback, parent_widget, parent=None):
        super().__init__(parent)
        self.shot, self.jobs, self.playback = shot, jobs, playback
        self.parent_widget = parent_widget
        self.action = None
        self.viewing: str | None = None  # obj_id whose clean plate the canvas shows
        self._show_when_done: str | None = None
        shot.jobEnded.connect(self._job_ended)
        shot.closing.connect(lambda: self.set_view(False))
        shot.objectChanged.connect(lambda _o: self.viewing and self.set_view(True, quiet=True))

    def bind(self, action) -> None:
        """The view's checkable action (made by ui.actions after this controller)."""
        self.action = action
        action.setCheckable(True)
        action.setIconText("Clean plate")
        action.setToolTip("Show the current object's rendered clean plate in the canvas (Shift+V)")
        action.toggled.connect(self._toggled)

    # ------------------------------------------------------------------ rendering
    def default_folder(self) -> str:
        p = self.shot.project
        return str(keys.CLEANPLATE_FOLDER.read(self.shot.settings, str(Path(p.folder) / "cache" / "cleanplate")))

    def dialog(self) -> None:
        """Refine > Clean plate…: the settings, then the job; shown in the canvas when done."""
        shot = self.shot
        if shot.project is None or shot.current_obj is None:
            return
        from roto_studio.ops.cleanplate import settings_for

        obj = shot.project.object(shot.current_obj)
        d = CleanPlateDialog(obj.name, settings_for(shot.project), self.default_folder(), self.parent_widget)
        if not d.exec():
            return
        self.render(d.folder.text().strip() or self.default_folder(), d.values(), d.show_after.isChecked())

    def render(self, folder: str, values: dict | None = None, show: bool = True):
        from roto_studio.ops.cleanplate import settings_for

        shot = self.shot
        if values:
            settings_for(shot.project, **values)  # saved with the project, as the CLI does
        keys.CLEANPLATE_FOLDER.write(shot.settings, folder)
        job = self.jobs.clean_plate_to(folder)
        if job is not None:
            self._show_when_done = shot.current_obj if show else None
            job.run_info["obj_id"] = shot.current_obj
        return job

    def _job_ended(self, kind: str, state: str) -> None:
        job = self.shot.job
        if kind != JobKind.CLEAN_PLATE or job is None or self.shot.project is None:
            return
        info = getattr(job, "run_info", {}) or {}
        oid = info.get("obj_id", self.shot.current_obj)
        if state in ("succeeded", "cancelled") and job.result:
            plates = self.shot.project.settings.setdefault("clean_plates", {})
            plates[oid] = {"folder": info.get("out_dir", ""),
                           "files": {str(self._frame_of(Path(f))): Path(f).name for f in job.result}}
        if state == "succeeded" and self._show_when_done == oid and oid == self.shot.current_obj:
            self.set_view(True)
        self._show_when_done = None

    @staticmethod
    def _frame_of(path: Path) -> int:
        import re

        m = re.findall(r"-?\d+", path.stem)
        return int(m[-1]) if m else 0

    # ------------------------------------------------------------------ the view
    def plate_path(self, obj_id: str, frame: int) -> Path | None:
        info = (self.shot.project.settings.get("clean_plates") or {}).get(obj_id)
        if not info:
            return None
        name = (info.get("files") or {}).get(str(int(frame)))
        return Path(info["folder"]) / name if name else None

    def has_plate(self, obj_id: str | None) -> bool:
        info = (self.shot.project.settings.get("clean_plates") or {}).get(obj_id) if obj_id else None
        return bool(info and info.get("files"))

    def toggle_view(self) -> None:
        """Shift+V (the action is checkable: its toggled signal does the work)."""

    def _toggled(self, on: bool) -> None:
        if on != bool(self.viewing):
            self.set_view(on)

    def set_view(self, on: bool, quiet: bool = False) -> bool:
        shot = self.shot
        oid = shot.current_obj
        if on and (shot.project is None or oid is None):
            on = False
        if on and not self.has_plate(oid):
            name = shot.project.object(oid).name
            if not quiet and shot.ask(f"No clean plate of {name} yet. Render it now (settings as saved) "
                                      f"into {self.default_folder()}?", "Clean plate"):
                self.render(self.default_folder())
            on = False
        self.viewing = oid if on else None
        shot.view_source = (lambda f, oid=oid: read_plate_file(p) if (p := self.plate_path(oid, f)) else None) \
            if on else None
        if self.action is not None:
            self.action.blockSignals(True)
            self.action.setChecked(on)
            self.action.blockSignals(False)
        if on:
            shot.status(f"Clean-plate view of {shot.project.object(oid).name} (Shift+V shows the plate).", 6000)
        self.playback.refresh_view()
        return on
