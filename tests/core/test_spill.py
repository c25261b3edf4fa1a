"""core.spill without a model: where spill folders go, and which leftovers count as stale."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from roto_studio.core.spill import SpillFolder, clean_stale, spill_root, usable_spill_root


def test_user_cache_without_a_project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert usable_spill_root(None) == tmp_path / "xdg" / "roto-studio" / "sam2-spill"
    assert usable_spill_root(tmp_path / "not-saved.roto") == spill_root(None)
    project = tmp_path / "shot.roto"
    project.mkdir()
    assert usable_spill_root(project) == project / "cache" / "sam2-spill"
    assert not (project / "cache").exists()  # nothing made until a run needs it


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_project_spills_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    project = tmp_path / "shot.roto"
    project.mkdir()
    project.chmod(0o555)
    try:
        assert usable_spill_root(project) == spill_root(None)
    finally:
        project.chmod(0o755)


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
