"""An artist's first day, through the real window: footage opens as expected (any frame of a
sequence, a folder, drops), backends that cannot run are marked with their reason and a link to
the model manager, every dialog fits a 1366x768 screen, quitting asks to save and recovery says
what happened, Help has a getting-started page and a readable key table, the model manager
downloads (from the local hub-like server, random-weight files), cancels, resumes and verifies,
and the first start with no weights gives a CPU mask at once with the model manager one click away."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtWidgets import QApplication, QDialog

from tests.hub_server import HubServer, write_pins
from tests.ui.helpers import click_canvas, drop_files, key, wait_frame, wait_masks

SCREEN_W, SCREEN_H = 1366, 768
TITLE_AND_TASKBAR = 72  # what a desktop keeps of the screen's height for itself


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    from roto_studio.models.weights import store as weights

    folder = tmp_path / "weights"
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("ROTO_CONFIG_DIR", str(tmp_path / "config"))  # licences accepted
    for name in ("ROTO_WEIGHTS_OFFLINE", "ROTO_WEIGHTS_PINS", "ROTO_CUTIE_WEIGHTS", "ROTO_SAM2_RANDOM_WEIGHTS",
                 "ROTO_EDGETAM_RANDOM_WEIGHTS", "ROTO_NO_MODEL_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    weights.set_offline_folders([])
    yield folder
    weights.set_offline_folders([])
    from roto_studio.models.weights import licences

    licences.set_allow_noncommercial(None)


def plate(folder: Path, first=1001, n=5, name="plate") -> Path:
    """A numbered PNG sequence: a bright square moving over noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    bg = rng.integers(20, 80, (48, 64, 3)).astype(np.uint8)
    for i in range(n):
        img = bg.copy()
        img[12:30, 8 + 4 * i:26 + 4 * i] = (230, 200, 40)
        cv2.imwrite(str(folder / f"{name}.{first + i}.png"), img)
    return folder


# ---------------------------------------------------------------------------------------- footage

def test_any_frame_of_a_sequence_opens_the_sequence_at_that_frame(qtbot, window, tmp_path):
    folder = plate(tmp_path / "seq")
    assert window.projects.open_media_path(folder / "plate.1003.png"), window.message.text()
    assert window.shot.media.frame_count == 5 and window.shot.media.first_frame == 1001
    wait_frame(qtbot, window, 1003)
    assert window.shot.frame == 1003
    assert "sequence" in window.message.text()

    # dropping a frame does the same
    assert drop_files(window, [folder / "plate.1004.png"])
    assert window.shot.media.frame_count == 5
    wait_frame(qtbot, window, 1004)

    # an image with no numbered neighbours stays a single image
    lone = tmp_path / "lone" / "still_0042.png"
    lone.parent.mkdir()
    cv2.imwrite(str(lone), np.full((32, 48, 3), 90, np.uint8))
    assert window.projects.open_media_path(lone), window.message.text()
    assert window.shot.media.frame_count == 1


def test_a_folder_opens_from_the_dialog_and_by_dropping(qtbot, window, tmp_path):
    from roto_studio.ui.media_dialog import MediaDialog

    folder = plate(tmp_path / "frames", first=0, n=4, name="f")
    d = MediaDialog(window, str(folder))
    qtbot.addWidget(d)
    d.show()
    qtbot.mouseClick(d.folder_button, Qt.MouseButton.LeftButton)
    assert d.result() == QDialog.DialogCode.Accepted
    assert Path(d.chosen()) == folder
    assert window.projects.open_media_path(d.chosen()), window.message.text()
    assert window.shot.media.frame_count == 4
    # a folder highlighted in the list is the one taken
    up = MediaDialog(window, str(tmp_path))
    qtbot.addWidget(up)
    up.show()
    up.selectFile(str(folder))
    qtbot.mouseClick(up.folder_button, Qt.MouseButton.LeftButton)
    assert Path(up.chosen()) == folder

    other = plate(tmp_path / "dropped", first=10, n=3, name="g")
    assert drop_files(window, [other])
    assert window.shot.media.frame_count == 3 and window.shot.media.first_frame == 10
    wait_frame(qtbot, window, 10)


# ---------------------------------------------------------------------------------------- backends

def test_backends_without_weights_are_unavailable_with_a_link(qtbot, window, clip, no_weights):
    ctl = window.service_ctl
    assert window.projects.open_media_path(clip)
    qtbot.waitUntil(lambda: "cutie" in ctl.unavailable() and "sam2" in ctl.unavailable(), timeout=20000)
    model = window.backend_combo.model()
    for key_ in ctl.unavailable():
        item = model.item(window.backend_combo.findData(key_))
        assert not item.isEnabled() and "unavailable" in item.text()
        assert item.toolTip() and "model manager" in item.toolTip()  # the reason, worded for the window
    cutie_tip = model.item(window.backend_combo.findData("cutie")).toolTip()
    assert "cutie-base" in cutie_tip and "`roto-studio" not in cutie_tip
    for key_ in ("auto", "classical"):
        assert model.item(window.backend_combo.findData(key_)).isEnabled()
    label = window.backend_label.text()
    assert "Unavailable here" in label and 'href="models:"' in label
    assert label.startswith("Backend: classical")  # what runs, named first

    # choosing one anyway (a script, a saved project): the panel names it as unusable, with a link
    window.service_ctl.set_backend("cutie")
    qtbot.waitUntil(lambda: "cannot be used" in window.backend_label.text(), timeout=20000)
    assert window.backend_label.text().startswith("Backend: Cutie cannot be used: ")
    msg = window.message.text()
    assert 'href="models:cutie-base"' in msg and "`roto-studio models download" not in msg
    window.message.linkActivated.emit("models:cutie-base")  # what a click on the link does
    mgr = window.models_ctl.dialog
    assert mgr is not None and mgr.isVisible()
    assert "background" in mgr.rows["cutie-base"].title.styleSheet()  # the row asked for stands out


def test_the_panel_names_what_runs_on_the_local_model_server(qtbot, settings, clip, no_weights, monkeypatch):
    """With the models in the local server child, a backend the server cannot build is named as
    unusable (with the reason and a link), never left as "starting"."""
    from roto_studio.ui.main_window import MainWindow

    monkeypatch.setenv("ROTO_DEVICE", "cpu")
    settings.setValue("models/server", "local")
    settings.setValue("models/device", "cpu")
    settings.setValue("models/backend", "cutie")
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    assert w.projects.open_media_path(clip)
    assert "on the local model server" in w.backend_label.text()
    qtbot.waitUntil(lambda: "cannot be used" in w.backend_label.text(), timeout=120000)
    text = w.backend_label.text()
    assert text.startswith("Backend: Cutie cannot be used: ") and 'href="models:cutie-base"' in text, text
    assert "starting" not in text
    w.close()


def test_find_and_matting_without_weights_link_to_the_model_manager(qtbot, window, clip, no_weights):
    """The "weights missing" messages of Find... and of Matte edges offer the model manager, not a
    terminal command."""
    from PySide6.QtTest import QTest

    from roto_studio.ui.model_links import link_target

    w = window
    assert w.projects.open_media_path(clip)
    wait_frame(qtbot, w, 0)
    QTest.keyClicks(w.find_bar.field, "dog")
    QTest.keyClick(w.find_bar.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "models:" in w.message.text(), timeout=30000)
    text = w.message.text()
    assert 'href="models:sam3"' in text and "`roto-studio models download" not in text, text
    assert "model manager" in w.status_line.full and "`" not in w.status_line.full

    click_canvas(w, 40, 48)
    wait_masks(qtbot, w)
    w.message.setText("")
    w.jobs.matte(backend="vitmatte")
    qtbot.waitUntil(lambda: "models:" in w.message.text(), timeout=30000)
    links = [link_target(part.split('"')[0]) for part in w.message.text().split('href="')[1:]]
    assert links == ["vitmatte-small"], w.message.text()
    w.message.linkActivated.emit("models:vitmatte-small")
    assert w.models_ctl.dialog.isVisible()


# ---------------------------------------------------------------------------------------- dialogs

def _fits(d) -> tuple[int, int, str]:
    min_h = d.minimumSizeHint().height()
    h = d.height() if d.isVisible() else d.sizeHint().height()
    return max(min_h, min(h, 10**6)), max(d.minimumSizeHint().width(), d.width()), d.objectName() or type(d).__name__


def test_every_dialog_fits_a_1366x768_screen(qtbot, window, clip, no_weights):
    """Each menu action that opens a dialog, as the artist would: the dialog's smallest size and the
    size it opens at fit the screen (a too-tall one must scroll)."""
    assert window.projects.open_media_path(clip)
    wait_frame(qtbot, window, 0)
    seen = {}

    def close_modal():
        d = QApplication.activeModalWidget()
        if d is None:
            QTimer.singleShot(20, close_modal)
            return
        seen[name] = _fits(d)
        d.reject()

    from roto_studio.ui.actions import ACTIONS

    acts = window.actions_by_name
    modal = [a.name for a in ACTIONS if a.text.endswith("…") and a.name != "models"]  # "…": opens a dialog
    for name in modal:
        QTimer.singleShot(0, close_modal)
        acts[name].trigger()
        qtbot.waitUntil(lambda name=name: name in seen, timeout=5000)
    for name, find in (("help", lambda: window._shortcuts), ("models", lambda: window.models_ctl.dialog)):
        acts[name].trigger()
        d = find()
        qtbot.waitUntil(d.isVisible)
        seen[name] = _fits(d)
        d.close()
    assert {"new", "open", "export", "settings", "shot_settings", "clean_plate", "help", "models"} <= set(seen)
    too_big = {n: (w, h) for n, (h, w, _) in seen.items() if h > SCREEN_H - TITLE_AND_TASKBAR or w > SCREEN_W}
    assert not too_big, too_big


# ---------------------------------------------------------------------------------------- quitting

def test_quit_asks_to_save_and_recovery_says_what_happened(qtbot, settings, clip, monkeypatch):
    from roto_studio.ui.main_window import MainWindow

    monkeypatch.setenv("ROTO_DEVICE", "cpu")
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    assert w.projects.open_media_path(clip)
    folder = w.shot.project.folder
    w.shot.project.settings["saved_by_user"] = True
    assert w.projects.save_project()
    asked = []
    answers = ["cancel", "discard"]
    w.ask_save = lambda q: asked.append(q) or answers.pop(0)
    w.objects_ctl.change_object(w.shot.project.objects[0].id, "name", "renamed")
    quit_ = w.actions_by_name["quit"]  # File > Quit, Ctrl+Q
    quit_.trigger()
    assert w.isVisible()  # Cancel keeps the window and the changes
    assert "Save the changes" in asked[0] and w.shot.project.objects[0].name == "renamed"
    quit_.trigger()
    assert not w.isVisible()  # Discard
    assert (folder / "autosave.json").exists()  # the changes are still kept aside

    questions = []
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.ask = lambda q, *a: questions.append(q) or False
    assert w2.projects.open_project(folder)
    assert "you chose not to save" in questions[0] and "unexpectedly" not in questions[0]
    assert w2.shot.project.objects[0].name == "Object 1"
    # an autosave left with no note (the app was killed) says so
    w2.objects_ctl.change_object(w2.shot.project.objects[0].id, "name", "before the crash")
    w2.projects.autosave()
    w3 = MainWindow(settings)
    qtbot.addWidget(w3)
    w3.ask = lambda q, *a: questions.append(q) or True
    assert w3.projects.open_project(folder)
    assert "stopped before these changes were saved" in questions[-1]
    assert w3.shot.project.objects[0].name == "before the crash"
    # Save: saved, nothing left to recover
    w3.ask_save = lambda q: "save"
    assert w3.quit()
    assert not (folder / "autosave.json").exists()
    # nothing unsaved: no question
    w4 = MainWindow(settings)
    qtbot.addWidget(w4)
    assert w4.projects.open_project(folder)
    w4.ask_save = lambda q: asked.append(q) or "cancel"
    assert w4.quit() and len(asked) == 2


# ---------------------------------------------------------------------------------------- help

def test_help_has_getting_started_and_a_readable_key_table(qtbot, window):
    key(window, Qt.Key.Key_F1)
    d = window._shortcuts
    qtbot.waitUntil(d.isVisible)
    page = d.page.toPlainText()
    for part in ("Open a shot", "first click", "Propagate", "Fix", "Export", "Models"):
        assert part.lower() in page.lower(), part
    assert "F carries the mask forward" in page  # keys from the action table
    d.tabs.setCurrentIndex(1)
    t = d.table
    qtbot.wait(50)
    assert t.columnWidth(0) + t.columnWidth(1) <= t.viewport().width()  # nothing off to the right
    assert t.sizeHintForColumn(0) <= t.columnWidth(0)  # every key combination on one line
    for row in range(t.rowCount()):  # and each action's words wrap inside its row
        assert t.sizeHintForRow(row) <= t.rowHeight(row), (row, t.item(row, 1).text())
    assert t.horizontalScrollBar().maximum() == 0
    # the page's models link opens the model manager
    d.page.anchorClicked.emit(QUrl("models:"))
    assert window.models_ctl.dialog is not None and window.models_ctl.dialog.isVisible()
    window.models_ctl.dialog.close()
    d.close()


# ---------------------------------------------------------------------------------------- model manager

PAYLOAD = os.urandom(3 * 2**20 + 77)  # random "weights": several 256 KiB steps from the server
CUTIE = os.urandom(2 * 2**20 + 5)
CONFIG = b'{"model_type": "vitmatte"}'
COMMIT = "c0ffee" + "0" * 34


@pytest.fixture
def hub(tmp_path, monkeypatch, no_weights):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hc, "DOWNLOAD_CHUNK_SIZE", 256 * 1024)  # the hub streams 10 MiB chunks
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    vit = {"model.safetensors": PAYLOAD, "config.json": CONFIG}
    with HubServer({"hustvl/vitmatte-small-composition-1k": (COMMIT, vit)}, files={"cutie.pth": CUTIE},
                   delay=0.03) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        pins = write_pins(tmp_path / "pins.json", {"vitmatte-small": (COMMIT, vit),
                                                   "cutie-base": ("v1.0", {"cutie-base-mega.pth": CUTIE})},
                          urls={"cutie-base-mega.pth": f"{srv.url}/files/cutie.pth"})
        monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(pins))
        yield srv


def _wait_idle(qtbot, row, timeout=30000):
    qtbot.waitUntil(lambda: row.job is None, timeout=timeout)


def test_model_manager_downloads_cancels_resumes_verifies(qtbot, window, clip, hub, no_weights):
    assert window.projects.open_media_path(clip)
    ctl = window.service_ctl
    qtbot.waitUntil(lambda: "cutie" in ctl.unavailable(), timeout=20000)
    window.actions_by_name["models"].trigger()
    mgr = window.models_ctl.dialog
    assert mgr.isVisible()
    names = list(mgr.rows)
    assert names[:3] == ["sam2.1-tiny", "cutie-base", "vitmatte-small"]  # recommended first
    row = mgr.rows["vitmatte-small"]
    assert "licence Apache-2.0 (commercial use allowed)" in row.details.text()
    assert "Soft edges" in row.title.text() and "MB" in row.details.text()
    assert row.state.text() == "not installed" and not row.verify_button.isEnabled()

    # download, cancel half way: the part is kept
    seen = []
    qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
    row.job.progress.connect(lambda d, t, _i: seen.append((d, t)))
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] > 2**20, timeout=20000)
    assert row.download_button.text() == "Cancel"
    qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, row)
    assert "cancelled" in row.state.text() and "not installed" in row.state.text()
    assert [p for p in (no_weights / "vitmatte-small").rglob("*") if p.is_file()] == []
    assert (no_weights / ".partial-vitmatte-small" / "model.safetensors").stat().st_size > 2**20

    # download again: it goes on from the part (its first report is past zero), then checks
    again = []
    qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
    row.job.progress.connect(lambda d, t, _i: again.append(d))
    mgr.close()  # closing the manager while it downloads only hides it
    _wait_idle(qtbot, row)
    assert window.models_ctl.open_manager() is mgr
    assert again and again[0] > 2**20, again[:3]
    assert row.state.text().startswith("downloaded and checked — installed, verified"), row.state.text()
    assert (no_weights / "vitmatte-small" / "model.safetensors").read_bytes() == PAYLOAD
    assert not (no_weights / ".partial-vitmatte-small").exists()

    # a plain-URL model (Cutie's GitHub release): the backends switch over without a restart
    cut = mgr.rows["cutie-base"]
    qtbot.mouseClick(cut.download_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, cut)
    assert "installed, verified" in cut.state.text(), cut.state.text()
    qtbot.waitUntil(lambda: "cutie" not in ctl.unavailable(), timeout=20000)
    assert window.backend_combo.model().item(window.backend_combo.findData("cutie")).isEnabled()

    # verify: a file damaged on disk is found out and set aside
    path = no_weights / "cutie-base" / "cutie-base-mega.pth"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    qtbot.mouseClick(cut.verify_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, cut)
    assert "does not match its checksum" in cut.state.text() and "not installed" in cut.state.text()
    assert (path.parent / "cutie-base-mega.pth.bad").exists()
    qtbot.waitUntil(lambda: "cutie" in ctl.unavailable(), timeout=20000)
    qtbot.mouseClick(row.verify_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, row)
    assert row.state.text().startswith("verified"), row.state.text()


def test_non_commercial_models_ask_to_accept_their_licence(qtbot, window, hub, monkeypatch):
    from roto_studio.models.weights import registry

    from roto_studio.models.weights import licences

    spec = replace(registry.get("cutie-base"), licence="CC BY-NC 4.0", commercial=False,
                   licence_url="https://example.org/licence")
    monkeypatch.setattr(registry, "SPECS", [spec if s.name == "cutie-base" else s for s in registry.SPECS])
    answers, asked = [False, True], []
    window.ask = lambda q, *a: asked.append(q) or answers.pop(0)
    mgr = window.models_ctl.open_manager("cutie-base")
    row = mgr.rows["cutie-base"]
    assert "NOT for commercial use" in row.details.text()
    qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
    assert "CC BY-NC 4.0 (https://example.org/licence)" in asked[0] and row.job is None
    assert "licence not accepted" in row.state.text() and not licences.accepted("cutie-base")
    assert not [r for r in hub.requests if "cutie" in r[1]]  # nothing was fetched
    qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, row)
    assert "installed" in row.state.text(), row.state.text()
    assert licences.accepted("cutie-base")  # recorded, as `models download --accept-licence` does
    assert "you accepted this licence" in row.details.text()
    # whether Auto may pick it: the window's say, saved in the settings
    assert not licences.auto_may_use("cutie-base")
    mgr.allow_noncommercial.click()
    assert licences.auto_may_use("cutie-base") and window.settings.value("models/allow_noncommercial") in (True, "true")
    mgr.allow_noncommercial.click()
    assert not licences.auto_may_use("cutie-base")
    assert len(asked) == 2


def test_use_a_folder_of_weights(qtbot, window, clip, no_weights, tmp_path, monkeypatch):
    assert window.projects.open_media_path(clip)
    ctl = window.service_ctl
    qtbot.waitUntil(lambda: "cutie" in ctl.unavailable(), timeout=20000)
    offline = tmp_path / "by_hand" / "cutie-base"
    offline.mkdir(parents=True)
    data = b"cutie weights copied by hand"
    (offline / "cutie-base-mega.pth").write_bytes(data)
    pins = write_pins(tmp_path / "pins.json", {"cutie-base": ("v1.0", {"cutie-base-mega.pth": data})})
    monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(pins))
    mgr = window.models_ctl.open_manager()
    mgr.use_folder(str(offline.parent))
    assert str(offline.parent) in mgr.folders.text()
    assert mgr.rows["cutie-base"].present
    assert window.settings.value("models/offline_dir") == str(offline.parent)
    qtbot.waitUntil(lambda: "cutie" not in ctl.unavailable(), timeout=20000)


# ---------------------------------------------------------------------------------------- first start

def test_first_start_without_weights(qtbot, settings, clip, no_weights, monkeypatch):
    """As app.main does: the window, then open_first. The model manager is offered once; a click
    gives a mask from the CPU fallback at once; the model manager stays one click away."""
    from roto_studio.ui.app import open_first
    from roto_studio.ui.main_window import MainWindow

    monkeypatch.setenv("ROTO_DEVICE", "cpu")
    w = MainWindow(settings)  # settings: default backend (auto)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    open_first(w, str(clip))
    mgr = w.models_ctl.dialog
    assert mgr is not None and mgr.isVisible() and not mgr.isModal()
    mgr.close()
    wait_frame(qtbot, w, 0)
    qtbot.waitUntil(lambda: "CPU fallback" in w.backend_label.text(), timeout=20000)
    assert w.backend_label.text().startswith("Backend: auto picked classical")
    click_canvas(w, 40, 48)
    wait_masks(qtbot, w)
    assert w.shot.project.masks.has(w.shot.current_obj, 0)
    assert (w.shot.project.masks.get(w.shot.current_obj, 0) > 0.5).any()
    # one click away: the link under the backend, and Edit > Models...
    qtbot.waitUntil(lambda: 'href="models:"' in w.backend_label.text(), timeout=20000)
    w.backend_label.linkActivated.emit("models:")
    assert w.models_ctl.dialog.isVisible()
    w.models_ctl.dialog.close()
    # the offer is made once
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    open_first(w2, str(clip))
    assert w2.models_ctl.dialog is None
