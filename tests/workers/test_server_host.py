"""The window's model server host at close: a model thread still waiting for the local child to
come up (a slow start on a busy machine) is woken, so the service's thread ends and the window
can quit; before, the wait held it past the service's stop timeout and Qt aborted the exit
("QThread: Destroyed while thread is still running")."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("pytestqt")

from roto_studio.client.http import ServerUnavailable  # noqa: E402
from roto_studio.workers.model_work import server_engine_factory  # noqa: E402
from roto_studio.workers.server_host import ServerHost  # noqa: E402
from roto_studio.workers.service import ModelService  # noqa: E402


def test_a_thread_waiting_for_the_server_is_woken_at_close(qtbot):
    host = ServerHost("local")  # never started: as a child still importing torch on a busy machine
    # the window's own factory; it never gets past waiting for the server, so it needs no project
    service = ModelService(server_engine_factory(host, None, "auto"))
    failures = []
    service.failed.connect(lambda rid, message, retry: failures.append(message))
    service.call(lambda engine: None)  # the model thread now builds the engine: it waits for the server
    time.sleep(0.5)
    assert service.is_running()
    t0 = time.perf_counter()
    host.stop_waiting()
    service.stop(timeout=5.0)
    assert not service.is_running()
    assert time.perf_counter() - t0 < 4.0
    qtbot.waitUntil(lambda: bool(failures), timeout=3000)
    assert "window is closing" in failures[0]
    host.close()


def test_client_after_stop_waiting_says_so_in_one_line():
    host = ServerHost("local")
    host.stop_waiting()
    with pytest.raises(ServerUnavailable, match="window is closing"):
        host.client(wait=30.0)
    host.close()
