"""ModelService.job(): a long job in the model thread with per-frame progress, cancel, clicks
answered between frames, and errors as plain messages."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")

from roto_studio.core.errors import Cancelled, ModelError  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from tests.workers.test_service import setup  # noqa: E402,F401 - the shared fixture


def test_job_progress_result_and_clicks_between_frames(qtbot, setup):  # noqa: F811
    project, obj, start, made = setup
    service = start()
    seen, answered = [], []
    service.progress.connect(lambda rid, d, t: seen.append((rid, d, t)))
    service.promptDone.connect(lambda rid, o, f, a: answered.append((f, threading.current_thread().name)))
    clicked = threading.Event()

    def work(engine, progress, cancelled, n, scale=1):
        threads = {threading.current_thread().name}
        for i in range(n):
            if i == 1:
                clicked.wait(5)  # a click arrives while the job runs
            time.sleep(0.01)
            progress(i + 1, n)
        return [threads, n * scale]

    with qtbot.waitSignal(service.jobDone, timeout=10000) as done:
        rid = service.job(work, 4, scale=10)
        qtbot.waitUntil(lambda: len(seen) >= 1, timeout=5000)
        service.prompt(obj.id, 1002, Prompt(box=(2, 2, 10, 10)))
        time.sleep(0.05)
        clicked.set()
    got, state, value = done.args
    assert (got, state) == (rid, "succeeded")
    assert value == [{"roto-model-service"}, 40]
    assert [(d, t) for r, d, t in seen if r == rid] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    qtbot.waitUntil(lambda: len(answered) == 1, timeout=5000)  # answered between two frames
    assert project.masks.has(obj.id, 1002)


def test_job_cancel_and_failure(qtbot, setup):  # noqa: F811
    project, obj, start, made = setup
    service = start()
    finished = []

    def work(engine, progress, cancelled):
        for i in range(200):
            if cancelled():
                raise Cancelled("stopped")
            finished.append(i)
            time.sleep(0.01)
            progress(i + 1, 200)

    with qtbot.waitSignal(service.jobDone, timeout=10000) as done:
        rid = service.job(work)
        qtbot.waitUntil(lambda: len(finished) >= 3, timeout=5000)
        service.cancel(rid)
    assert done.args == [rid, "cancelled", None]
    assert 3 <= len(finished) < 200

    def broken(engine, progress, cancelled):
        raise ModelError("the matting weights are damaged; download them again.")

    with qtbot.waitSignal(service.failed, timeout=5000) as failed:
        rid = service.job(broken)
    assert failed.args[:2] == [rid, "the matting weights are damaged; download them again."]
