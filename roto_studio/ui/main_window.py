"""The studio window: a thin composition. It builds the widgets, hands them to one controller per
concern (ui/controllers: project life cycle, playback, prompting and tools, objects and edges,
jobs, the model service, settings), builds the menus and shortcuts from ui.actions, and shows
messages. The controllers talk through the shared Shot (ui.shot: state and signals), never
through each other; state lives in the project (core), work runs in workers.

To add a concern: a controller module in ui/controllers taking the Shot and its widgets, built
in __init__ below, its actions in ui.actions (slot "name.method" with `name` added to the
targets given to build_actions)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFrame, QScrollArea, QHBoxLayout, QLabel, QMainWindow, QMenu,
                               QMessageBox, QProgressBar, QSizePolicy, QSlider, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from roto_studio.ui.actions import build_actions, needs_project
from roto_studio.ui.canvas import VIEW_MODES, Canvas
from roto_studio.ui.cleanplate_view import CleanPlateController
from roto_studio.ui.controllers.colour import ColourController
from roto_studio.ui.controllers.find import FindController
from roto_studio.ui.controllers.jobs import JobsController
from roto_studio.ui.controllers.models import ModelsController
from roto_studio.ui.controllers.pipeline import PipelineController
from roto_studio.ui.controllers.objects import ObjectsController
from roto_studio.ui.controllers.playback import PlaybackController
from roto_studio.ui.controllers.project import ProjectController
from roto_studio.ui.controllers.prompting import PromptController
from roto_studio.ui.controllers.service import ServiceController
from roto_studio.ui.controllers.settings import SettingsController
from roto_studio.ui.controllers.shapes import ShapesController
from roto_studio.ui.controllers.track_text import TrackTextController
from roto_studio.ui.edge_panel import EdgePanel
from roto_studio.ui.find_bar import FindBar
from roto_studio.ui.objects_panel import ObjectsPanel
from roto_studio.ui.shot import Shot
from roto_studio.ui.status_line import FloatOver, StatusLine
from roto_studio.ui.timeline import Timeline
from roto_studio.ui.timeline_tracks import TimelineColumn, TracksController
from roto_studio.ui.toolbar import BrushRing, ToolBar

log = logging.getLogger(__name__)


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
        self.shot = shot = Shot(self.settings, self)
        self.undo = shot.undo
        # ask(question, title) -> bool; tests replace it to answer without a modal box
        self.ask = self._ask_box
        shot.ask = lambda *a, **k: self.ask(*a, **k)
        # ask_save(question) -> 'save' | 'discard' | 'cancel' on quitting with unsaved changes
        self.ask_save = self._ask_save_box
        self._message_timer = QTimer(self, singleShot=True, interval=10000)
        self._message_timer.timeout.connect(lambda: self.message.setVisible(False))
        self._build_widgets()

        # The order matters: slots run in the order they were connected. Objects fix the current
        # object before the others redraw; on closing, playback stops before the jobs are
        # cancelled and the jobs before the service stops.
        self.models_ctl = ModelsController(shot, self, self)  # offline folder before the service
        self.message.linkActivated.connect(self.models_ctl.open_link)
        self.backend_label.linkActivated.connect(self.models_ctl.open_link)
        self.objects_ctl = ObjectsController(shot, self.objects, self.edges, self.edges_dock, self)
        self.playback: PlaybackController = PlaybackController(shot, self.canvas, self.timeline, self.frame_spin, self)
        self.jobs = JobsController(shot, self.timeline, self.progress, self.job_label, self.cancel_button,
                                   self, self)
        self.service_ctl = ServiceController(shot, self.backend_combo, self.backend_label, self)
        self.prompting = PromptController(shot, self.canvas, self.timeline, self.mode_combo, self.opacity,
                                          self.tool_label, self.pixel_label, self)
        self.settings_ctl = SettingsController(shot, self, self.canvas, self.mode_combo, self.opacity, self)
        self.recent_menu = QMenu("Open recent", self)
        self.projects = ProjectController(shot, self.recent_menu, self, self)
        self.find_ctl = FindController(shot, self.find_bar, self)
        self.pipeline = PipelineController(shot, self, self)
        self.shapes = ShapesController(shot, self.canvas, self.timeline, self.edges, self)
        self.cleanplate_ctl = CleanPlateController(shot, self.jobs, self.playback, self, self)
        self.track_ctl = TrackTextController(shot, self.find_bar, self.find_ctl, self.jobs, self.timeline, self)

        self.actions_by_name, self.menus = build_actions(self, {
            "project": self.projects, "playback": self.playback, "prompting": self.prompting,
            "objects": self.objects_ctl, "jobs": self.jobs, "settings": self.settings_ctl,
            "window": self, "canvas": self.canvas, "undo": self.undo, "pipeline": self.pipeline,
            "shapes": self.shapes, "models": self.models_ctl, "cleanplate": self.cleanplate_ctl})
        self.cleanplate_ctl.bind(self.actions_by_name["clean_plate_view"])
        self.menus["&File"].insertMenu(self.actions_by_name["save"], self.recent_menu)
        self.actions_by_name["shapes_view"].setCheckable(True)
        self.shapes.viewToggled.connect(self.actions_by_name["shapes_view"].setChecked)
        self.display_menu = self.menus["&View"].addMenu("Display / view")
        self.colour = ColourController(shot, self.colour_combo, self.display_menu, self)

        self.tool_bar = ToolBar(self.actions_by_name, self.canvas, ["prop_all", "clean_plate_view"], self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.tool_bar)
        self.brush_ring = BrushRing(self.canvas, self)
        self.tracks_ctl = TracksController(shot, self.timeline_column, self.objects_ctl.select_object, self)
        self.jobs.attentionChecked.connect(lambda _f: self.tracks_ctl.refresh())
        shot.objectChanged.connect(lambda _o: self.jobs.name_propagation_actions(self.actions_by_name))
        shot.changed.connect(lambda _o, _f: self.jobs.name_propagation_actions(self.actions_by_name))
        shot.opened.connect(lambda: self.jobs.name_propagation_actions(self.actions_by_name))

        shot.messageRequested.connect(self.show_message)
        shot.statusRequested.connect(lambda text, ms: self.status_line.show_text(text, ms))
        shot.opened.connect(self._update_enabled)
        shot.opened.connect(self._update_title)
        shot.changed.connect(lambda _o, _f: self._update_title())
        shot.saved.connect(self._update_title)
        shot.undo.cleanChanged.connect(lambda _c: self._update_title())
        shot.jobEnded.connect(self.jobEnded)
        self.playback.frameShown.connect(self.frameShown)
        self.jobs.attentionChecked.connect(lambda _f: self.playback.refresh_marks())
        self.jobs.attentionChecked.connect(self.attentionChecked)

        self.prompting.set_tool("click")
        self.settings_ctl.load_window_settings()
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        self.canvas = Canvas()
        self.message = QLabel()
        self.message.setObjectName("message_bar")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setVisible(False)
        self.message.setStyleSheet("QLabel{background:#5a2a2a;color:#fff;padding:6px;}")
        self.timeline = Timeline()
        self.frame_spin = QSpinBox()
        self.frame_spin.setObjectName("frame_spin")
        self.frame_spin.setKeyboardTracking(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("job_progress")
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(380)
        self.job_label = QLabel()
        self.job_label.setObjectName("job_label")
        # a long job message must not widen the centre (the docks would give way, the frame move)
        self.job_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel (Esc)")
        self.cancel_button.setVisible(False)

        transport = QHBoxLayout()
        transport.setContentsMargins(4, 0, 4, 0)
        self.transport_buttons = {}
        for key, text, tip, slot in [
            ("first", "|◀", "First frame (Home)", lambda: self.playback.first_frame()),
            ("back", "◀", "Play backward (J)", lambda: self.playback.play(-1)),
            ("stop", "■", "Stop (K)", lambda: self.playback.stop()),
            ("play", "▶", "Play (L / Space)", lambda: self.playback.play(1)),
            ("last", "▶|", "Last frame (End)", lambda: self.playback.last_frame()),
        ]:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            transport.addWidget(b)
            self.transport_buttons[key] = b
        transport.addWidget(self.frame_spin)
        self.timeline_column = TimelineColumn(self.timeline)
        transport.addWidget(self.timeline_column, 1)
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
        cl.addWidget(self.canvas, 1)
        self._banner = FloatOver(self.message, self.canvas)  # over the canvas: the frame stays put
        cl.addWidget(bottom)
        self.setCentralWidget(center)

        # right: objects + view
        self.objects = ObjectsPanel()
        view = QWidget()
        vl = QVBoxLayout(view)
        vl.setContentsMargins(4, 4, 4, 4)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("view_mode")
        for m in VIEW_MODES:
            self.mode_combo.addItem({"cutout": "cut-out"}.get(m, m), m)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("overlay_opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.tool_label = QLabel()
        self.tool_label.setWordWrap(True)
        self.backend_combo = QComboBox()
        self.backend_combo.setObjectName("backend_combo")
        self.backend_combo.setToolTip("Segmentation and tracking backend for this shot (saved with the project)")
        self.backend_label = QLabel("Backend: no shot yet")
        self.backend_label.setObjectName("backend_label")
        self.backend_label.setWordWrap(True)
        self.backend_label.setTextFormat(Qt.TextFormat.RichText)
        for w in (QLabel("View"), self.mode_combo, QLabel("Overlay opacity"), self.opacity,
                  QLabel("Backend for this shot"), self.backend_combo, self.backend_label, self.tool_label):
            vl.addWidget(w)
        vl.addStretch(1)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        self.find_bar = FindBar()
        sl.addWidget(self.find_bar)
        sl.addWidget(self.objects, 2)
        sl.addWidget(view, 1)
        self.objects_dock = self._dock("Objects", "objects_dock", side)
        self.edges = EdgePanel()
        self.edges_dock = self._dock("Edges", "edges_dock", self.edges)
        # the progress row keeps its height while no job runs: the canvas does not jump
        for row_widget in (self.progress, self.cancel_button):
            policy = row_widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            row_widget.setSizePolicy(policy)
        self.status = self.statusBar()
        self.status_line = StatusLine()
        self.status.addWidget(self.status_line, 1)
        self.pixel_label = QLabel()
        self.pixel_label.setObjectName("pixel_label")
        self.pixel_label.setMinimumWidth(self.pixel_label.fontMetrics().horizontalAdvance(
            "x 00000.0  y 00000.0  zoom 0000%") + 8)  # the read-out does not push the status line
        self.status.addPermanentWidget(self.pixel_label)
        self.colour_combo = QComboBox()
        self.colour_combo.setObjectName("colour_combo")
        self.colour_combo.setMinimumContentsLength(30)  # "sRGB Encoded Rec.709 (sRGB)" readable
        self.colour_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.colour_combo.view().setMinimumWidth(360)  # the list shows the longest names whole
        self.status.addPermanentWidget(self.colour_combo)

    def _dock(self, title: str, name: str, widget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        # scrolled, so a label that wraps to another line never makes the window taller (the frame
        # would move) and the window fits a laptop screen whatever the docks hold
        scroll = QScrollArea()
        scroll.setObjectName(f"{name}_scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(widget)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    # ------------------------------------------------------------------ messages and state
    def show_message(self, text: str, error: bool = True) -> None:
        """Plain message in the window (never a traceback); a "weights missing" message links to
        the model manager instead of a terminal command."""
        from roto_studio.ui.model_links import plain, rich

        self.message.setText(rich(text))
        text = plain(text)
        self.message.setStyleSheet("QLabel{background:%s;color:#fff;padding:6px;}"
                                   % ("#6a2a2a" if error else "#2a4a6a"))
        self.message.setVisible(True)
        self._banner.place()
        self._message_timer.start()
        self.status_line.show_text(text, 10000)
        (log.warning if error else log.info)("%s", text)

    def _ask_box(self, question: str, title: str = "Roto Studio") -> bool:
        r = QMessageBox.question(self, title, question)
        return r == QMessageBox.StandardButton.Yes

    def _ask_save_box(self, question: str) -> str:
        b = QMessageBox.StandardButton
        r = QMessageBox.question(self, "Unsaved changes", question, b.Save | b.Discard | b.Cancel, b.Save)
        return {b.Save: "save", b.Discard: "discard"}.get(r, "cancel")

    def _update_title(self) -> None:
        name = self.shot.project.name if self.shot.project else "no shot"
        try:
            dirty = "" if self.undo.isClean() else " •"
        except RuntimeError:  # the stack is being destroyed with the window
            return
        self.setWindowTitle(f"{name}{dirty} — Roto Studio")

    def _update_enabled(self) -> None:
        has = self.shot.project is not None
        for k in needs_project():
            self.actions_by_name[k].setEnabled(has)
        self.backend_combo.setEnabled(has)
        self.objects_ctl.refresh_edges()

    def escape(self) -> None:
        """Esc: cancel the running job, else stop playing."""
        if not self.jobs.cancel_job():
            self.playback.stop()

    def shortcuts_dialog(self) -> None:
        from roto_studio.ui.help import HelpDialog

        d = HelpDialog(self, open_link=self.models_ctl.open_link)
        d.setModal(False)
        d.show()
        self._shortcuts = d

    # ------------------------------------------------------------------ drag and drop, close
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
            self.projects.handle_drop(urls)

    def quit(self) -> bool:
        """File > Quit: asks Save / Discard / Cancel when there are unsaved changes, then closes."""
        if not self.projects.confirm_close(self.ask_save):
            return False
        self._quit_confirmed = True
        return self.close()

    def closeEvent(self, event):
        # The window's close button (a spontaneous event) asks as Quit does; close() from code
        # (scripts, tests, the smoke check) does not ask: unsaved changes go to the autosave.
        if event.spontaneous() and not getattr(self, "_quit_confirmed", False) \
                and not self.projects.confirm_close(self.ask_save):
            event.ignore()
            return
        self.projects.close_event()
        self.models_ctl.close()
        self.settings_ctl.save_window_settings()
        self.projects.close_project()
        self.service_ctl.close()  # stops the local model server child
        super().closeEvent(event)
