import subprocess
import sys

import numpy as np
import pytest

from roto_studio.core.errors import ProjectError
from roto_studio.core.masks import MaskStore
from roto_studio.core.project import autosave_is_newer, create_project, load_project
from roto_studio.core.prompt import Prompt


def make_project(tmp_path):
    p = create_project(tmp_path / "shot.roto", tmp_path / "plate.####.png")
    hero = p.add_object("hero")
    bg = p.add_object()
    p.set_prompt(hero.id, 1001, Prompt.from_clicks([(10.5, 20, 1), (3, 4, 0)], box=(1, 2, 30, 40)))
    p.set_prompt(bg.id, 1010, Prompt(has_mask=True))
    p.lock_range(hero.id, 1001, 1005)
    p.lock_range(hero.id, 1004, 1008)
    p.settings["in_out"] = [1001, 1020]
    hero.refine = {"feather": 2.0}
    return p


def test_save_load_round_trip(tmp_path):
    p = make_project(tmp_path)
    alpha = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    p.masks.set("obj1", 1001, alpha)
    p.save()
    q = load_project(tmp_path / "shot.roto" / "project.json")
    assert q.to_dict() | {"saved": 0} == p.to_dict() | {"saved": 0}
    assert q.locked["obj1"] == [(1001, 1008)]
    assert q.is_locked("obj1", 1006) and not q.is_locked("obj1", 1009)
    assert q.object_by_name("hero").refine == {"feather": 2.0}
    got = q.masks.get("obj1", 1001)
    assert np.abs(got - alpha).max() <= 0.5 / 65535 + 1e-7


def test_unlock_splits_range(tmp_path):
    p = make_project(tmp_path)
    p.unlock_range("obj1", 1003, 1004)
    assert p.locked["obj1"] == [(1001, 1002), (1005, 1008)]


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"{\"format\": \"roto-studio-project\", \"version\": 1, \"objects\": [{\"id\": 3}]", "damaged"),
    (b"\x00\xff\xfe garbage", "damaged"),
    (b"[1, 2, 3]", "not a Roto Studio project"),
    (b"{\"format\": \"roto-studio-project\", \"version\": 99}", "newer Roto Studio"),
    (b"{\"format\": \"roto-studio-project\", \"version\": \"1\"}", "version"),
    (b"{\"format\": \"roto-studio-project\", \"version\": 1, \"objects\": [{\"id\": \"../x\", \"name\": \"a\"}]}", "damaged"),
    (b"{\"format\": \"roto-studio-project\", \"version\": 1, \"prompts\": {\"o\": {\"1\": {\"points\": [[NaN, 1, 1]]}}}}", "damaged"),
])
def test_bad_project_files_give_clear_error_and_touch_nothing(tmp_path, content, needle):
    folder = tmp_path / "bad.roto"
    folder.mkdir()
    (folder / "project.json").write_bytes(content)
    before = sorted((p.name, p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir())
    with pytest.raises(ProjectError, match=needle):
        load_project(folder)
    assert sorted((p.name, p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()) == before


def test_missing_project(tmp_path):
    with pytest.raises(ProjectError, match="no project"):
        load_project(tmp_path / "nothing.roto")


def test_autosave_is_offered_when_newer(tmp_path):
    p = make_project(tmp_path)
    p.save()
    assert not autosave_is_newer(p.folder)
    p.add_object("late")
    p.autosave()
    assert autosave_is_newer(p.folder)
    assert load_project(p.folder, use_autosave=True).object_by_name("late") is not None
    assert load_project(p.folder).object_by_name("late") is None
    p.save()
    assert not autosave_is_newer(p.folder)


def test_save_as_copies_masks(tmp_path):
    p = make_project(tmp_path)
    p.masks.set("obj1", 1001, np.ones((4, 4), np.float32))
    p.save()
    p.save(tmp_path / "copy.roto")
    q = load_project(tmp_path / "copy.roto")
    assert q.masks.get("obj1", 1001).min() == 1.0
    assert (tmp_path / "shot.roto" / "project.json").exists()


_KILL_WRITER = r"""
import sys, numpy as np
from roto_studio.core.project import load_project
p = load_project(sys.argv[1])
p.objects[0].name = "renamed"
big = "x" * 20_000_000
p.settings["blob"] = big
print("go", flush=True)
while True:
    p.save()
    p.masks.set("obj1", 1001, np.zeros((512, 512), np.float32))
"""


def test_write_killed_midway_leaves_previous_project_and_masks(tmp_path):
    p = make_project(tmp_path)
    p.masks.set("obj1", 1001, np.ones((512, 512), np.float32))
    p.save()
    for delay in (0.05, 0.2, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", _KILL_WRITER, str(p.folder)],
                                stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"go"
        import time
        time.sleep(delay)
        proc.kill()
        proc.wait()
        q = load_project(p.folder)  # never half-written
        assert q.objects[0].name in ("hero", "renamed")
        m = MaskStore(p.folder / "masks").get("obj1", 1001)
        assert m.shape == (512, 512) and m.min() == m.max() and m.max() in (0.0, 1.0)


def test_mask_store_bounded_cache_and_types(tmp_path):
    store = MaskStore(tmp_path / "m", cache_bytes=3 * 100 * 100 * 4)
    for f in range(10):
        store.set("a", f, (np.arange(100 * 100).reshape(100, 100) % 256).astype(np.uint8))
    for f in range(10):
        store.get("a", f)
    assert store._cached <= store.cache_bytes
    assert store.frames("a") == list(range(10))
    assert store.get("a", 0)[2, 55] == 1.0  # 255 -> 1.0
    store.set("a", -5, np.zeros((100, 100), bool))
    assert store.frames("a")[0] == -5 and store.has("a", -5)
    store.delete("a", -5)
    assert not store.has("a", -5) and store.get("a", -5) is None
    store.remove_object("a")
    assert store.objects() == [] and store.get("a", 3) is None
    with pytest.raises(ProjectError):
        store.set("../evil", 1, np.zeros((2, 2)))


def test_a_read_racing_a_write_does_not_cache_the_old_mask(tmp_path, monkeypatch):
    """The viewer's loader thread reads a mask while the GUI thread writes it (undo then redo):
    the read's old answer must not stick in the cache over the new file."""
    from roto_studio.core import masks as masks_module

    store = MaskStore(tmp_path / "m")
    new = np.full((8, 8), 0.5, np.float32)

    def exists_then_written(path):  # the read finds no file; the other thread's write lands next
        monkeypatch.undo()
        store.set("obj1", 0, new)
        return False

    monkeypatch.setattr(masks_module.Path, "exists", exists_then_written)
    assert store.get("obj1", 0) is None  # this read began before the write
    assert store.has("obj1", 0)
    np.testing.assert_allclose(store.get("obj1", 0), new, atol=1 / 65535)
