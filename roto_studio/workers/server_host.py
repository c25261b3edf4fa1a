"""The window's model server: a local child process (default) or a remote server, as a QObject.

- local: client.local.LocalServer started in a thread (random free port on 127.0.0.1, a fresh
  random token, stopped with the window). A thread waits on the child: when it dies (killed,
  crashed, out of memory) `died` is emitted and it is started again.
- remote: a URL and token from the settings; nothing to start. Its loss shows up as failed
  requests (client.http.ServerUnavailable); reconnect() then asks for its status every few
  seconds in a thread and emits `ready` once it answers again (`failed` if it refuses the token).
client() is for the model thread: it waits until the server is up. No widgets, no torch.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from roto_studio.client.http import ServerClient, ServerUnavailable
from roto_studio.client.local import LocalServer
from roto_studio.workers.service import emit

log = logging.getLogger(__name__)


class ServerHost(QObject):
    ready = Signal(str)  # URL, once the server listens (after each start)
    died = Signal(str)  # one line: the local server stopped by itself; it is being restarted
    failed = Signal(str)  # one line: it could not be started
    _exited = Signal(object)  # from the waiting thread: that child process ended

    def __init__(self, mode: str = "local", url: str = "", token: str = "", media_roots=(),
                 device: str | None = None, env: dict | None = None, parent=None):
        super().__init__(parent)
        self.mode = mode
        self.url, self.token = url, token
        self.local = LocalServer(media_roots, device=device, env=env) if mode == "local" else None
        self._up = threading.Event()
        self._error: str | None = None
        self._closing = False
        self._starting = False
        self.restarts = 0
        self._polling = False
        self._stop_polling = threading.Event()
        self._exited.connect(self._check)
        if mode == "remote":
            self._up.set()

    @property
    def pid(self) -> int | None:
        return self.local.pid if self.local is not None else None

    def start(self) -> None:
        """Start the local child in a thread (returns at once); `ready` or `failed` follows."""
        local = self.local
        if local is None or self._starting or self._closing:
            return
        self._starting = True
        self._up.clear()
        self._error = None

        def run():
            try:
                url = local.start()
            except Exception as exc:  # noqa: BLE001 - said in one line
                self._error = str(exc)
                self._starting = False
                self._up.set()
                emit(self.failed, self._error)
                return
            proc, token = local.proc, local.token
            if proc is None or token is None:  # close() stopped it between listening and here
                self._starting = False
                self._up.set()
                return
            self.url, self.token = url, token
            self._starting = False
            self._up.set()
            emit(self.ready, url)
            proc.wait()
            emit(self._exited, proc)

        threading.Thread(target=run, name="roto-server-start", daemon=True).start()

    def reconnect(self, every: float = 2.0) -> None:
        """Remote: wait in a thread until the server answers again, then emit `ready`."""
        if self.mode != "remote" or self._polling or self._closing:
            return
        self._polling = True

        def run():
            from roto_studio.client.http import ServerError

            try:
                while not self._closing:
                    try:
                        client = ServerClient(self.url, self.token, timeout=10.0)
                        try:
                            client.status()
                        finally:
                            client.close()
                    except ServerUnavailable:
                        self._stop_polling.wait(every)
                        continue
                    except ServerError as exc:  # it answers, but refuses us: say so, stop asking
                        emit(self.failed, str(exc))
                        return
                    except Exception as exc:  # noqa: BLE001 - e.g. a URL that is not one
                        emit(self.failed, str(exc))
                        return
                    emit(self.ready, self.url)
                    return
            finally:
                self._polling = False

        threading.Thread(target=run, name="roto-server-reconnect", daemon=True).start()

    def alive(self) -> bool:
        return self.local is None or self.local.alive()

    def _check(self, proc) -> None:
        if self.local is None or self._starting or self._closing or proc is not self.local.proc:
            return
        code = self.local.proc.returncode if self.local.proc is not None else None
        self.restarts += 1
        why = f" (exit status {code})" if code is not None else ""
        log.warning("the local model server stopped%s; restarting it", why)
        self.start()
        emit(self.died, f"the model server stopped{why}; it is restarting — finished frames are kept.")

    def client(self, wait: float = 300.0) -> ServerClient:
        """A client for the server, waiting (in the calling worker thread) until it is up."""
        if not self._up.wait(wait):
            raise ServerUnavailable("the model server did not start in time; see Settings > Model server.")
        if self._error:
            raise ServerUnavailable(self._error)
        if not self.url or not self.token:
            raise ServerUnavailable("no model server is set; choose one in Settings > Model server.")
        return ServerClient(self.url, self.token)

    def stop_waiting(self) -> None:
        """The window is closing: a model thread waiting in client() gives up at once (one line)
        instead of holding the window's exit until the server is up."""
        self._closing = True
        if not self._up.is_set():
            self._error = "the window is closing; the model server is no longer needed."
            self._up.set()

    def close(self) -> None:
        self.stop_waiting()
        self._stop_polling.set()
        if self.local is not None:
            self.local.close()
