"""UI tests run offscreen with their own settings file, projects folder and generated media."""

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _load_make_sample():
    spec = importlib.util.spec_from_file_location("roto_make_sample", ROOT / "resources" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_sample = _load_make_sample()


@pytest.fixture
def settings(tmp_path, monkeypatch):
    import roto_studio.ui  # noqa: F401 - applies the PySide6 guard before any Qt call
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("ROTO_PROJECTS_DIR", str(tmp_path / "projects"))
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("project/autosave_s", 0)
    # models in the test process (the default, a local model server child, is tested in
    # tests/ui/test_model_server.py): keeps each window test from starting a server
    s.setValue("models/server", "in-process")
    return s


@pytest.fixture
def clip(tmp_path):
    """A small generated H.264 shot: 12 frames, 160x96, a red disc moving right."""
    return make_sample.make_sample(tmp_path / "media" / "shot.mp4", frames=12, width=160, height=96)


@pytest.fixture
def window(qtbot, settings, monkeypatch):
    monkeypatch.setenv("ROTO_DEVICE", "cpu")
    from roto_studio.ui.main_window import MainWindow

    w = MainWindow(settings)
    w.settings.setValue("models/backend", "classical")
    w.ask = lambda *a, **k: True
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


# The CPU fallback (roto_studio.models.classical) is written in parallel; tests that click with
# it run as soon as it is there.
requires_classical = pytest.mark.skipif(
    importlib.util.find_spec("roto_studio.models.classical") is None,
    reason="roto_studio.models.classical (CPU fallback backend) is not in the tree yet")
