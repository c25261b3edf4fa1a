"""The window's shared state for the open shot, and the signals the controllers talk through.

Controllers never reach into each other: they read and change this object (the project, the
media, the current frame and object, the running job, the model service) and react to its
signals. It is also the host the undo commands (ui.undo) work on: they change the project
and call project_changed / select_object / request_mask, which only emit signals here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QUndoStack
from roto_studio.ui import settings_keys as keys

if TYPE_CHECKING:
    from roto_studio.core.media import Media
    from roto_studio.core.project import Project
    from roto_studio.core.undo_payloads import UndoPayloads


class Shot(QObject):
    opened = Signal()  # a project and its media are set; controllers set themselves up
    closing = Signal()  # the project is about to close: stop playback, jobs, the service
    aboutToSave = Signal()  # store view state (frame, range) into project.settings now
    saved = Signal()  # the project was saved (its folder and name may have changed)
    frameChanged = Signal(int)  # the current frame changed (before its pixels are shown)
    objectChanged = Signal(object)  # the current object id changed (str or None)
    changed = Signal(object, object)  # project edited: obj_id or None, frame or None
    masksWritten = Signal(int, object)  # a running job stored masks: frame, [obj_id]
    serviceChanged = Signal(object)  # a new ModelService (or None): connect to its signals
    settingsChanged = Signal()  # the model / project settings were changed by the user
    jobStarted = Signal(str)  # kind
    jobEnded = Signal(str, str)  # kind ('propagate' | 'export' | 'matte' | 'clean plate'), state
    maskRequested = Signal(str, int, object, str)  # obj_id, frame, MaskEdit, 'after' | 'before'
    requestForgotten = Signal(object)  # MaskEdit whose pending answer no longer counts
    messageRequested = Signal(str, bool)  # text, is an error
    statusRequested = Signal(str, int)  # text, milliseconds

    def __init__(self, settings: QSettings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.undo = QUndoStack(self)
        self.undo_payloads: UndoPayloads | None = None  # of the open project
        self.opened.connect(self._open_undo_payloads)
        self.closing.connect(self._close_undo_payloads)
        self.project: Project | None = None
        self.media: Media | None = None
        self.frame: int | None = None
        self.current_obj: str | None = None
        self.service = None  # workers.service.ModelService: the model thread
        self.server = None  # workers.server_host.ServerHost: the model server (None: models in-process)
        self.job = None  # the running (or last) Job / ServiceTask
        self.job_kind = ""
        # frame -> display RGB shown instead of the plate (the clean-plate view), or None
        self.view_source = None
        # ask(question, title) -> bool; the window answers (tests replace the window's ask)
        self.ask = lambda question, title="Roto Studio": False

    # ------------------------------------------------------------------ queries
    def job_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    def undo_memory_bytes(self) -> int:
        """The undo history's memory limit (setting undo/memory_mb, default 256 MB)."""
        try:
            return max(0, int(float(keys.UNDO_MEMORY_MB.read(self.settings)) * 2**20))
        except (TypeError, ValueError):
            return 256 * 2**20

    def frame_cache_bytes(self) -> int:
        return int(keys.FRAME_CACHE_MB.read(self.settings)) * 2**20

    def model_settings(self) -> dict:
        """The model and project settings (QSettings), with their defaults."""
        s = self.settings
        return {"device": keys.MODEL_DEVICE.read(s), "precision": keys.MODEL_PRECISION.read(s),
                "backend": keys.MODEL_BACKEND.read(s), "offline_dir": keys.OFFLINE_DIR.read(s),
                "server": keys.MODEL_SERVER.read(s), "server_url": keys.SERVER_URL.read(s),
                "server_token": self.server_token(keys.SERVER_URL.read(s)),
                "frame_cache_mb": int(keys.FRAME_CACHE_MB.read(s)),
                "autosave_s": int(keys.AUTOSAVE_S.read(s)),
                "undo_memory_mb": self.undo_memory_bytes() // 2**20}

    def token_file(self):
        """The file that holds remote server tokens when there is no OS keyring: beside the
        settings file (0600), else the user config folder."""
        from pathlib import Path

        from roto_studio.client import token_store

        name = self.settings.fileName()
        if name and os.path.isabs(name) and not name.startswith("\\"):
            return Path(name).with_name("server-tokens.json")
        return token_store.default_file()

    def server_token(self, url: str) -> str:
        """The remote server's token from the keyring / token file. A token an older version
        saved in plain text in the settings is moved there first."""
        from roto_studio.client import token_store

        legacy = keys.OLD_SERVER_TOKEN.read(self.settings)
        if legacy:
            try:
                token_store.save(url, str(legacy), self.token_file())
                keys.OLD_SERVER_TOKEN.clear(self.settings)
            except OSError:
                return str(legacy)
        return token_store.load(url, self.token_file())

    def store_server_token(self, url: str, token: str) -> str:
        """Keep the remote server's token out of the settings file; returns where it went."""
        from roto_studio.client import token_store

        keys.OLD_SERVER_TOKEN.clear(self.settings)
        return token_store.save(url, token, self.token_file())

    # ------------------------------------------------------------------ telling the user
    def say(self, text: str, error: bool = True) -> None:
        """A plain message in the window's message bar (never a traceback)."""
        self.messageRequested.emit(text, error)

    def status(self, text: str, ms: int = 0) -> None:
        self.statusRequested.emit(text, ms)

    # ------------------------------------------------------------------ changing the current things
    def set_frame_value(self, frame: int | None) -> None:
        self.frame = frame
        if frame is not None:
            self.frameChanged.emit(frame)

    def select_object(self, obj_id: str | None) -> None:
        self.current_obj = obj_id
        self.objectChanged.emit(obj_id)

    # ------------------------------------------------------------------ the undo commands' host
    def _open_undo_payloads(self) -> None:
        from roto_studio.core.undo_payloads import UndoPayloads

        self._close_undo_payloads()
        assert self.project is not None, "opened is emitted once the project is set"
        self.undo_payloads = UndoPayloads(self.project.folder, self.undo_memory_bytes(), self._undo_dropped)

    def _close_undo_payloads(self) -> None:
        if self.undo_payloads is not None:
            self.undo.clear()  # its steps' payloads are about to go
            self.undo_payloads.close()
            self.undo_payloads = None

    def _undo_dropped(self, message: str) -> None:
        """Older undo steps could not be kept on disk: cut the history (after the current step
        is on the stack) and say so."""
        from PySide6.QtCore import QTimer

        def cut():
            clean = self.undo.isClean()
            self.undo.clear()
            if clean:
                self.undo.setClean()
            self.say(message + " Undo starts again from here.")

        QTimer.singleShot(0, cut)

    def project_changed(self, obj_id: str | None = None, frame: int | None = None) -> None:
        """Called by undo commands and jobs after they change the project."""
        self.changed.emit(obj_id, frame)

    def request_mask(self, obj_id: str, frame: int, command, which: str = "after") -> None:
        self.maskRequested.emit(obj_id, int(frame), command, which)

    def forget_request(self, command) -> None:
        self.requestForgotten.emit(command)
