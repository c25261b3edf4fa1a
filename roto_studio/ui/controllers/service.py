"""The model service for the open shot: starting and stopping it (workers.service.ModelService,
one model thread), the shot's backend choice (saved with the project, undoable) and what it
resolved to, restarting after a settings or backend change, and the out-of-memory retry.

Where the models run (Settings > model server): a local server child process (default; the
window then never imports torch), a remote server (URL + token), or this process. When the local
server dies it is restarted, the window says so in one line and the model service reconnects;
the jobs controller offers to resume the interrupted propagation.

The backend list marks the choices that cannot run here (weights missing, package not installed)
as unavailable, with the reason in their tooltip and a link to the model manager under it; the
label always names the backend actually running (or why the chosen one cannot run)."""

from __future__ import annotations

import html

from PySide6.QtCore import QObject

from roto_studio.ui import undo as cmd
from roto_studio.ui.model_links import rich
from roto_studio.workers.jobs import Job
from roto_studio.workers.model_work import engine_factory, server_engine_factory

BACKENDS = [("auto", "Auto"), ("sam2", "SAM 2"), ("cutie", "Cutie"), ("edgetam", "EdgeTAM"),
            ("classical", "CPU fallback")]


class ServiceController(QObject):
    def __init__(self, shot, backend_combo, backend_label, parent=None):
        super().__init__(parent)
        self.shot, self.combo, self.label = shot, backend_combo, backend_label
        self._restart_after_job = False
        self._plan_serial = 0
        self._plan_job = None
        self._start_rid = None
        self._running = "no shot yet"  # what the label says runs (rich text)
        self._unavailable: dict[str, str] = {}  # backend -> why it cannot run here
        self._check_serial = 0
        for key, text in BACKENDS:
            backend_combo.addItem(text, key)
        backend_combo.activated.connect(lambda _i: self.set_backend(backend_combo.currentData()))
        shot.opened.connect(self.start)
        shot.closing.connect(self.stop)
        shot.jobEnded.connect(self._job_ended)
        shot.settingsChanged.connect(self._settings_changed)
        self._host_key = None

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        from roto_studio.workers.service import ModelService

        shot = self.shot
        ms = shot.model_settings()
        backend = self.shot_backend()
        device = None if ms["device"] == "auto" else ms["device"]
        host = self._server(ms, device)
        if host is None:
            factory = engine_factory(shot.project, backend, device)
        else:
            factory = server_engine_factory(host, shot.project, backend)
        service = ModelService(engine_factory=factory, parent=self)
        service.failed.connect(self._on_failed)
        service.ready.connect(lambda text: self._set_running(rich(text)))
        shot.service = service
        shot.serviceChanged.emit(service)
        self.check_backends(device, remote=host is not None and host.mode == "remote")
        if host is None:
            self._describe_backend(backend, device)
        else:  # the server picks and says what it picked (ready) once the engine is built
            i = self.combo.findData(backend)
            self.combo.setCurrentIndex(max(i, 0))
            where = "local model server" if host.mode == "local" else f"model server {host.url}"
            self._set_running(f"{backend} on the {where}, starting…")
            self._start_rid = service.call(lambda engine: None)

    def _server(self, ms: dict, device):
        """The ServerHost for the settings (started once, kept across shots), or None (in-process)."""
        from roto_studio.workers.server_host import ServerHost

        mode = ms.get("server", "local")
        if mode not in ("local", "remote"):
            self._close_server()
            return None
        key = (mode, ms.get("server_url", ""), ms.get("server_token", ""), device, str(self._weights_env()))
        if self.shot.server is not None and self._host_key == key:
            return self.shot.server
        self._close_server()
        if mode == "remote":
            host = ServerHost("remote", url=ms.get("server_url", ""), token=ms.get("server_token", ""), parent=self)
            host.ready.connect(self._remote_back)
            host.failed.connect(lambda text: self.shot.say(text))
        else:
            import os
            from pathlib import Path

            roots = {str(Path.home())}
            if self.shot.project is not None and self.shot.project.media_path:
                roots.add(os.path.dirname(os.path.abspath(str(self.shot.project.media_ref()))))
            host = ServerHost("local", media_roots=sorted(roots), device=device, env=self._weights_env(),
                              parent=self)
            host.died.connect(self._server_died)
            host.failed.connect(lambda text: self.shot.say(text))
            host.start()
        self.shot.server, self._host_key = host, key
        return host

    @staticmethod
    def _weights_env() -> dict:
        """The offline weights folders and the non-commercial choice for the local server child
        (it reads them from its env)."""
        import os

        from roto_studio.models.weights import store as weights

        from roto_studio.models.weights import licences

        folders = os.pathsep.join(str(p) for p in weights.offline_folders())
        env = {"ROTO_WEIGHTS_OFFLINE": folders} if folders else {}
        if licences.allow_noncommercial():
            env[licences.ALLOW_ENV] = "1"
        return env

    def _close_server(self) -> None:
        if self.shot.server is not None:
            self.shot.server.close()
            self.shot.server = None
            self._host_key = None

    def _remote_back(self, url: str) -> None:
        """The remote server answers again after it was lost: a fresh connection and session
        (restart), and the artist is told that Ctrl+R resumes."""
        self.restart()
        self.shot.say(f"The model server at {url} answers again: reconnected; Ctrl+R resumes an interrupted "
                      "propagation.", error=False)

    def _server_died(self, text: str) -> None:
        self.shot.say(text[0].upper() + text[1:])
        self.restart()  # a new engine on the restarted server (after the interrupted job ends)

    def close(self) -> None:
        """The window closes: the service, then the local server child (a model thread still
        waiting for that child to start is woken first, so the service's thread can end)."""
        if self.shot.server is not None:
            self.shot.server.stop_waiting()
        self.stop()
        self._close_server()

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
        host = self.shot.server
        if "resume" in tuple(retry or ()) and host is not None and host.mode == "remote":
            host.reconnect()  # the remote server is gone: watch for it to come back
        if rid is not None and rid == self._start_rid:  # the chosen backend could not be built
            choice = dict(BACKENDS).get(self.shot_backend(), self.shot_backend())
            self._set_running(f"{html.escape(choice)} cannot be used: {rich(message, always=True)}")
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
        self._set_running(f"{backend}…")
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
            self._set_running(picked + rich(text, always=error))
            self.shot.status(f"Backend: {picked}{text}", 8000)
            if error:
                self.shot.say(text)

        job = Job(run, "backend choice", parent=self)
        job.succeeded.connect(done)
        job.failed.connect(lambda msg: done(msg, error=True))
        self._plan_job = job
        job.start()

    # ------------------------------------------------------------------ availability and the label
    def _set_running(self, text: str) -> None:
        self._running = text
        self._show_label()

    def _show_label(self) -> None:
        text = f"Backend: {self._running}"
        if self._unavailable:
            names = ", ".join(dict(BACKENDS)[k] for k in self._unavailable)
            text += (f"<br><span style='color:#999'>Unavailable here: {html.escape(names)} (see their tooltips)."
                     "</span> <a href=\"models:\">Open the model manager</a>.")
        self.label.setText(text)

    def check_backends(self, device=None, remote: bool = False) -> None:
        """Work out in a thread which backends can run here, then mark the others unavailable
        (a remote server has its own weights: nothing is marked then)."""
        self._check_serial += 1
        serial = self._check_serial
        if remote:
            self._mark({})
            return

        def run(progress, cancelled):
            from roto_studio.core.errors import RotoError
            from roto_studio.models.backends import choose

            out = {}
            for key, _text in BACKENDS:
                if key in ("auto", "classical"):
                    continue  # auto falls back to the CPU, which always runs
                try:
                    choose(key, device=device)
                except RotoError as exc:
                    out[key] = str(exc)
            return out

        job = Job(run, "backend check", parent=self)
        job.succeeded.connect(lambda out: self._mark(out) if serial == self._check_serial else None)
        self._check_job = job
        job.start()

    def _mark(self, unavailable: dict) -> None:
        from roto_studio.ui.model_links import plain

        self._unavailable = dict(unavailable)
        model = self.combo.model()
        for i, (key, text) in enumerate(BACKENDS):
            item = model.item(i)
            why = unavailable.get(key)
            item.setEnabled(why is None or key == self.combo.currentData())
            item.setText(text if why is None else f"{text} (unavailable)")
            item.setToolTip("" if why is None else plain(why))
        self._show_label()

    def unavailable(self) -> dict:
        return dict(self._unavailable)

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
