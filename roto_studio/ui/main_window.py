"""The studio window. Thin: state lives in the project (core), work runs in workers; the window
wires input to undo commands and jobs, and shows what they report."""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QLabel,
                               QMainWindow, QMessageBox, QProgressBar, QSlider, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from roto_studio.core.errors import RotoError
from roto_studio.ui import commands as cmd
from roto_studio.ui.canvas import VIEW_MODES, Canvas, rasterize_stroke
from roto_studio.ui.edge_panel import EdgePanel
from roto_studio.ui.objects_panel import ObjectsPanel
from roto_studio.ui.timeline import Timeline
from roto_studio.workers.jobs import FrameReader, Job, plain_message

log = logging.getLogger(__name__)

MEDIA_FILTER = ("Media (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.png *.jpg *.jpeg *.tif *.tiff *.exr *.dpx);;"
                "All files (*)")
MAX_RECENT = 10
BACKENDS = [("auto", "Auto"), ("sam2", "SAM 2"), ("cutie", "Cutie"), ("classical", "CPU fallback")]


def projects_dir() -> Path:
    env = os.environ.get("ROTO_PROJECTS_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("roto-studio", appauthor=False)) / "projects"


def to_model_prompt(fp):
    """core FramePrompt (points as (x, y, label)) -> models.base.Prompt."""
    from roto_studio.models.base import Prompt

    return Prompt(points=[(float(x), float(y)) for x, y, _ in fp.points],
                  labels=[int(lab) for _, _, lab in fp.points],
                  box=tuple(fp.box) if fp.box is not None else None)


def _mask_bytes(masks, obj_id: str, frame: int) -> bytes | None:
    """The stored mask as 16-bit PNG bytes (the store's own file; decoded only on undo)."""
    path = masks.folder / obj_id / f"{int(frame)}.png"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return cmd.encode_alpha(masks.get(obj_id, frame))


def _leave_room_for_the_gui(engine) -> None:
    """Called in the model thread: lower its priority (Linux threads have their own nice value,
    and the threads torch starts from it inherit it) and, for a torch model on the CPU, leave one
    core to the GUI thread, so painting and scrubbing stay smooth while a model runs."""
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
    try:
        plan = engine.plan
        if plan.uses_torch and (engine.device is None or engine.device.kind == "cpu"):
            import torch

            cores = os.cpu_count() or 1
            if cores > 1 and torch.get_num_threads() >= cores:
                torch.set_num_threads(cores - 1)
    except Exception:  # noqa: BLE001 - only a scheduling hint
        log.debug("could not adjust model thread priority", exc_info=True)


class ServiceTask:
    """A job run by the model service (propagation, matting), shaped like a Job for the window."""

    def __init__(self, window, kind: str):
        self.window, self.kind = window, kind
        self.request_id: int | None = None
        self.before: dict = {}  # {(obj_id, frame): 16-bit PNG bytes | None}: what the run replaced
        self.result = None
        self.error: str | None = None
        self.state = "running"
        self.done = self.total = 0
        self.started_at = time.perf_counter()
        self.cancel_requested = False
        self.run_info: dict = {}

    def is_running(self) -> bool:
        return self.state == "running"

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.request_id is not None:
            self.window.service.cancel(self.request_id)

    def wait(self, timeout=None) -> bool:
        return not self.is_running()

    def rate(self):
        elapsed = time.perf_counter() - self.started_at
        if self.done <= 0 or elapsed <= 0:
            return 0.0, None
        fps = self.done / elapsed
        return fps, (self.total - self.done) / fps if fps > 0 else None

    def finish(self, state: str, result, error: str | None = None) -> None:
        if self.state != "running":
            return
        self.state, self.result = state, result
        if error:
            self.error = error
        self.window._job_ended()


class PropagationTask(ServiceTask):
    """A propagation run: a Job snapshots the masks it may replace, then the service propagates."""

    def __init__(self, window, obj_ids, start, direction, stop):
        super().__init__(window, "propagate")
        self.obj_ids, self.start_frame, self.direction, self.stop = obj_ids, start, direction, stop
        self.prep: Job | None = None

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.request_id is not None:
            self.window.service.cancel(self.request_id)
        elif self.prep is not None:
            self.prep.cancel()


def _matte_frames(engine, progress, cancelled, obj_id, frames, backend, band, before):
    """Model thread: matte `frames` of obj_id one by one, recording each replaced mask in `before`
    (for undo) just before it is overwritten. Returns the frames written."""
    from roto_studio.commands.matte import matte_object

    cache = engine.__dict__.setdefault("_ui_matters", {})
    if backend not in cache:
        from roto_studio.models.vitmatte import make_matter

        cache[backend] = make_matter(backend)
    matter = cache[backend]
    masks, written = engine.project.masks, []
    for i, f in enumerate(frames):
        if cancelled():
            break
        if not masks.has(obj_id, f) or engine.project.is_locked(obj_id, f):
            continue
        before[(obj_id, f)] = _mask_bytes(masks, obj_id, f)
        matte_object(engine.project, obj_id, matter, band, frames=[f], media=engine.media)
        written.append(f)
        progress(i + 1, len(frames))
    return written


class MainWindow(QMainWindow):
    frameShown = Signal(int)  # after the canvas shows a frame (image and masks)
    jobEnded = Signal(str, str)  # kind ('propagate' | 'export' | 'matte' | 'clean plate'), state
    attentionChecked = Signal(object)  # {obj_id: [frames needing attention]} after a propagation

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("main_window")
        self.setWindowTitle("Roto Studio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings("roto-studio", "Roto Studio")
        self.project = None
        self.media = None
        self.reader: FrameReader | None = None
        self.service = None  # workers.service.ModelService: the model thread
        self.frame: int | None = None
        self.current_obj: str | None = None
        self.job: Job | None = None
        self.job_kind = ""
        self._requests: dict[int, tuple] = {}  # request id -> (MaskEdit, 'after' | 'before')
        self._forgotten: dict[int, cmd.MaskEdit] = {}
        self._play_dir = 0
        self._shown_frame = None
        self._message_timer = QTimer(self, singleShot=True, interval=10000)
        self._message_timer.timeout.connect(lambda: self.message.setVisible(False))
        self.undo = QUndoStack(self)
        self.undo.cleanChanged.connect(lambda _c: self._update_title())
        # ask(question, title) -> bool; tests replace it to answer without a modal box
        self.ask = self._ask_box

        self._build_widgets()
        self._build_actions()
        self._load_settings()
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._play_tick)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self._apply_autosave_interval()
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        self.canvas = Canvas()
        self.canvas.pointClicked.connect(self.on_click)
        self.canvas.boxDrawn.connect(self.on_box)
        self.canvas.strokeFinished.connect(self.on_stroke)
        self.canvas.hovered.connect(self._hover)
        self.message = QLabel()
        self.message.setObjectName("message_bar")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.message.setStyleSheet("QLabel{background:#5a2a2a;color:#fff;padding:6px;}")
        self.timeline = Timeline()
        self.timeline.frameRequested.connect(self.set_frame)
        self.frame_spin = QSpinBox()
        self.frame_spin.setObjectName("frame_spin")
        self.frame_spin.setKeyboardTracking(False)
        self.frame_spin.valueChanged.connect(self._spin_changed)
        self.progress = QProgressBar()
        self.progress.setObjectName("job_progress")
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(380)
        self.job_label = QLabel()
        self.job_label.setObjectName("job_label")
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_job)

        transport = QHBoxLayout()
        transport.setContentsMargins(4, 0, 4, 0)
        self.transport_buttons = {}
        for key, text, tip, slot in [
            ("first", "|◀", "First frame (Home)", self.first_frame),
            ("back", "◀", "Play backward (J)", lambda: self.play(-1)),
            ("stop", "■", "Stop (K)", self.stop),
            ("play", "▶", "Play (L / Space)", lambda: self.play(1)),
            ("last", "▶|", "Last frame (End)", self.last_frame),
        ]:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            transport.addWidget(b)
            self.transport_buttons[key] = b
        transport.addWidget(self.frame_spin)
        transport.addWidget(self.timeline, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(transport)
        jobs = QHBoxLayout()
        jobs.setContentsMargins(6, 0, 6, 2)
        jobs.addWidget(self.progress)
        jobs.addWidget(self.job_label, 1)
        jobs.addWidget(self.cancel_button)
        bl.addLayout(jobs)

        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.message)
        cl.addWidget(self.canvas, 1)
        cl.addWidget(bottom)
        self.setCentralWidget(center)

        # right: objects + view
        self.objects = ObjectsPanel()
        self.objects.addRequested.connect(self.add_object)
        self.objects.deleteRequested.connect(self.delete_object)
        self.objects.renameRequested.connect(lambda o, n: self.change_object(o, "name", n))
        self.objects.colorRequested.connect(lambda o, c: self.change_object(o, "color", tuple(c)))
        self.objects.visibleRequested.connect(lambda o, v: self.change_object(o, "visible", v))
        self.objects.lockRequested.connect(lambda o, v: self.change_object(o, "locked", v))
        self.objects.moveRequested.connect(lambda o, d: self.undo.push(cmd.ObjectMove(self, o, d)))
        self.objects.currentChanged.connect(self.select_object)
        view = QWidget()
        vl = QVBoxLayout(view)
        vl.setContentsMargins(4, 4, 4, 4)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("view_mode")
        for m in VIEW_MODES:
            self.mode_combo.addItem({"cutout": "cut-out"}.get(m, m), m)
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.set_view_mode(self.mode_combo.currentData()))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("overlay_opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))
        self.tool_label = QLabel()
        self.tool_label.setWordWrap(True)
        self.backend_combo = QComboBox()
        self.backend_combo.setObjectName("backend_combo")
        self.backend_combo.setToolTip("Segmentation and tracking backend for this shot (saved with the project)")
        for key, label in BACKENDS:
            self.backend_combo.addItem(label, key)
        self.backend_combo.activated.connect(lambda _i: self.set_backend(self.backend_combo.currentData()))
        self.backend_label = QLabel("Backend: no shot yet")
        self.backend_label.setObjectName("backend_label")
        self.backend_label.setWordWrap(True)
        vl.addWidget(QLabel("View"))
        vl.addWidget(self.mode_combo)
        vl.addWidget(QLabel("Overlay opacity"))
        vl.addWidget(self.opacity)
        vl.addWidget(QLabel("Backend for this shot"))
        vl.addWidget(self.backend_combo)
        vl.addWidget(self.backend_label)
        vl.addWidget(self.tool_label)
        vl.addStretch(1)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.objects, 2)
        sl.addWidget(view, 1)
        dock = QDockWidget("Objects", self)
        dock.setObjectName("objects_dock")
        dock.setWidget(side)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.objects_dock = dock
        self.edges = EdgePanel()
        self.edges.settingChanged.connect(self.change_edge)
        self.edges.resetRequested.connect(self.reset_edges)
        edock = QDockWidget("Edges", self)
        edock.setObjectName("edges_dock")
        edock.setWidget(self.edges)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, edock)
        self.edges_dock = edock
        self.status = self.statusBar()
        self.pixel_label = QLabel()
        self.status.addPermanentWidget(self.pixel_label)

    def _action(self, menu, text, slot, keys=None, name=None, checkable=False):
        a = QAction(text, self)
        if keys:
            seqs = keys if isinstance(keys, list) else [keys]
            a.setShortcuts([QKeySequence(k) for k in seqs])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        if menu is not None:
            menu.addAction(a)
        else:
            self.addAction(a)
        if name:
            self.actions_by_name[name] = a
        return a

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "New from media…", self.new_dialog, "Ctrl+N", "new")
        self._action(f, "Open project…", self.open_dialog, "Ctrl+O", "open")
        self.recent_menu = f.addMenu("Open recent")
        self._action(f, "Save", self.save_project, "Ctrl+S", "save")
        self._action(f, "Save as…", self.save_as_dialog, "Ctrl+Shift+S", "save_as")
        f.addSeparator()
        self._action(f, "Export…", self.export_dialog, "Ctrl+E", "export")
        f.addSeparator()
        self._action(f, "Quit", self.close, "Ctrl+Q", "quit")
        e = mb.addMenu("&Edit")
        undo = self.undo.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.undo.createRedoAction(self, "Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addAction(undo)
        e.addAction(redo)
        self.actions_by_name.update(undo=undo, redo=redo)
        e.addSeparator()
        self._action(e, "Clear mask on this frame", self.clear_mask, "Delete", "clear")
        self._action(e, "Settings and models…", self.settings_dialog, "Ctrl+,", "settings")
        v = mb.addMenu("&View")
        self._action(v, "Fit", self.canvas.fit, "Ctrl+0", "fit")
        self._action(v, "100%", self.canvas.actual_size, "Ctrl+1", "actual")
        self._action(v, "Zoom in", lambda: self.canvas.zoom_by(1.25), ["Ctrl+=", "Ctrl++"], "zoom_in")
        self._action(v, "Zoom out", lambda: self.canvas.zoom_by(0.8), "Ctrl+-", "zoom_out")
        self._action(v, "Next view mode", self.next_view_mode, "V", "next_mode")
        t = mb.addMenu("&Tools")
        self._action(t, "Click (include / exclude)", lambda: self.set_tool("click"), "Q", "tool_click")
        self._action(t, "Box", lambda: self.set_tool("box"), "W", "tool_box")
        self._action(t, "Brush (add / erase)", lambda: self.set_tool("brush"), "E", "tool_brush")
        self._action(t, "Pan", lambda: self.set_tool("pan"), "H", "tool_pan")
        self._action(t, "Smaller brush", lambda: self.canvas.set_brush_radius(self.canvas.brush_radius / 1.25),
                     "[", "brush_smaller")
        self._action(t, "Larger brush", lambda: self.canvas.set_brush_radius(self.canvas.brush_radius * 1.25),
                     "]", "brush_larger")
        o = mb.addMenu("&Objects")
        self._action(o, "Add object", self.add_object, "N", "add_object")
        for i in range(1, 10):
            self._action(None, f"Select object {i}", lambda _=False, k=i: self.select_object_number(k), str(i))
        tr = mb.addMenu("&Track")
        self._action(tr, "Propagate forward", lambda: self.propagate("forward"), "F", "prop_forward")
        self._action(tr, "Propagate backward", lambda: self.propagate("backward"), "B", "prop_backward")
        self._action(tr, "Propagate both ways", lambda: self.propagate("both"), "Shift+F", "prop_both")
        self._action(tr, "Cancel job", self.cancel_job, "Esc", "cancel")
        tr.addSeparator()
        self._action(tr, "Set in", self.set_in, "I", "set_in")
        self._action(tr, "Set out", self.set_out, "O", "set_out")
        self._action(tr, "Lock object over the range", self.lock_range, "Ctrl+L", "lock_range")
        self._action(tr, "Unlock object over the range", self.unlock_range, "Ctrl+Shift+L", "unlock_range")
        tr.addSeparator()
        self._action(tr, "Next frame needing attention", lambda: self.jump_attention(1), "A", "next_attention")
        self._action(tr, "Previous frame needing attention", lambda: self.jump_attention(-1), "Shift+A",
                     "prev_attention")
        r = mb.addMenu("&Refine")
        self._action(r, "Matte edges over the range (ViTMatte / classical)", self.matte, "Ctrl+M", "matte")
        self._action(r, "Clean plate (remove the object)…", self.clean_plate_dialog, "Ctrl+Shift+P", "clean_plate")
        self._action(r, "Reset edge settings", self.reset_edges, None, "reset_edges")
        nav = mb.addMenu("&Frame")
        self._action(nav, "Next frame", lambda: self.step(1), "Right", "next")
        self._action(nav, "Previous frame", lambda: self.step(-1), "Left", "prev")
        self._action(nav, "Forward 10", lambda: self.step(10), "Shift+Right", "next10")
        self._action(nav, "Back 10", lambda: self.step(-10), "Shift+Left", "prev10")
        self._action(nav, "First frame", self.first_frame, "Home", "first")
        self._action(nav, "Last frame", self.last_frame, "End", "last")
        self._action(nav, "Play / pause", self.toggle_play, "Space", "toggle_play")
        self._action(nav, "Play backward", lambda: self.play(-1), "J", "play_back")
        self._action(nav, "Stop", self.stop, "K", "stop")
        self._action(nav, "Play forward", lambda: self.play(1), "L", "play_fwd")
        h = mb.addMenu("&Help")
        self._action(h, "Keyboard shortcuts", self.shortcuts_dialog, "F1", "help")
        self._update_recent_menu()
        self.set_tool("click")

    # ------------------------------------------------------------------ settings
    def _load_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        mode = s.value("view/mode", "overlay")
        i = self.mode_combo.findData(mode)
        self.mode_combo.setCurrentIndex(max(i, 0))
        self.opacity.setValue(int(s.value("view/opacity", 50)))
        self.canvas.set_brush_radius(float(s.value("tools/brush_radius", 12.0)))

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/mode", self.canvas.view_mode)
        s.setValue("view/opacity", self.opacity.value())
        s.setValue("tools/brush_radius", self.canvas.brush_radius)
        s.sync()

    def model_settings(self) -> dict:
        s = self.settings
        return {"device": s.value("models/device", "auto"), "precision": s.value("models/precision", "auto"),
                "backend": s.value("models/backend", "auto"), "offline_dir": s.value("models/offline_dir", ""),
                "frame_cache_mb": int(s.value("media/frame_cache_mb", 512)),
                "autosave_s": int(s.value("project/autosave_s", 60))}

    def _apply_autosave_interval(self) -> None:
        secs = int(self.settings.value("project/autosave_s", 60))
        if secs > 0:
            self.autosave_timer.start(secs * 1000)
        else:
            self.autosave_timer.stop()

    def recent_files(self) -> list[str]:
        v = self.settings.value("recent", []) or []
        return [v] if isinstance(v, str) else list(v)

    def _add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ------------------------------------------------------------------ messages
    def show_message(self, text: str, error: bool = True) -> None:
        """Plain message in the window (never a traceback)."""
        self.message.setText(text)
        self.message.setStyleSheet("QLabel{background:%s;color:#fff;padding:6px;}"
                                   % ("#6a2a2a" if error else "#2a4a6a"))
        self.message.setVisible(True)
        self._message_timer.start()
        self.status.showMessage(text, 10000)
        (log.warning if error else log.info)("%s", text)

    def _ask_box(self, question: str, title: str = "Roto Studio") -> bool:
        r = QMessageBox.question(self, title, question)
        return r == QMessageBox.StandardButton.Yes

    def _update_title(self) -> None:
        name = self.project.name if self.project else "no shot"
        try:
            dirty = "" if self.undo.isClean() else " •"
        except RuntimeError:  # the stack is being destroyed with the window
            return
        self.setWindowTitle(f"{name}{dirty} — Roto Studio")

    def _update_enabled(self) -> None:
        has = self.project is not None
        for k in ("save", "save_as", "export", "prop_forward", "prop_backward", "prop_both", "add_object",
                  "set_in", "set_out", "lock_range", "unlock_range", "clear", "matte", "clean_plate",
                  "reset_edges", "next_attention", "prev_attention"):
            self.actions_by_name[k].setEnabled(has)
        self.backend_combo.setEnabled(has)
        self._refresh_edges()

    # ------------------------------------------------------------------ projects
    def open_path(self, path) -> bool:
        """A dropped or chosen path: a project (.roto folder or its project.json) or media."""
        p = Path(path)
        if p.suffix == ".roto" or p.name in ("project.json", "autosave.json") or (p / "project.json").exists():
            return self.open_project(p)
        return self.open_media_path(p)

    def open_media_path(self, path) -> bool:
        from roto_studio.core.project import create_project

        path = Path(path)
        if not self._confirm_discard():
            return False
        try:
            media = self._open_media(path)
            folder = self._untitled_folder(path)
            project = create_project(folder, path)
            project.save()
        except (RotoError, OSError) as exc:
            self.show_message(plain_message(exc, f"opening {path.name}"))
            return False
        self._set_project(project, media)
        self._add_recent(str(project.folder))
        self.add_object()
        self.undo.clear()
        self.undo.setClean()
        self.show_message(f"Opened {path.name}: {media.width}×{media.height}, {media.frame_count} frames. "
                          "Click on the thing to cut out.", error=False)
        return True

    def _open_media(self, path: Path):
        from roto_studio.core.media import open_media

        cache = int(self.settings.value("media/frame_cache_mb", 512)) * 2**20
        return open_media(path, cache_bytes=cache)

    def _untitled_folder(self, media_path: Path) -> Path:
        base = projects_dir()
        stem = media_path.stem.split(".")[0] or "shot"
        for i in range(1, 10000):
            folder = base / (f"{stem}.roto" if i == 1 else f"{stem}-{i}.roto")
            if not folder.exists():
                return folder
        raise RotoError(f"too many projects named {stem} in {base}; clean it up or use Save As.")

    def open_project(self, path) -> bool:
        from roto_studio.core.project import autosave_is_newer, load_project, project_folder

        folder = project_folder(Path(path))
        if not self._confirm_discard():
            return False
        try:
            use_auto = False
            if autosave_is_newer(folder):
                use_auto = self.ask("This project has autosaved changes newer than its last save "
                                    "(the app may have closed unexpectedly). Restore them?",
                                    "Restore autosave")
            project = load_project(folder, use_autosave=use_auto)
            media = project.open_media(cache_bytes=int(self.settings.value("media/frame_cache_mb", 512)) * 2**20)
        except (RotoError, OSError) as exc:
            self.show_message(plain_message(exc, f"opening {folder.name}"))
            return False
        self._set_project(project, media)
        self._add_recent(str(project.folder))
        self.undo.clear()
        if use_auto:
            self.show_message("Restored the autosaved state; save to keep it.", error=False)
        else:
            self.undo.setClean()
        return True

    def _set_project(self, project, media) -> None:
        self._close_project()
        self.project = project
        self.media = media
        try:
            project.masks.cleanup()
        except Exception:  # noqa: BLE001
            pass
        self._start_service()
        numbers = list(media.frame_numbers)
        self.reader = FrameReader(self._load_view, numbers, prefetch=self._prefetch, parent=self)
        self.reader.frameReady.connect(self._show_loaded)
        self.reader.failed.connect(lambda f, m: self.show_message(m))
        self.timeline.set_frames(numbers)
        self.frame_spin.blockSignals(True)
        self.frame_spin.setRange(numbers[0], numbers[-1])
        self.frame_spin.blockSignals(False)
        rng = project.settings.get("range")
        if rng:
            self.timeline.set_range(*rng)
        self.current_obj = project.objects[0].id if project.objects else None
        self.canvas.image = None
        self.frame = None
        self.set_frame(int(project.settings.get("frame", numbers[0])))
        self._refresh_objects()
        self._refresh_marks()
        self._update_enabled()
        self._update_title()

    def _start_service(self) -> None:
        from roto_studio.workers.service import ModelService

        ms = self.model_settings()
        project, backend = self.project, self.shot_backend()
        device = None if ms["device"] == "auto" else ms["device"]

        def factory():
            from roto_studio.models.engine import Engine

            engine = Engine(project, backend=backend, device=device)
            _leave_room_for_the_gui(engine)
            return engine

        self.service = ModelService(engine_factory=factory, parent=self)
        self.service.promptDone.connect(self._mask_ready)
        self.service.failed.connect(self._on_service_failed)
        self.service.dropped.connect(self._on_dropped)
        self.service.progress.connect(self._on_service_progress)
        self.service.frameWritten.connect(self._on_frame_written)
        self.service.jobFinished.connect(self._on_job_finished)
        self.service.jobDone.connect(self._on_service_job_done)
        self.service.ready.connect(lambda text: self.backend_label.setText(f"Backend: {text}"))
        self._describe_backend(backend, device)

    def shot_backend(self) -> str:
        """This shot's backend (project.settings['backend']), else the default from Settings."""
        if self.project is not None and self.project.settings.get("backend") in dict(BACKENDS):
            return self.project.settings["backend"]
        return self.model_settings()["backend"]

    def _describe_backend(self, backend: str, device) -> None:
        """Say which backend this shot uses and why (for auto: what it picked), without loading
        any model: the plan is worked out in a thread and shown when ready."""
        i = self.backend_combo.findData(backend)
        self.backend_combo.setCurrentIndex(max(i, 0))
        self.backend_label.setText(f"Backend: {backend}…")
        self._plan_serial = getattr(self, "_plan_serial", 0) + 1
        serial = self._plan_serial

        def run(progress, cancelled):
            from roto_studio.models.backends import choose

            return choose(backend, device=device).describe()

        def done(text, error=False):
            if serial != self._plan_serial:
                return  # the backend was changed again meanwhile
            picked = "auto picked " if backend == "auto" and not error else ""
            self.backend_label.setText(f"Backend: {picked}{text}")
            self.status.showMessage(f"Backend: {picked}{text}", 8000)
            if error:
                self.show_message(text)

        job = Job(run, "backend choice", parent=self)
        job.succeeded.connect(done)
        job.failed.connect(lambda msg: done(msg, error=True))
        self._plan_job = job
        job.start()

    def set_backend(self, backend: str) -> None:
        """Per-shot backend choice (undoable, saved in the project); restarts the model service."""
        if self.project is None or backend not in dict(BACKENDS):
            return
        if backend == self.shot_backend() and "backend" in self.project.settings:
            return
        if self.job_running():
            self.show_message("a job is running; change the backend when it has finished (or press Esc).")
            self._describe_backend(self.shot_backend(), None)
            return
        label = dict(BACKENDS)[backend]
        self.undo.push(cmd.ProjectSetting(self, "backend", backend, f"Backend {label}",
                                          after=lambda _v: self._restart_service()))

    def _restart_service(self) -> None:
        if self.project is None:
            return
        if self.job_running():
            self._restart_after_job = True
            return
        self._restart_after_job = False
        self._stop_service()
        self._requests.clear()
        self._start_service()

    def _stop_service(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def _close_project(self) -> None:
        self.stop()
        if self.job is not None and self.job.is_running():
            self.job.cancel()
            self.job.wait(10)
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self._stop_service()
        if self.media is not None:
            try:
                self.media.close()
            except Exception:  # noqa: BLE001
                pass
            self.media = None
        self._requests.clear()
        if self.job is not None:
            self.job = None  # a service task ends with its service; its late signals are ignored
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.timeline.busy = None

    def _confirm_discard(self) -> bool:
        # Masks are on disk as soon as they are made; unsaved object/prompt changes sit in the
        # autosave. Switching shots keeps the current project's autosave.
        if self.project is not None and not self.undo.isClean():
            try:
                self.project.autosave()
            except OSError:
                pass
        return True

    def _store_view_state(self) -> None:
        if self.project is None:
            return
        self.project.settings["frame"] = self.frame
        rng = self.timeline.frame_range()
        if rng:
            self.project.settings["range"] = list(rng)

    def save_project(self) -> bool:
        if self.project is None:
            return False
        if self.project.folder.resolve().is_relative_to(projects_dir().resolve()) and \
                not self.project.settings.get("saved_by_user"):
            return self.save_as_dialog()
        return self._save(None)

    def _save(self, folder) -> bool:
        self._store_view_state()
        try:
            if folder is not None:
                self.project.settings["saved_by_user"] = True
            self.project.save(folder)
        except (RotoError, OSError) as exc:
            self.show_message(plain_message(exc, "saving"))
            return False
        self.undo.setClean()
        self._add_recent(str(self.project.folder))
        self._update_title()
        self.status.showMessage(f"Saved {self.project.folder}", 5000)
        return True

    def save_project_as(self, folder) -> bool:
        folder = Path(folder)
        if folder.suffix != ".roto":
            folder = folder.with_name(folder.name + ".roto")
        if folder.exists() and (folder / "project.json").exists() and \
                folder.resolve() != self.project.folder.resolve():
            if not self.ask(f"{folder.name} already exists. Replace its project file?"):
                return False
        return self._save(folder)

    def save_as_dialog(self) -> bool:
        if self.project is None:
            return False
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(Path.home() / f"{self.project.name}.roto"),
                                              "Roto Studio project (*.roto)")
        return self.save_project_as(path) if path else False

    def autosave(self) -> None:
        if self.project is None or self.undo.isClean():
            return
        self._store_view_state()
        try:
            self.project.autosave()
        except OSError as exc:
            self.show_message(plain_message(exc, "autosave"))

    def new_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "New project from media", "", MEDIA_FILTER)
        if path:
            self.open_media_path(path)

    def open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open project (.roto folder)")
        if path:
            self.open_path(path)

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.handle_drop(urls)

    def handle_drop(self, paths: list[str]) -> bool:
        if not paths:
            return False
        if len(paths) > 1:
            # several frames dropped: open the sequence they belong to (their folder)
            return self.open_media_path(Path(paths[0]).parent)
        return self.open_path(paths[0])

    # ------------------------------------------------------------------ frames
    def _load_view(self, frame: int):
        """Worker thread: the image and the visible objects' alphas for `frame`."""
        image = self.media.read(frame)
        layers = []
        project = self.project
        for o in list(project.objects):
            if not o.visible:
                continue
            a = project.final_alpha(o.id, frame)
            if a is not None and a.shape == image.shape[:2]:
                layers.append((a, o.color))
        return image, layers

    def _prefetch(self, frame: int) -> None:
        self.media.read(frame)

    def set_frame(self, frame: int) -> None:
        if self.media is None:
            return
        numbers = self.timeline.numbers
        if frame not in numbers:
            import bisect

            i = min(bisect.bisect_left(numbers, frame), len(numbers) - 1)
            frame = numbers[i]
        self.frame = int(frame)
        self.timeline.set_current(self.frame)
        self.frame_spin.blockSignals(True)
        self.frame_spin.setValue(self.frame)
        self.frame_spin.blockSignals(False)
        self._show_prompt()
        self.reader.request(self.frame)

    def refresh_view(self) -> None:
        if self.reader is not None and self.frame is not None:
            self.reader.request(self.frame)

    def _show_loaded(self, frame: int, result) -> None:
        if frame != self.frame:
            return  # a newer frame was asked for; keep painting cheap
        image, layers = result
        self.canvas.set_image(image)
        self.canvas.set_masks(layers)
        self._shown_frame = frame
        self.frameShown.emit(frame)

    def _spin_changed(self, value: int) -> None:
        self.set_frame(value)

    def step(self, n: int) -> None:
        if self.frame is None:
            return
        numbers = self.timeline.numbers
        i = numbers.index(self.frame) if self.frame in numbers else 0
        self.set_frame(numbers[min(max(i + n, 0), len(numbers) - 1)])

    def first_frame(self) -> None:
        if self.timeline.numbers:
            self.set_frame(self.timeline.numbers[0])

    def last_frame(self) -> None:
        if self.timeline.numbers:
            self.set_frame(self.timeline.numbers[-1])

    def play(self, direction: int) -> None:
        if self.media is None:
            return
        self._play_dir = direction
        fps = float(self.media.fps) if getattr(self.media, "fps", None) else 24.0
        self.play_timer.start(max(10, int(1000 / max(fps, 1.0))))

    def stop(self) -> None:
        self._play_dir = 0
        self.play_timer.stop()

    def toggle_play(self) -> None:
        if self.play_timer.isActive():
            self.stop()
        else:
            self.play(1)

    def _play_tick(self) -> None:
        if self.reader is not None and not self.reader.idle():
            return  # decoding is behind: drop this tick rather than queue frames
        numbers = self.timeline.numbers
        i = numbers.index(self.frame) + self._play_dir
        a, b = self.timeline.frame_range() or (numbers[0], numbers[-1])
        lo, hi = numbers.index(a) if a in numbers else 0, numbers.index(b) if b in numbers else len(numbers) - 1
        if i > hi:
            i = lo
        elif i < lo:
            i = hi
        self.set_frame(numbers[i])

    def set_in(self) -> None:
        self.timeline.set_range(self.frame, None)
        self._store_view_state()

    def set_out(self) -> None:
        self.timeline.set_range(None, self.frame)
        self._store_view_state()

    # ------------------------------------------------------------------ view
    def set_view_mode(self, mode: str) -> None:
        self.canvas.set_view_mode(mode)
        i = self.mode_combo.findData(mode)
        if i != self.mode_combo.currentIndex():
            self.mode_combo.setCurrentIndex(i)

    def next_view_mode(self) -> None:
        i = (VIEW_MODES.index(self.canvas.view_mode) + 1) % len(VIEW_MODES)
        self.set_view_mode(VIEW_MODES[i])

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        hints = {"click": "Click: left includes, Alt / right click excludes",
                 "box": "Box: drag around the object",
                 "brush": "Brush: drag paints, Alt / right drag erases, [ ] size",
                 "pan": "Pan: drag to move the view"}
        self.tool_label.setText(hints[tool])
        self.status.showMessage(hints[tool], 4000)

    def _hover(self, x: float, y: float) -> None:
        self.pixel_label.setText(f"x {x:.1f}  y {y:.1f}  zoom {self.canvas.zoom() * 100:.0f}%")

    # ------------------------------------------------------------------ objects
    def _refresh_objects(self) -> None:
        if self.project is None:
            self.objects.refresh([], None)
            return
        ids = [o.id for o in self.project.objects]
        if self.current_obj not in ids:
            self.current_obj = ids[0] if ids else None
        self.objects.refresh(self.project.objects, self.current_obj)

    def add_object(self) -> None:
        if self.project is None:
            return
        self.undo.push(cmd.ObjectAdd(self))

    def delete_object(self, obj_id: str) -> None:
        if self.project is not None:
            self.undo.push(cmd.ObjectDelete(self, obj_id))

    def change_object(self, obj_id: str, attr: str, value) -> None:
        if self.project is None:
            return
        if attr == "name":
            other = self.project.object_by_name(value)
            if other is not None and other.id != obj_id:
                self.show_message(f"an object named {value!r} already exists; choose another name.")
                self._refresh_objects()
                return
        self.undo.push(cmd.ObjectChange(self, obj_id, attr, value))

    def select_object(self, obj_id: str) -> None:
        self.current_obj = obj_id
        self._refresh_objects()
        self._refresh_edges()
        self._show_prompt()
        self._refresh_marks()

    def select_object_number(self, k: int) -> None:
        if self.project is not None and 1 <= k <= len(self.project.objects):
            self.select_object(self.project.objects[k - 1].id)

    def project_changed(self, obj_id: str | None = None, frame: int | None = None) -> None:
        """Called by undo commands and jobs after they change the project."""
        self._refresh_objects()
        self._refresh_edges()
        self._refresh_marks()
        self._show_prompt()
        if frame is None or frame == self.frame:
            self.refresh_view()
        self._update_title()

    def _refresh_marks(self) -> None:
        p = self.project
        if p is None or self.current_obj is None or self.current_obj not in {o.id for o in p.objects}:
            self.timeline.set_marks(prompted=[], done_frames=[], locked=[], attention=[])
            return
        oid = self.current_obj
        done = p.masks.frames(oid)
        locked = list(p.locked.get(oid, []))
        if p.object(oid).locked and self.timeline.numbers:
            locked = [(self.timeline.numbers[0], self.timeline.numbers[-1])]
        have = set(done)  # marks of frames whose mask was undone since go away
        attention = [f for f in p.settings.get("attention", {}).get(oid, []) if f in have]
        self.timeline.set_marks(prompted=p.prompted_frames(oid), done_frames=done, locked=locked,
                                attention=attention)

    def _show_prompt(self) -> None:
        p = self.project
        if p is None or self.current_obj is None or self.frame is None:
            self.canvas.set_prompt([], None)
            return
        fp = p.prompts.get(self.current_obj, {}).get(self.frame)
        color = next((o.color for o in p.objects if o.id == self.current_obj), (255, 255, 255))
        self.canvas.set_prompt(list(fp.points) if fp else [], fp.box if fp else None, color)

    # ------------------------------------------------------------------ editing
    def _editable(self) -> bool:
        if self.project is None or self.frame is None:
            return False
        if self.current_obj is None:
            self.add_object()
        if self.project.is_locked(self.current_obj, self.frame):
            self.show_message("this object is locked on this frame; unlock it (Objects panel or Ctrl+Shift+L) "
                              "to edit.")
            return False
        return True

    def _current_prompt(self):
        from roto_studio.core.project import FramePrompt

        fp = self.project.prompts.get(self.current_obj, {}).get(self.frame)
        return copy.deepcopy(fp) if fp else FramePrompt()

    def on_click(self, x: float, y: float, label: int) -> None:
        if not self._editable():
            return
        before = self._current_prompt()
        after = copy.deepcopy(before)
        after.points.append((float(x), float(y), int(label)))
        self._prompt_edit(before, after, "Include click" if label else "Exclude click")

    def on_box(self, x1, y1, x2, y2) -> None:
        if not self._editable():
            return
        before = self._current_prompt()
        after = copy.deepcopy(before)
        after.box = (float(x1), float(y1), float(x2), float(y2))
        after.points = []  # a new box starts the prompt afresh
        self._prompt_edit(before, after, "Box")

    def _prompt_edit(self, before, after, text: str) -> None:
        oid, frame = self.current_obj, self.frame
        waiting = any((c.obj_id, c.frame) == (oid, frame) for c, _ in self._requests.values())
        command = cmd.MaskEdit(self, oid, frame, self.project.masks.get(oid, frame), before, after,
                               text=text, after_known=False, before_known=not waiting)
        self.undo.push(command)
        self.request_mask(oid, frame, command, "after")

    def request_mask(self, obj_id: str, frame: int, command, which: str = "after") -> None:
        """Ask the engine (newest request wins) for the mask of command's prompt `which`."""
        prompt = command.after_prompt if which == "after" else command.before_prompt
        if self.service is None or prompt is None or prompt.is_empty():
            return
        self.forget_request(command)
        rid = self.service.prompt(obj_id, frame, to_model_prompt(prompt))
        self._requests[rid] = (command, which)
        self.status.showMessage("Segmenting…")

    def forget_request(self, command) -> None:
        for rid, (c, _w) in list(self._requests.items()):
            if c is command:
                del self._requests[rid]
                self._forgotten[rid] = c

    def pending_requests(self) -> int:
        return len(self._requests)

    def _mask_ready(self, rid: int, obj_id: str, frame: int, alpha) -> None:
        entry = self._requests.pop(rid, None)
        if entry is None:
            # the engine stored a mask for a click that was undone meanwhile: put the state back
            c = self._forgotten.pop(rid, None)
            if c is not None and not c.active:
                c.restore_before()
            return
        command, which = entry
        if which == "after":
            command.set_after(alpha)
            # a later click on this frame, made before this answer came, started from this mask
            for c, w in self._requests.values():
                if (c.obj_id, c.frame) == (obj_id, frame) and not c.before_known \
                        and c.before_prompt == command.after_prompt:
                    c.set_before(alpha)
        else:
            command.set_before(alpha)
        if any(r > rid and (c.obj_id, c.frame) == (obj_id, frame) for r, (c, _w) in self._requests.items()):
            return  # a newer click on this frame is on its way; it wins
        self.project.set_prompt(obj_id, frame, copy.deepcopy(
            command.after_prompt if which == "after" else command.before_prompt))
        self.status.showMessage("Mask updated", 2000)
        self.project_changed(obj_id, frame)

    def _request_failed(self, rid: int, message: str) -> None:
        self._requests.pop(rid, None)
        self.show_message(message)

    def on_stroke(self, points, radius: float, add: bool) -> None:
        if not self._editable() or self.canvas.image is None:
            return
        oid, frame = self.current_obj, self.frame
        h, w = self.canvas.image.shape[:2]
        before = self.project.masks.get(oid, frame)
        import numpy as np

        alpha = before.copy() if before is not None else np.zeros((h, w), np.float32)
        hit = rasterize_stroke((h, w), points, radius)
        alpha[hit] = 1.0 if add else 0.0
        fp_before = self._current_prompt()
        fp_after = copy.deepcopy(fp_before)
        fp_after.has_mask = True
        self.undo.push(cmd.MaskEdit(self, oid, frame, before, fp_before, fp_after, after_alpha=alpha,
                                    text="Brush" if add else "Erase"))

    def clear_mask(self) -> None:
        if not self._editable():
            return
        oid, frame = self.current_obj, self.frame
        before = self.project.masks.get(oid, frame)
        fp_before = self._current_prompt()
        from roto_studio.core.project import FramePrompt

        self.undo.push(cmd.MaskEdit(self, oid, frame, before, fp_before, FramePrompt(), text="Clear mask"))

    def lock_range(self) -> None:
        rng = self.timeline.frame_range()
        if self.project is not None and self.current_obj and rng:
            self.undo.push(cmd.LockRange(self, self.current_obj, rng[0], rng[1], True))

    def unlock_range(self) -> None:
        rng = self.timeline.frame_range()
        if self.project is not None and self.current_obj and rng:
            self.undo.push(cmd.LockRange(self, self.current_obj, rng[0], rng[1], False))

    # ------------------------------------------------------------------ jobs
    def _start_job(self, job: Job, kind: str, span=None) -> None:
        self.job, self.job_kind = job, kind
        job.progress.connect(lambda d, t, i, j=job: self._job_progress(d, t, i) if self.job is j else None)
        job.ended.connect(lambda j=job: self._job_ended() if self.job is j else None)
        self._show_job_started(kind, span)
        job.start()

    def _show_job_started(self, kind: str, span=None) -> None:
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.job_label.setText(f"{kind.capitalize()}: starting…")
        self.timeline.busy = span

    def job_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    def propagate(self, direction: str = "forward"):
        """Propagate the current object from this frame over the in/out range (F, B, Shift+F)."""
        if self.project is None or self.frame is None:
            return None
        if self.job_running():
            self.show_message("a job is running; wait for it or press Esc to cancel it.")
            return None
        oid = self.current_obj
        if oid is None or not self.project.masks.has(oid, self.frame):
            self.show_message("make a mask on this frame first (click on the object), then propagate.")
            return None
        numbers = self.timeline.numbers
        a, b = self.timeline.frame_range() or (numbers[0], numbers[-1])
        start = self.frame
        a, b = min(a, start), max(b, start)
        lo, hi = {"forward": (start, b), "backward": (a, start), "both": (a, b)}[direction]
        stop = {"forward": b, "backward": a, "both": (a, b)}[direction]
        masks, service = self.project.masks, self.service
        task = PropagationTask(self, [oid], start, direction, stop)

        def snapshot(progress, cancelled):
            # the masks this run may replace, for undo: the stored 16-bit PNG bytes, not decoded
            before = {}
            for f in masks.frames(oid):
                if lo <= f <= hi and f != start:
                    before[(oid, f)] = _mask_bytes(masks, oid, f)
                if cancelled():
                    break
            return before

        prep = Job(snapshot, "propagation")
        task.prep = prep

        def go(before):
            task.before = before
            if task.cancel_requested:
                task.finish("cancelled", None)
                return
            task.request_id = service.propagate([oid], start, direction, stop)

        prep.succeeded.connect(go)
        prep.failed.connect(lambda msg: task.finish("failed", None, msg))
        prep.cancelled.connect(lambda: task.finish("cancelled", None))
        self.job, self.job_kind = task, "propagate"
        self._show_job_started("propagate", (lo, hi))
        task.started_at = time.perf_counter()
        prep.start()
        return task

    def _on_service_progress(self, rid: int, done: int, total: int) -> None:
        if isinstance(self.job, ServiceTask) and self.job.request_id == rid:
            self.job.done, self.job.total = done, total
            self._job_progress(done, total, None)

    def _on_frame_written(self, rid: int, frame: int, written) -> None:
        if not (isinstance(self.job, PropagationTask) and self.job.request_id == rid):
            return
        if frame == self.frame:
            self.refresh_view()  # the canvas shows frames as they finish
        if self.current_obj in written:
            self.timeline.done.append((frame, frame))
            self.timeline.update()

    def _on_job_finished(self, rid: int, result) -> None:
        if isinstance(self.job, PropagationTask) and self.job.request_id == rid:
            self.job.finish("cancelled" if result.cancelled else "succeeded", result)

    def _on_service_failed(self, rid: int, message: str, retry) -> None:
        if isinstance(self.job, ServiceTask) and self.job.request_id == rid:
            self.job.error = message
            if self.job.state == "running":
                self.job.finish("failed", self.job.result, message)
            else:  # the service first reported what was written before the failure
                self.job_label.setText(self.job_label.text().replace("cancelled", "stopped by an error"))
                self.show_message(message)
            return
        if rid in self._requests:
            self._requests.pop(rid, None)
        if retry and "cpu" in retry and self.ask(f"{message}\n\nTry again on the CPU?", "Out of memory"):
            self.service.retry(rid, "cpu")
            return
        self.show_message(message)

    def _on_service_job_done(self, rid: int, state: str, value) -> None:
        if isinstance(self.job, ServiceTask) and self.job.request_id == rid:
            self.job.finish(state, value)

    def _on_dropped(self, rid: int) -> None:
        # a newer click on the same frame replaced this one before it ran
        self._requests.pop(rid, None)

    def _propagation_done(self, task) -> None:
        result = task.result
        written = result.written if result is not None else {}
        before = {}
        for oid, frames in written.items():
            for f in frames:
                before[(oid, f)] = task.before.get((oid, f))
        n = sum(len(v) for v in written.values())
        if before:
            self.undo.push(cmd.PropagationRun(self, before, f"Propagate {task.direction} ({n} frames)"))
        self.project_changed()
        if written:
            self.check_attention(written)
        if task.state == "succeeded":
            skipped = "; ".join(result.skipped.values()) if result is not None and result.skipped else ""
            self.job_label.setText(f"Propagated {n} frames." + (f" {skipped}." if skipped else ""))
        elif task.state == "cancelled":
            self.job_label.setText(f"Propagation cancelled; kept {n} finished frames.")

    def export_to(self, out_dir, options) -> Job | None:
        if self.project is None:
            return None
        if self.job_running():
            self.show_message("a job is running; wait for it or press Esc to cancel it.")
            return None
        from roto_studio.core.export import export_project

        project = self.project

        def run(progress, cancelled):
            return export_project(project, out_dir, options, progress=lambda d, t: progress(d, t, None),
                                  cancel=cancelled)

        job = Job(run, "export")
        job.run_info = {"out_dir": str(out_dir)}
        self._start_job(job, "export")
        return job

    def cancel_job(self) -> None:
        if self.job_running():
            self.job.cancel()
            self.job_label.setText(f"{self.job_kind.capitalize()}: cancelling (finished frames are kept)…")
        else:
            self.stop()

    def _job_progress(self, done: int, total: int, info) -> None:
        job = self.job
        if job is None:
            return
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        fps, left = job.rate()
        left_txt = f", {left:.0f} s left" if left is not None and done else ""
        self.job_label.setText(f"{self.job_kind.capitalize()}: {done} / {total} frames, {fps:.1f} fps{left_txt}")

    def _job_ended(self) -> None:
        job, kind = self.job, self.job_kind
        if job is None:
            return
        state = job.state
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.timeline.busy = None
        if kind == "propagate":
            self._propagation_done(job)
        elif kind == "export":
            if state == "succeeded":
                self.job_label.setText(f"Exported {len(job.result or [])} files to {job.run_info['out_dir']}.")
            elif state == "cancelled":
                self.job_label.setText("Export cancelled; finished files were kept.")
        elif kind == "matte":
            self._matte_done(job)
        elif kind == "clean plate":
            if state == "succeeded":
                self.job_label.setText(f"Wrote {len(job.result or [])} clean plate frames to {job.run_info['out_dir']}.")
            elif state == "cancelled":
                self.job_label.setText("Clean plate cancelled; finished frames were kept.")
        if state == "failed":
            self.job_label.setText(f"{kind.capitalize()} failed.")
            self.show_message(job.error or f"{kind} failed.")
        if getattr(self, "_restart_after_job", False):
            self._restart_service()
        self.jobEnded.emit(kind, state)

    # ------------------------------------------------------------------ refine: edges, matte, clean plate
    def _refresh_edges(self) -> None:
        p = self.project
        if p is None or self.current_obj is None or self.current_obj not in {o.id for o in p.objects}:
            self.edges.set_settings(None, enabled=False)
            return
        obj = p.object(self.current_obj)
        self.edges.set_settings(obj.refine, enabled=not obj.locked)
        self.edges_dock.setWindowTitle(f"Edges: {obj.name}")

    def change_edge(self, key: str, value) -> None:
        """An edge setting of the current object changed (undoable; a slider drag is one step).
        The canvas shows the result at once: the frame reader computes the final alpha off the
        GUI thread."""
        if self.project is None or self.current_obj is None:
            return
        from roto_studio.core import refine

        obj = self.project.object(self.current_obj)
        settings = refine.changed({**refine.normalize(obj.refine), key: value})
        if settings == refine.changed(obj.refine):
            return
        self.undo.push(cmd.RefineChange(self, obj.id, settings, key))

    def reset_edges(self) -> None:
        if self.project is None or self.current_obj is None:
            return
        if self.project.object(self.current_obj).refine:
            self.undo.push(cmd.RefineChange(self, self.current_obj, {}, ""))

    def _range_frames(self, obj_id: str) -> list[int]:
        """Frames of obj_id with a mask inside the in/out range (all of them without a range)."""
        rng = self.timeline.frame_range()
        frames = self.project.masks.frames(obj_id)
        return [f for f in frames if rng is None or rng[0] <= f <= rng[1]]

    def matte(self, backend: str | None = None, band: int | None = None):
        """Turn the current object's masks over the in/out range into soft mattes (ViTMatte when
        its weights are installed, classical matting otherwise), in the model thread (Esc cancels;
        undo puts back the masks it replaced)."""
        if self.project is None:
            return None
        if self.job_running():
            self.show_message("a job is running; wait for it or press Esc to cancel it.")
            return None
        oid = self.current_obj
        if oid is None:
            return None
        frames = [f for f in self._range_frames(oid) if not self.project.is_locked(oid, f)]
        if not frames:
            self.show_message("this object has no unlocked masks in the range; click or propagate first, then matte.")
            return None
        backend = backend or str(self.settings.value("models/matte_backend", "auto"))
        task = ServiceTask(self, "matte")
        task.run_info = {"frames": len(frames), "backend": backend}
        self.job, self.job_kind = task, "matte"
        self._show_job_started("matte", (frames[0], frames[-1]))
        task.request_id = self.service.job(_matte_frames, oid, frames, backend, band, task.before)
        return task

    def _matte_done(self, task) -> None:
        written = task.result or []
        before = dict(task.before)  # every frame the run touched, also when it stopped early
        n = len(before)
        if before:
            self.undo.push(cmd.PropagationRun(self, before, f"Matte edges ({n} frames)"))
        self.project_changed()
        if task.state == "succeeded":
            self.job_label.setText(f"Matted {len(written)} frames.")
        elif task.state == "cancelled":
            self.job_label.setText(f"Matting cancelled; kept {n} finished frames.")

    def clean_plate_dialog(self) -> None:
        if self.project is None or self.current_obj is None:
            return
        name = self.project.object(self.current_obj).name
        last = self.settings.value("cleanplate/folder", str(Path.home() / "roto_exports" / self.project.name))
        folder = QFileDialog.getExistingDirectory(self, f"Folder for the clean plate of {name}", str(last))
        if folder:
            self.settings.setValue("cleanplate/folder", folder)
            self.clean_plate_to(folder)

    def clean_plate_to(self, out_dir) -> Job | None:
        """Remove the current object over the in/out range and write the clean frames to out_dir
        (a cancellable job with progress)."""
        if self.project is None or self.current_obj is None:
            return None
        if self.job_running():
            self.show_message("a job is running; wait for it or press Esc to cancel it.")
            return None
        oid, project = self.current_obj, self.project
        if not project.masks.frames(oid):
            self.show_message("this object has no masks yet; segment or propagate it first, then make a clean plate.")
            return None
        rng = self.timeline.frame_range()
        frames = [f for f in self.timeline.numbers if rng is None or rng[0] <= f <= rng[1]]

        def run(progress, cancelled):
            from roto_studio.commands.cleanplate import write_clean_plate

            return write_clean_plate(project, oid, out_dir, frames=frames,
                                     progress=lambda d, t: progress(d, t, None), cancel=cancelled)

        job = Job(run, "clean plate")
        job.run_info = {"out_dir": str(out_dir)}
        self._start_job(job, "clean plate", (frames[0], frames[-1]) if frames else None)
        return job

    # ------------------------------------------------------------------ frames needing attention
    def check_attention(self, written: dict) -> None:
        """After a propagation: in a thread, mark frames whose mask area jumps versus the frame
        before (or empties); shown on the timeline, A / Shift+A jump to them."""
        from roto_studio.workers.jobs import attention_frames

        project, numbers = self.project, list(self.timeline.numbers)
        written = {oid: list(frames) for oid, frames in written.items()}

        def run(progress, cancelled):
            return {oid: attention_frames(project.masks, oid, frames, numbers, cancelled=cancelled)
                    for oid, frames in written.items()}

        def done(found):
            if self.project is not project:
                return
            marks = project.settings.setdefault("attention", {})
            for oid, flagged in found.items():
                keep = set(marks.get(oid, [])) - set(written[oid])
                marks[oid] = sorted(keep | set(flagged))
            self._refresh_marks()
            total = sum(len(v) for v in found.values())
            if total:
                self.status.showMessage(f"{total} propagated frames may need a look (A jumps to the next).", 8000)
            self.attentionChecked.emit(found)

        job = Job(run, "attention check", parent=self)
        job.succeeded.connect(done)
        self._attention_job = job
        job.start()

    def jump_attention(self, direction: int = 1) -> None:
        marks = sorted(self.timeline.attention)
        if self.frame is None or not marks:
            self.status.showMessage("No frames need attention.", 3000)
            return
        after = [f for f in marks if f > self.frame] if direction > 0 else [f for f in marks if f < self.frame][::-1]
        if not after:
            self.status.showMessage("No more frames needing attention that way.", 3000)
            return
        self.set_frame(after[0])

    # ------------------------------------------------------------------ dialogs
    def export_dialog(self) -> None:
        if self.project is None:
            return
        from roto_studio.ui.dialogs import ExportDialog

        last = self.settings.value("export/folder", str(Path.home() / "roto_exports" / self.project.name))
        d = ExportDialog(self.project, self.timeline.frame_range(), last, self)
        if d.exec():
            out = d.out.text().strip()
            if not out:
                self.show_message("choose a folder to export to.")
                return
            self.settings.setValue("export/folder", out)
            self.export_to(out, d.options())

    def settings_dialog(self) -> None:
        from roto_studio.ui.dialogs import SettingsDialog

        d = SettingsDialog(self.model_settings(), self)
        if d.exec():
            self.apply_model_settings(d.values())

    def apply_model_settings(self, v: dict) -> None:
        s = self.settings
        s.setValue("models/device", v["device"])
        s.setValue("models/precision", v["precision"])
        s.setValue("models/backend", v["backend"])
        s.setValue("models/offline_dir", v["offline_dir"])
        s.setValue("media/frame_cache_mb", v["frame_cache_mb"])
        s.setValue("project/autosave_s", v["autosave_s"])
        self._apply_autosave_interval()
        if v["offline_dir"]:
            try:
                from roto_studio.models import weights

                weights.set_offline_folders([v["offline_dir"]])
            except Exception:  # noqa: BLE001
                pass
        if self.project is not None and not self.job_running():
            self._stop_service()
            self._start_service()

    def shortcuts_dialog(self) -> None:
        from roto_studio.ui.dialogs import ShortcutsDialog

        d = ShortcutsDialog(self)
        d.setModal(False)
        d.show()
        self._shortcuts = d

    # ------------------------------------------------------------------ close
    def closeEvent(self, event):
        self._store_view_state()
        if self.project is not None and not self.undo.isClean():
            try:
                self.project.autosave()
            except OSError:
                pass
        self._save_settings()
        self._close_project()
        super().closeEvent(event)
