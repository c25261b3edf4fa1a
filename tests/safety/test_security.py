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


# Text we write for another application to run, not code we run: the .nk's Roto node builds its
# shapes through Nuke's own Python when pasted (the one `exec(` is inside that knob's string).
EMITTED = {"ops/shapes/formats/nuke.py": 1}


def test_no_pickle_or_eval_anywhere():
    for path, text in sources().items():
        assert not re.search(r"^\s*(import|from)\s+(pickle|cPickle|dill|marshal|shelve)\b", text, re.M), path
        calls = [m for m in re.finditer(r"(?<![\w.])(eval|exec)\(", text)]
        allowed = EMITTED.get(path.relative_to(SRC).as_posix(), 0)
        assert len(calls) <= allowed, path
        for m in calls:  # ...and only inside a string literal
            line = text[text.rfind("\n", 0, m.start()) + 1: text.find("\n", m.start())]
            assert re.match(r"\s*f?['\"]", line), (path, line)
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


LISTEN_PROBE = """
import os, sys, threading, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import cv2, numpy as np
import roto_studio.ui
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from roto_studio.core.project import create_project
from roto_studio.models.weights import fetch
from roto_studio.ui.main_window import MainWindow
from roto_studio.workers.service import ModelService

tmp = sys.argv[1]
app = QApplication([])
window = MainWindow(QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat))
window.show()
cv2.imwrite(os.path.join(tmp, "plate.1001.png"), np.full((32, 48, 3), 90, np.uint8))
project = create_project(os.path.join(tmp, "p.roto"), os.path.join(tmp, "plate.####.png"))
service = ModelService(project=project, backend="classical")
answered = threading.Event()
service.callDone.connect(lambda *a: answered.set())
service.call(lambda engine: engine.describe())
deadline = time.monotonic() + 60
while not answered.is_set() and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
assert answered.is_set(), "the model service did not answer"
path = fetch.download("sam2.1-tiny")  # from the loopback test server (HF_ENDPOINT)
assert path.read_bytes() == b"tiny weights", path
app.processEvents()
print("up", flush=True)
sys.stdin.readline()
service.stop()
window.close()
"""


def test_nothing_listens_on_the_network(tmp_path):
    """The window, the model service and a weights download (from the loopback test server) open
    no listening socket in our process, and talk to nothing but that server."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("PySide6")
    import os
    import subprocess
    import sys
    import time

    from tests.hub_server import HubServer, write_pins

    commit = "ab" * 20
    files = {"sam2.1_hiera_tiny.pt": b"tiny weights"}
    pins = write_pins(tmp_path / "pins.json", {"sam2.1-tiny": (commit, files)})
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTO_", "HF_"))}
    with HubServer({"facebook/sam2.1-hiera-tiny": (commit, files)}) as srv:
        env.update(PYTHONPATH=str(root), ROTO_WEIGHTS_DIR=str(tmp_path / "w"), ROTO_WEIGHTS_PINS=str(pins),
                   ROTO_PROJECTS_DIR=str(tmp_path / "projects"), ROTO_DEVICE="cpu", HF_ENDPOINT=srv.url,
                   HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="0")
        proc = subprocess.Popen([sys.executable, "-c", LISTEN_PROBE, str(tmp_path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env, cwd=root)
        try:
            line = proc.stdout.readline().strip()
            assert line == "up", f"the probe stopped early (exit {proc.poll()})"
            time.sleep(0.2)
            conns = psutil.Process(proc.pid).net_connections(kind="inet")
            listening = [c for c in conns if c.status == psutil.CONN_LISTEN]
            assert listening == []
            remote = {(c.raddr.ip, c.raddr.port) for c in conns if c.raddr}
            assert remote <= {("127.0.0.1", srv.port)}, remote
            assert ("GET", f"/facebook/sam2.1-hiera-tiny/resolve/{commit}/sam2.1_hiera_tiny.pt") in srv.requests
        finally:
            proc.kill()
            proc.wait()
