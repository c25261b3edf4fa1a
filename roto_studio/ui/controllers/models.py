"""Models for the window: the model manager dialog (one, non-modal, opened from Edit > Models…,
from every "weights missing" message and once on the first start when no weights are on disk);
the offline weights folder and "Auto may use non-commercial models" from the settings, applied at
start; downloads that go on while the manager is closed (stopped, resumable, when the window
closes); and the switch-over when a model arrives (settingsChanged: the model service restarts on
the new weights, the backend list is checked again). The first-start offer is remembered in the
settings (`models/offered`) and skipped when env ROTO_NO_MODEL_MANAGER is set."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject

from roto_studio.ui.model_links import link_target
from roto_studio.ui import settings_keys as keys

SKIP_ENV = "ROTO_NO_MODEL_MANAGER"


class ModelsController(QObject):
    def __init__(self, shot, window, parent=None):
        super().__init__(parent)
        self.shot, self.window = shot, window
        self.dialog = None
        folder = str(keys.OFFLINE_DIR.read(shot.settings) or "")
        if folder:
            from roto_studio.models.weights import store as weights

            weights.set_offline_folders([folder])
        from roto_studio.models.weights import licences
        from roto_studio.ui.model_manager import allow_noncommercial_setting

        if allow_noncommercial_setting(shot.settings):  # else the env (ROTO_ALLOW_NONCOMMERCIAL) decides
            licences.set_allow_noncommercial(True)

    def open_manager(self, name: str | None = None):
        """Show the model manager (the same one if it is open), at NAME's row when given."""
        from roto_studio.ui.model_manager import ModelManager

        if self.dialog is None:
            d = ModelManager(self.shot.settings, self.window, ask=lambda *a, **k: self.shot.ask(*a, **k))
            d.setModal(False)
            d.modelsChanged.connect(self._models_changed)
            d.finished.connect(self._closed)
            self.dialog = d
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.focus(name)
        return self.dialog

    def _closed(self, _result: int) -> None:
        """Closing the manager hides it while downloads run (reopening shows their progress)."""
        if self.dialog is not None and not self.dialog.busy():
            self.dialog.deleteLater()
            self.dialog = None

    def close(self) -> None:
        """The window closes: stop the downloads (what was fetched is kept for resuming)."""
        if self.dialog is not None:
            self.dialog.cancel_all()
            self.dialog.wait()

    def open_link(self, url: str) -> None:
        name = link_target(url)
        if name is not None:
            self.open_manager(name or None)

    def _models_changed(self) -> None:
        self.shot.settingsChanged.emit()  # the service restarts and finds the new weights
        self.shot.status("Models changed: the backends now use what is on disk.", 6000)

    def offer_first_start(self) -> bool:
        """Open the model manager once, on a first start with no weights on disk."""
        from roto_studio.ui.model_manager import any_weights

        s = self.shot.settings
        if os.environ.get(SKIP_ENV) or keys.MODELS_OFFERED.read(s):
            return False
        keys.MODELS_OFFERED.write(s, True)
        if any_weights():
            return False
        self.open_manager()
        self.shot.status("No models yet: clicks use the CPU fallback. The model manager downloads better ones.", 10000)
        return True
