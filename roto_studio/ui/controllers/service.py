"""The model service for the open shot: starting and stopping it (workers.service.ModelService,
one model thread), the shot's backend choice (saved with the project, undoable) and what it
resolved to, restarting after a settings or backend change, and the out-of-memory retry."""

from __future__ import annotations

from PySide6.QtCore import QObject

from roto_studio.ui import commands as cmd
from roto_studio.workers.jobs import Job
from roto_studio.workers.model_work import engine_factory

BACKENDS = [("auto", "Auto"), ("sam2", "SAM 2"), ("cutie", "Cutie"), ("classical", "CPU fallback")]


class ServiceController(QObject):
    def __init__(self, shot, backend_combo, backend_label, parent=None):
        super().__init__(parent)
        self.shot, self.combo, self.label = shot, backend_combo, backend_label
        self._restart_after_job = False
        self._plan_serial = 0
        self._plan_job = None
        for key, text in BACKENDS:
            backend_combo.addItem(text, key)
        backend_combo.activated.connect(lambda _i: self.set_backend(backend_combo.currentData()))
        shot.opened.connect(self.start)
        shot.closing.connect(self.stop)
        shot.jobEnded.connect(self._job_ended)
        shot.settingsChanged.connect(self._settings_changed)

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        from roto_studio.workers.service import ModelService

        shot = self.shot
        ms = shot.model_settings()
        backend = self.shot_backend()
        device = None if ms["device"] == "auto" else ms["device"]
        service = ModelService(engine_factory=engine_factory(shot.project, backend, device), parent=self)
        service.failed.connect(self._on_failed)
        service.ready.connect(lambda text: self.label.setText(f"Backend: {text}"))
        shot.service = service
        shot.serviceChanged.emit(service)
        self._describe_backend(backend, device)

    def stop(self) -> None:
        if self.shot.service is not None:
            self.shot.service.stop()
            self.shot.service = None
            self.shot.serviceChanged.emit(None)

    def restart(self) -> None:
        if self.shot.project is None:
            return
        if self.shot.job_running():
            self._restart_after_job = True
            return
        self._restart_after_job = False
        self.stop()
        self.start()

    def _job_ended(self, _kind: str, _state: str) -> None:
        if self._restart_after_job:
            self.restart()

    def _settings_changed(self) -> None:
        if self.shot.project is not None and not self.shot.job_running():
            self.stop()
            self.start()

    def _on_failed(self, rid: int, message: str, retry) -> None:
        job = self.shot.job
        if job is not None and getattr(job, "request_id", None) == rid:
            return  # the jobs controller reports its own failures
        if retry and "cpu" in retry and self.shot.ask(f"{message}\n\nTry again on the CPU?", "Out of memory"):
            self.shot.service.retry(rid, "cpu")
            return
        self.shot.say(message)

    # ------------------------------------------------------------------ backend choice
    def shot_backend(self) -> str:
        """This shot's backend (project.settings['backend']), else the default from Settings."""
        project = self.shot.project
        if project is not None and project.settings.get("backend") in dict(BACKENDS):
            return project.settings["backend"]
        return self.shot.model_settings()["backend"]

    def _describe_backend(self, backend: str, device) -> None:
        """Say which backend this shot uses and why (for auto: what it picked), without loading
        any model: the plan is worked out in a thread and shown when ready."""
        i = self.combo.findData(backend)
        self.combo.setCurrentIndex(max(i, 0))
        self.label.setText(f"Backend: {backend}…")
        self._plan_serial += 1
        serial = self._plan_serial

        def run(progress, cancelled):
            from roto_studio.models.backends import choose

            return choose(backend, device=device).describe()

        def done(text, error=False):
            if serial != self._plan_serial:
                return  # the backend was changed again meanwhile
            picked = "auto picked " if backend == "auto" and not error else ""
            if error:  # name the choice that cannot be used, then why
                text = f"{dict(BACKENDS).get(backend, backend)} cannot be used: {text}"
            self.label.setText(f"Backend: {picked}{text}")
            self.shot.status(f"Backend: {picked}{text}", 8000)
            if error:
                self.shot.say(text)

        job = Job(run, "backend choice", parent=self)
        job.succeeded.connect(done)
        job.failed.connect(lambda msg: done(msg, error=True))
        self._plan_job = job
        job.start()

    def set_backend(self, backend: str) -> None:
        """Per-shot backend choice (undoable, saved in the project); restarts the model service."""
        shot = self.shot
        if shot.project is None or backend not in dict(BACKENDS):
            return
        if backend == self.shot_backend() and "backend" in shot.project.settings:
            return
        if shot.job_running():
            shot.say("a job is running; change the backend when it has finished (or press Esc).")
            self._describe_backend(self.shot_backend(), None)
            return
        label = dict(BACKENDS)[backend]
        shot.undo.push(cmd.ProjectSetting(shot, "backend", backend, f"Backend {label}",
                                          after=lambda _v: self.restart()))
