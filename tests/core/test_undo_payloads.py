"""core.undo_payloads on its own: the file round trip, freeing dropped steps, and the drop path
when older steps have nowhere to go."""

from __future__ import annotations

import gc

import pytest

from roto_studio.core.errors import ProjectError
from roto_studio.core.undo_payloads import UndoPayloads


def test_spill_round_trip_and_free(tmp_path):
    store = UndoPayloads(tmp_path / "shot.roto", limit=1000)
    first = store.add({("obj1", 5): b"x" * 600, ("obj1", 6): None, "mask": b""})
    second = store.add({("obj1", 7): b"y" * 600})
    assert first.on_disk and not second.on_disk
    assert store.memory_bytes <= 1000 and store.spilled == 1
    assert first.get() == {("obj1", 5): b"x" * 600, ("obj1", 6): None, "mask": b""}
    (file,) = (tmp_path / "shot.roto" / "cache" / "undo").rglob("*.bin")
    del first
    gc.collect()
    assert not file.exists() and store.disk_bytes == 0  # the step is gone: so is its file
    del second
    gc.collect()
    assert store.memory_bytes == 0
    store.close()
    assert list((tmp_path / "shot.roto" / "cache").rglob("*.bin")) == []


def test_nowhere_to_spill_drops_oldest_and_tells_once():
    told = []
    store = UndoPayloads(None, limit=200, on_drop=told.append)
    kept = [store.add({("o", i): b"z" * 80}) for i in range(3)]
    assert [p.lost for p in kept] == [True, True, False]
    assert len(told) == 1 and "dropped" in told[0]
    with pytest.raises(ProjectError):
        kept[0].get()
    assert kept[2].get() == {("o", 2): b"z" * 80}
