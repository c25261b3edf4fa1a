"""Find objects by name in the window: type phrases in the Find field, the model thread finds
them (SAM 3 with tiny random weights), one object per instance appears with its name and mask,
and one undo removes them all."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.ui.helpers import wait_frame

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_find_field_makes_named_objects_and_one_undo_removes_them(qtbot, window, clip, monkeypatch):
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.text.find import Sam3TextFinder

    monkeypatch.setenv("ROTO_TEXT_RANDOM_WEIGHTS", "sam3")
    threads = []
    real_find = Sam3TextFinder.find

    def find(self, phrases, min_score=0.5):  # the real finder, noting which thread runs it
        threads.append(threading.current_thread() is threading.main_thread())
        return real_find(self, phrases, min_score)

    monkeypatch.setattr(Sam3TextFinder, "find", find)
    w = window
    assert w.projects.open_media_path(clip)
    wait_frame(qtbot, w, 0)
    before = [o.id for o in w.shot.project.objects]
    steps = w.undo.count()

    w.find_bar.score.setValue(0.5)
    QTest.keyClicks(w.find_bar.field, "person, dog")
    QTest.keyClick(w.find_bar.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(w.shot.project.objects) > len(before) or "nothing found" in w.message.text(),
                    timeout=120000)
    assert threads == [False]  # the model ran on the model thread, not the GUI thread

    model, processor = hf_build.random_sam3()
    direct = Sam3TextFinder(model, processor)
    direct.set_image(w.shot.media.read(0))
    want = real_find(direct, ["person", "dog"], 0.5)
    assert want, "random weights found nothing: the test would prove nothing"
    new = [o for o in w.shot.project.objects if o.id not in before]
    names = []
    for phrase in ("person", "dog"):
        names += [f"{phrase} {i + 1}" for i in range(sum(f.phrase == phrase for f in want))]
    assert [o.name for o in new] == names
    for obj, f in zip(new, want):
        np.testing.assert_allclose(w.shot.project.masks.get(obj.id, 0), f.alpha, atol=1 / 65535)
        assert w.shot.project.prompts[obj.id][0].has_mask  # a keyframe: propagation starts from it
    assert w.undo.count() == steps + 1  # one step for all of them
    def panel():  # what the objects panel lists: (name, id) per row
        rows = [w.objects.list.item(i) for i in range(w.objects.list.count())]
        return [(r.text(), r.data(Qt.ItemDataRole.UserRole)) for r in rows]

    assert panel()[-len(new):] == [(o.name, o.id) for o in new]  # the panel shows them by name

    w.undo.undo()
    assert [o.id for o in w.shot.project.objects] == before
    assert not any(w.shot.project.masks.has(o.id, 0) for o in new)
    assert [oid for _, oid in panel()] == before
    w.undo.redo()
    assert [o.name for o in w.shot.project.objects if o.id not in before] == names
    assert all(w.shot.project.masks.has(o.id, 0) for o in new)
