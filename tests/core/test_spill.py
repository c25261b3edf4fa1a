"""core.spill without a model: where spill folders go (a read-only or full project folder falls back
to the user cache, as root too), free space, and which leftovers count as stale."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from roto_studio.core.errors import ModelError
from roto_studio.core.spill import (
    SpillFolder,
    check_free_space,
    clean_stale,
    spill_root,
    usable_spill_root,
)


def test_user_cache_without_a_project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert usable_spill_root(None) == tmp_path / "xdg" / "roto-studio" / "sam2-spill"
    assert usable_spill_root(tmp_path / "not-saved.roto") == spill_root(None)
    project = tmp_path / "shot.roto"
    project.mkdir()
    assert usable_spill_root(project) == project / "cache" / "sam2-spill"
    assert not (project / "cache").exists()  # nothing made until a run needs it


@contextlib.contextmanager
def refusing_folder(base: Path, how: str):
    """A folder in which no new file can be made, for real (root included): `read-only` is a
    read-only tmpfs mount (chmod 0555 when not root: root ignores permissions), `full` a tmpfs
    with no inode left (the disk is full, even for root). Skips in one line where neither can be
    made (root without the right to mount)."""
    folder = base / f"{how}.roto"
    folder.mkdir()
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if how == "read-only" and not root:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    options = "ro,size=64k" if how == "read-only" else "size=64k,nr_inodes=1"
    if not root or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip(f"a {how} folder needs a tmpfs mount (root with the right to mount)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_unwritable_project_spills_to_the_user_cache(tmp_path, monkeypatch, how):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with refusing_folder(tmp_path, how) as project:
        with pytest.raises(OSError) as info:  # the folder really refuses a new file
            (project / "probe").touch()
        assert info.value.errno in ((errno.EROFS, errno.EACCES) if how == "read-only" else (errno.ENOSPC,))
        assert usable_spill_root(project) == spill_root(None)
        with pytest.raises(ModelError, match="cannot create the spill folder"):
            SpillFolder(project / "cache" / "sam2-spill")  # one line that says what to do
    assert usable_spill_root(tmp_path) == spill_root(tmp_path)  # a writable one is used


def test_a_full_disk_is_refused_before_the_run(tmp_path, monkeypatch):
    """check_free_space reads the real free space of a small filesystem (64 KiB)."""
    monkeypatch.setenv("ROTO_MIN_FREE_MB", "0")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    folder = tmp_path / "small"
    folder.mkdir()
    if not root or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                                  capture_output=True).returncode:
        pytest.skip("a small disk needs a tmpfs mount (root with the right to mount)")
    try:
        check_free_space(folder, 16 * 1024)  # fits
        with pytest.raises(ModelError, match="not enough free disk space") as info:
            check_free_space(folder, 1024 * 1024)
        assert str(folder) in str(info.value) and "\n" not in str(info.value)
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_only_dead_processes_of_this_machine_are_stale(tmp_path):
    root = tmp_path / "spill"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    folders = {}
    for name, owner in {"dead": {"pid": int(dead), "host": socket.gethostname(), "start": "0"},
                        "other-host": {"pid": int(dead), "host": "render-node-7", "start": None}}.items():
        folders[name] = root / f"run-{dead}-{name}"
        folders[name].mkdir(parents=True)
        (folders[name] / "owner.json").write_text(json.dumps(owner))
    mine = SpillFolder(root)  # cleans stale siblings as it is made
    assert mine.removed_stale == [folders["dead"]]
    assert folders["other-host"].exists() and mine.path.exists()
    assert clean_stale(root) == []  # a live one (this process) stays
    mine.remove()
    assert not mine.path.exists()
