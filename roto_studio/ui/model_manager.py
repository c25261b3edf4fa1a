"""The model manager: every downloadable model with what it is for, its size, its licence and
whether that licence allows commercial use, its state on disk, and Download (progress, cancel,
resume), Verify and "Use a folder of weights...". Downloads and checks run in workers.jobs.Job
threads through models.weights.store (the same code as `roto-studio models download / verify`); the
dialog only paints their results. `modelsChanged` is emitted when a model arrives, the offline
folder changes or Auto's licence choice changes, so the window switches backends over without a
restart."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout, QHBoxLayout,
                               QLabel, QMessageBox, QProgressBar, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from roto_studio.workers.jobs import Job
from roto_studio.ui import settings_keys as keys

# What each kind of model does in the window.
PURPOSE = {
    "sam2": "Clicks and boxes give masks; propagation through the shot",
    "cutie": "Propagation through long shots (clicks still use SAM 2)",
    "edgetam": "SAM 2-style tracking, several times faster on CPUs and small GPUs",
    "vitmatte": "Soft edges: Refine > Matte edges (hair, motion blur)",
    "sam3": "Find... by a phrase, and tracking a phrase through the shot",
    "grounding-dino": "Find... by a phrase: boxes that SAM 2 cuts out",
    "inpaint": "Clean plates: learned fills of what the object hid",
}
# The models a new artist needs first, in order.
RECOMMENDED = ("sam2.1-tiny", "cutie-base", "vitmatte-small")


def size_text(n: int | None) -> str:
    if not n:
        return "size unknown"
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def ordered_specs():
    from roto_studio.models.weights import registry

    specs = registry.all_specs()
    rank = {n: i for i, n in enumerate(RECOMMENDED)}
    return sorted(specs, key=lambda s: (rank.get(s.name, len(rank)), specs.index(s)))


class ModelRow(QWidget):
    """One model: what it is for, size, licence, state, Download / Cancel, Verify, progress."""

    changed = Signal(str)  # the model's files changed on disk (downloaded, set aside)

    def __init__(self, spec, ask, parent=None):
        super().__init__(parent)
        self.spec, self.name, self.ask = spec, spec.name, ask
        self.setObjectName(f"model_row_{spec.name}")
        tag = " <i>(recommended)</i>" if spec.name in RECOMMENDED else ""
        self.title = QLabel(f"<b>{spec.name}</b>{tag} — {PURPOSE.get(spec.kind, spec.kind)}")
        self.title.setWordWrap(True)
        self.details = QLabel()
        self.details.setObjectName(f"model_details_{spec.name}")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("color:#aaa;")
        self.state = QLabel()
        self.state.setObjectName(f"model_state_{spec.name}")
        self.state.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName(f"model_download_{spec.name}")
        self.download_button.clicked.connect(self._download_clicked)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setObjectName(f"model_verify_{spec.name}")
        self.verify_button.setToolTip("Re-check every file against its published checksum now.")
        self.verify_button.clicked.connect(self._verify_clicked)
        self.job: Job | None = None
        self.job_kind = ""
        self.note = ""  # what the last job said (failure, cancel, verify result)
        self.present = False
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 6, 4, 6)
        grid.addWidget(self.title, 0, 0, 1, 3)
        grid.addWidget(self.details, 1, 0, 1, 3)
        grid.addWidget(self.state, 2, 0)
        grid.addWidget(self.verify_button, 2, 1)
        grid.addWidget(self.download_button, 2, 2)
        grid.addWidget(self.bar, 3, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        self.refresh()

    # ------------------------------------------------------------------ state
    def _details(self) -> str:
        from roto_studio.models.weights import store as weights

        spec = self.spec
        if spec.commercial:
            use = "commercial use allowed"
        else:
            use = "NOT for commercial use; Auto does not pick it unless allowed"
            try:
                use += "; you accepted this licence" if weights.licence_accepted(spec.name) else ""
            except Exception:  # noqa: BLE001 - an unreadable record only hides the note
                pass
        return (f"{spec.description}. {size_text(spec.size or spec.known_size)}; "
                f"licence {spec.licence or 'unknown'} ({use}).")

    def refresh(self) -> None:
        """The state on disk without hashing (a pinned file not hashed yet: 'present')."""
        from roto_studio.models.weights import store as weights

        self.details.setText(self._details())
        try:
            st = weights.status(self.name, check=False)
            state, tip = st.state, ("" if st.state == "ok" else weights.message(st))
            where = f" in {st.folder}" if state != "missing" else ""
        except Exception as exc:  # noqa: BLE001 - a broken pins file must not break the dialog
            state, tip, where = "unknown", str(exc), ""
        self.present = state in ("ok", "unverified", "present")
        shown = {"ok": "installed, verified", "present": "installed, checked before first use",
                 "unverified": "installed (no published checksum)", "missing": "not installed"}.get(state, state)
        text = shown + where
        if self.note:
            text = f"{self.note} — {text}"
        self.state.setText(text)
        self.state.setToolTip(tip)
        busy = self.job is not None
        self.download_button.setText("Cancel" if busy and self.job_kind == "download"
                                     else ("Installed" if self.present else "Download"))
        self.download_button.setEnabled((busy and self.job_kind == "download") or (not busy and not self.present))
        self.verify_button.setEnabled(not busy and state != "missing")

    # ------------------------------------------------------------------ download
    def _download_clicked(self) -> None:
        if self.job is not None:
            self.job.cancel()
            return
        self.download()

    def download(self) -> bool:
        """Start the download (after the licence is accepted for non-commercial models)."""
        if self.job is not None or self.present:
            return False
        from roto_studio.core.errors import RotoError
        from roto_studio.models.weights import store as weights

        if not weights.licence_accepted(self.name):  # models.weights.licences: non-commercial ones need it
            where = f" ({self.spec.licence_url})" if self.spec.licence_url else ""
            if not self.ask(f"{self.name} is under {self.spec.licence or 'a licence'}{where}, which does not "
                            "allow commercial use. Accept this licence and download it?", "Accept the licence"):
                self.note = "licence not accepted, nothing downloaded"
                self.refresh()
                return False
            try:
                weights.accept_licence(self.name)
            except RotoError as exc:
                self.note = str(exc)
                self.refresh()
                return False

        name = self.name

        def run(progress, cancelled):
            from roto_studio.models.weights import fetch

            return fetch.download(name, progress=lambda d, t: progress(d, t), cancel=cancelled, resume=True)

        self._start(Job(run, f"downloading {name}", self), "download")
        self.bar.setRange(0, 0)
        return True

    def verify(self) -> bool:
        if self.job is not None:
            return False
        from roto_studio.models.weights import store as weights

        name = self.name

        def run(progress, cancelled):
            st = weights.verify(name)
            return st.state, weights.message(st)

        self._start(Job(run, f"checking {name}", self), "verify")
        self.bar.setRange(0, 0)
        return True

    def _verify_clicked(self) -> None:
        self.verify()

    def _start(self, job: Job, kind: str) -> None:
        self.job, self.job_kind, self.note = job, kind, ""
        job.progress.connect(self._progress)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        job.ended.connect(self._ended)
        self.bar.setVisible(True)
        job.start()
        self.refresh()

    def _progress(self, done: int, total: int, _info) -> None:
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(done, total) / total))
            self.bar.setFormat(f"{size_text(done)} of {size_text(total)}")

    def _succeeded(self, result) -> None:
        if self.job_kind == "verify":
            from roto_studio.ui.model_links import plain

            state, message = result
            self.note = "verified" if state == "ok" else plain(message)
        else:
            self.note = "downloaded and checked"

    def _failed(self, message: str) -> None:
        from roto_studio.ui.model_links import plain

        self.note = plain(message)

    def _cancelled(self) -> None:
        self.note = "download cancelled; Download resumes it" if self.job_kind == "download" else "check cancelled"

    def _ended(self) -> None:
        self.job = None
        self.bar.setVisible(False)
        self.refresh()
        self.changed.emit(self.name)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()


class ModelManager(QDialog):
    """The models, one row each, recommended first; "Use a folder of weights..."; the folders."""

    modelsChanged = Signal()

    def __init__(self, settings, parent=None, ask=None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("model_manager")
        self.settings = settings
        # ask(question, title) -> bool; tests replace it to answer without a modal box
        self.ask = ask or self._ask_box
        intro = QLabel("Roto Studio works without any model: clicks and propagation then use the CPU "
                       "fallback (classical segmentation and optical flow). The models below give better "
                       "masks; start with the recommended ones. Downloads are checked against their "
                       "published checksums and switch the backends over at once.")
        intro.setWordWrap(True)
        self.rows: dict[str, ModelRow] = {}
        holder = QWidget()
        rows = QVBoxLayout(holder)
        rows.setContentsMargins(0, 0, 0, 0)
        try:
            for spec in ordered_specs():
                row = ModelRow(spec, lambda *a, **k: self.ask(*a, **k))
                row.changed.connect(self._row_changed)
                self.rows[spec.name] = row
                rows.addWidget(row)
        except Exception as exc:  # noqa: BLE001 - e.g. a broken ROTO_WEIGHTS_PINS file
            rows.addWidget(QLabel(f"The model list cannot be read: {exc}"))
        rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("model_rows")
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        self.folders = QLabel()
        self.folders.setObjectName("model_folders")
        self.folders.setWordWrap(True)
        self.folder_button = QPushButton("Use a folder of weights…")
        self.folder_button.setObjectName("use_weights_folder")
        self.folder_button.setToolTip("A folder holding weights copied by hand (one sub-folder per model).")
        self.folder_button.clicked.connect(self._choose_folder)
        self.allow_noncommercial = QCheckBox("Auto may use models whose licence forbids commercial use")
        self.allow_noncommercial.setObjectName("allow_noncommercial")
        self.allow_noncommercial.setChecked(allow_noncommercial_setting(settings))
        self.allow_noncommercial.toggled.connect(self._allow_toggled)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addWidget(self.folder_button)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addLayout(folder_row)
        layout.addWidget(self.allow_noncommercial)
        layout.addWidget(box)
        self._show_folders()
        self.resize(760, 620)

    def _ask_box(self, question: str, title: str = "Roto Studio") -> bool:
        return QMessageBox.question(self, title, question) == QMessageBox.StandardButton.Yes

    def focus(self, name: str | None) -> None:
        """Scroll to NAME's row (the model a message asked for)."""
        row = self.rows.get(name or "")
        if row is None:
            return
        scroll = self.findChild(QScrollArea, "model_rows")
        assert scroll is not None, "__init__ makes the scrolled rows"
        scroll.ensureWidgetVisible(row)
        row.title.setStyleSheet("background:#2a4a6a;")

    def _show_folders(self) -> None:
        from roto_studio.models.weights import store as weights

        offline = ", ".join(str(p) for p in weights.offline_folders()) or "none"
        self.folders.setText(f"Weights folder: {weights.weights_dir()}\nOffline folders: {offline}")

    def use_folder(self, folder: str) -> None:
        """Look for weights in `folder` too (saved in the settings as the offline weights folder)."""
        from roto_studio.models.weights import store as weights

        keys.OFFLINE_DIR.write(self.settings, folder)
        weights.set_offline_folders([folder] if folder else [])
        self._show_folders()
        for row in self.rows.values():
            row.refresh()
        self.modelsChanged.emit()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of weights",
                                                  str(keys.OFFLINE_DIR.read(self.settings) or ""))
        if folder:
            self.use_folder(folder)

    def _allow_toggled(self, on: bool) -> None:
        from roto_studio.models.weights import licences

        keys.ALLOW_NONCOMMERCIAL.write(self.settings, bool(on))  # licences.set_allow_noncommercial
        licences.set_allow_noncommercial(bool(on))
        self.modelsChanged.emit()

    def _row_changed(self, _name: str) -> None:
        self.modelsChanged.emit()

    def busy(self) -> bool:
        return any(r.job is not None for r in self.rows.values())

    def cancel_all(self) -> None:
        for row in self.rows.values():
            row.cancel()

    def wait(self, timeout: float = 10.0) -> None:
        for row in self.rows.values():
            if row.job is not None:
                row.job.wait(timeout)


def allow_noncommercial_setting(settings) -> bool:
    return keys.ALLOW_NONCOMMERCIAL.read(settings)


def any_weights() -> bool:
    """Whether any model is on disk (no hashing): decides the first-start offer."""
    from roto_studio.models.weights import registry
    from roto_studio.models.weights import store as weights

    try:
        return any(weights.status(s.name, check=False).state in ("ok", "unverified", "present")
                   for s in registry.all_specs())
    except Exception:  # noqa: BLE001
        return True  # cannot tell: do not pester

