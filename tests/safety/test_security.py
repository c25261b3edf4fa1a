"""Project files are data only; weights load safely; project paths stay inside the project."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from roto_studio.core.errors import ProjectError
from roto_studio.core.project import create_project, load_project

SRC = Path(__file__).resolve().parents[2] / "roto_studio"


def sources():
    return {p: p.read_text(encoding="utf-8") for p in SRC.rglob("*.py")}


def test_no_pickle_or_eval_anywhere():
    for path, text in sources().items():
        assert not re.search(r"^\s*(import|from)\s+(pickle|cPickle|dill|marshal|shelve)\b", text, re.M), path
        assert not re.search(r"(?<![\w.])(eval|exec)\(", text), path
        assert "allow_pickle=True" not in text, path


def test_every_torch_load_is_weights_only():
    for path, text in sources().items():
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start(): text.find("\n\n", m.start())]
            depth, end = 0, 0
            for i, ch in enumerate(call):
                depth += ch == "("
                depth -= ch == ")"
                if depth == 0 and ch == ")":
                    end = i
                    break
            assert "weights_only=True" in call[:end + 1], f"{path}: {call[:end + 1]}"


def test_object_ids_cannot_escape_the_project(tmp_path):
    p = create_project(tmp_path / "a.roto", tmp_path / "plate.####.png")
    p.add_object("hero")
    p.save()
    doc = json.loads(p.project_file.read_text())
    for evil in ("../../etc", "/abs", "..", "a/b", "a\\b"):
        doc["objects"][0]["id"] = evil
        p.project_file.write_text(json.dumps(doc))
        with pytest.raises(ProjectError):
            load_project(p.folder)
    with pytest.raises(ProjectError):
        p.masks.set("../outside", 1, np.zeros((2, 2)))
    assert not (tmp_path / "outside").exists()


def test_nothing_listens_on_the_network():
    psutil = pytest.importorskip("psutil")
    import subprocess
    import sys
    import time

    code = ("import sys, os; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
            "from roto_studio.core.project import create_project\n"
            "import roto_studio.cli, roto_studio.models.registry\n"
            "print('up', flush=True); sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        time.sleep(0.2)
        listening = [c for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening == []
    finally:
        proc.kill()
        proc.wait()
