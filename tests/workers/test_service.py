"""The model service thread: queue, newest-prompt-wins, per-frame progress, cancel, OOM retry."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from roto_studio.core.project import create_project  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.device import DeviceOutOfMemory  # noqa: E402
from roto_studio.models.backends import GivenBackends, local_out_of_memory  # noqa: E402
from roto_studio.models.engine import Engine  # noqa: E402
from roto_studio.workers.service import ModelService  # noqa: E402
from tests.models.test_engine import FakeImage, FakeMedia, FakeVideo, box_mask  # noqa: E402


class SlowVideo(FakeVideo):
    def __init__(self, delay=0.03, **kw):
        super().__init__(**kw)
        self.delay = delay

    def propagate(self, start, reverse=False, stop=None):
        for item in super().propagate(start, reverse, stop):
            time.sleep(self.delay)
            yield item


class OomVideo(FakeVideo):
    def propagate(self, start, reverse=False, stop=None):
        for f, out in super().propagate(start, reverse, stop):
            if f == 1004:
                raise DeviceOutOfMemory("the cuda device ran out of memory", "cuda", ("cpu",))
            yield f, out


class RetryBackends(GivenBackends):
    def out_of_memory(self, exc):
        return local_out_of_memory(exc, "cuda", ("cpu",))


class RetryEngine(Engine):
    @classmethod
    def given(cls, project, image=None, video=None, media=None, **_):
        return cls(project, RetryBackends(image, video), media=media)

    def retry(self, option):
        self.retried = option
        self._video = FakeVideo()
        self._video_started = False


@pytest.fixture
def setup(tmp_path):
    project = create_project(tmp_path / "shot.roto", tmp_path / "clip.mp4")
    obj = project.add_object("thing")
    made = {}

    def factory(video=None, cls=Engine):
        def build():
            made["thread"] = threading.current_thread().name
            made["engine"] = cls.given(project, image=FakeImage(), video=video or FakeVideo(), media=FakeMedia())
            return made["engine"]
        return build

    services = []

    def start(video=None, cls=Engine):
        s = ModelService(factory(video, cls))
        services.append(s)
        return s

    yield project, obj, start, made
    for s in services:
        s.stop()


def test_prompt_answers_from_the_model_thread(qtbot, setup):
    project, obj, start, made = setup
    service = start()
    with qtbot.waitSignal(service.promptDone, timeout=5000) as sig:
        rid = service.prompt(obj.id, 1002, Prompt(box=(2, 2, 10, 10)))
    got_id, got_obj, frame, alpha = sig.args
    assert (got_id, got_obj, frame) == (rid, obj.id, 1002)
    assert alpha[5, 5] == 1.0 and alpha[15, 15] == 0.0
    assert made["thread"] == "roto-model-service"
    assert project.masks.has(obj.id, 1002)


def test_newest_prompt_wins(qtbot, setup):
    project, obj, start, made = setup
    service = start()
    gate = threading.Event()
    service.call(lambda engine: gate.wait(5))  # keep the thread busy
    dropped, done = [], []
    service.dropped.connect(dropped.append)
    service.promptDone.connect(lambda rid, o, f, a: done.append((rid, f)))
    first = service.prompt(obj.id, 1003, Prompt(points=[(4, 4)], labels=[1]))
    second = service.prompt(obj.id, 1003, Prompt(points=[(4, 4), (9, 9)], labels=[1, 1]))
    other_frame = service.prompt(obj.id, 1005, Prompt(points=[(4, 4)], labels=[1]))
    last = service.prompt(obj.id, 1003, Prompt(points=[(4, 4), (9, 9), (20, 12)], labels=[1, 1, 0]))
    qtbot.waitUntil(lambda: len(dropped) == 2, timeout=2000)
    assert sorted(dropped) == [first, second]
    gate.set()
    qtbot.waitUntil(lambda: len(done) == 2, timeout=5000)
    assert sorted(done) == sorted([(other_frame, 1005), (last, 1003)])
    assert len(made["engine"].image.calls) == 2
    asked = [c[0].clicks[-1] for c in made["engine"].image.calls]
    assert (20.0, 12.0, 0) in asked  # the newest clicks were what the model answered
    assert project.masks.get(obj.id, 1003) is not None  # the model thread writes the mask store...
    assert obj.id not in project.prompts  # ...never the project's prompts: the GUI thread records those


def test_propagation_progress_per_frame_and_result(qtbot, setup):
    project, obj, start, made = setup
    service = start()
    service.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 8, 8)))
    progress, saved = [], []
    service.progress.connect(lambda j, d, t: progress.append((j, d, t)))
    service.frameSaved.connect(lambda j, o, f: saved.append((o, f)))
    with qtbot.waitSignal(service.jobFinished, timeout=5000) as sig:
        job = service.propagate([obj.id], 1001, "forward")
    jid, result = sig.args
    assert jid == job and not result.cancelled
    assert result.written[obj.id] == list(range(1002, 1013))
    assert [d for _, d, _ in progress] == list(range(1, 12))
    assert all(t == 11 and j == job for j, _, t in progress)
    assert project.masks.frames(obj.id) == list(range(1001, 1013))
    qtbot.waitUntil(lambda: len(saved) == 11, timeout=2000)
    assert sorted(saved) == [(obj.id, f) for f in range(1002, 1013)]


def test_cancel_between_frames_keeps_finished(qtbot, setup):
    project, obj, start, made = setup
    service = start(video=SlowVideo(0.05))
    service.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 8, 8)))
    job = service.propagate([obj.id], 1001, "forward")
    service.progress.connect(lambda j, d, t: service.cancel(job) if d >= 3 else None)
    with qtbot.waitSignal(service.jobFinished, timeout=5000) as sig:
        pass
    _, result = sig.args
    assert result.cancelled
    n = len(result.written[obj.id])
    assert 3 <= n < 11
    assert project.masks.frames(obj.id) == [1001] + result.written[obj.id]


def test_clicks_are_answered_during_propagation(qtbot, setup):
    project, obj, start, made = setup
    service = start(video=SlowVideo(0.05))
    events = []
    service.promptDone.connect(lambda rid, o, f, a: events.append(("prompt", f)))
    service.jobFinished.connect(lambda j, r: events.append(("job", r)))
    service.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 8, 8)))
    qtbot.waitUntil(lambda: ("prompt", 1001) in events, timeout=5000)
    first = []
    service.progress.connect(lambda j, d, t: first.append(d))
    service.propagate([obj.id], 1001, "forward")
    qtbot.waitUntil(lambda: len(first) >= 1, timeout=5000)
    click = Prompt(box=(10, 10, 20, 20))
    project.set_prompt(obj.id, 1010, click)  # as the window's undo command does, on the GUI thread
    service.prompt(obj.id, 1010, click)
    qtbot.waitUntil(lambda: any(e[0] == "job" for e in events), timeout=5000)
    kinds = [e[0] if e[0] == "job" else e for e in events]
    assert kinds.index(("prompt", 1010)) < kinds.index("job")  # answered before the job ended
    result = events[-1][1]
    # the click on 1010 made it a keyframe: propagation did not overwrite it
    assert 1010 not in result.written[obj.id]
    np.testing.assert_allclose(project.masks.get(obj.id, 1010), box_mask(10, 10, 20, 20))


def test_errors_are_signals_and_the_thread_survives(qtbot, setup):
    project, obj, start, made = setup
    service = start()
    with qtbot.waitSignal(service.failed, timeout=5000) as sig:
        rid = service.prompt(obj.id, 99, Prompt(box=(1, 1, 5, 5)))
    assert sig.args[0] == rid and "not in the media" in sig.args[1] and sig.args[2] == ()
    with qtbot.waitSignal(service.failed, timeout=5000) as sig:
        service.call(lambda engine: 1 / 0)
    assert "internal error" in sig.args[1]
    with qtbot.waitSignal(service.callDone, timeout=5000) as sig:
        service.call(lambda engine, x: x * 2, 21)
    assert sig.args[1] == 42


def test_out_of_memory_offers_retry(qtbot, setup):
    project, obj, start, made = setup
    service = start(video=OomVideo(), cls=RetryEngine)
    service.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 8, 8)))
    partial = []
    service.jobFinished.connect(lambda j, r: partial.append(r))
    with qtbot.waitSignal(service.failed, timeout=5000) as sig:
        job = service.propagate([obj.id], 1001, "forward")
    rid, message, retry = sig.args
    assert rid == job and "out of memory" in message and retry == ("cpu",)
    qtbot.waitUntil(lambda: len(partial) == 1, timeout=2000)
    assert partial[0].written[obj.id] == [1002, 1003]
    # the failure travels with what was written, so the window knows it from the result alone
    # (a late `failed` signal once left Ctrl+R with nothing to resume)
    assert partial[0].cancelled and partial[0].error == message and partial[0].retry == ("cpu",)
    with qtbot.waitSignal(service.jobFinished, timeout=5000) as sig:
        service.retry(job, "cpu")
    assert made["engine"].retried == "cpu"
    assert sig.args[1].written[obj.id] == list(range(1002, 1013))


def test_stop_ends_the_thread(qtbot, setup):
    project, obj, start, made = setup
    service = start(video=SlowVideo(0.05))
    service.prompt(obj.id, 1001, Prompt(mask=box_mask(0, 0, 8, 8)))
    service.propagate([obj.id], 1001, "forward")
    qtbot.waitUntil(lambda: project.masks.has(obj.id, 1002), timeout=5000)
    t0 = time.monotonic()
    service.stop()
    assert not service.is_running()
    assert time.monotonic() - t0 < 2
    with pytest.raises(RuntimeError):
        service.prompt(obj.id, 1001, Prompt(box=(1, 1, 3, 3)))


def test_emit_keeps_refcounts_of_true(qtbot):
    """PySide6 6.12 on Python 3.11 loses a reference to True per emit(); ours gives it back."""
    import sys

    from PySide6.QtCore import QObject, Signal

    from roto_studio.workers.service import emit

    class S(QObject):
        sig = Signal(int, object)

    s = S()
    got = []
    s.sig.connect(lambda i, o: got.append(i))
    before = sys.getrefcount(True)
    for i in range(2000):
        emit(s.sig, i, None)
    assert len(got) == 2000
    assert sys.getrefcount(True) >= before - 5
