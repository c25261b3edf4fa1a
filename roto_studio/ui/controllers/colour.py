"""Colour in the window: the shot's input colour space (a combo box in the status bar, saved in the
project, its tooltip saying why it was guessed) and the display / view the canvas shows (View >
Display / view, saved in the settings and with the project, so the models and headless renders
see the same display-referred image). A change re-reads the current frame; alpha is untouched."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup

from roto_studio.core.errors import RotoError
from roto_studio.ui import settings_keys as keys


class ColourController(QObject):
    viewChanged = Signal()  # the media now shows another colour space or display / view

    def __init__(self, shot, space_combo, view_menu, parent=None):
        super().__init__(parent)
        self.shot, self.space_combo, self.view_menu = shot, space_combo, view_menu
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.view_actions: dict[tuple[str, str], QAction] = {}
        space_combo.setEnabled(False)
        space_combo.activated.connect(lambda _i: self.set_space(space_combo.currentText()))
        shot.opened.connect(self._opened)
        shot.closing.connect(self._closing)

    # ------------------------------------------------------------------ shot life
    def _opened(self) -> None:
        shot = self.shot
        media, project = shot.media, shot.project
        if not hasattr(media, "colour_config"):
            return
        display = project.settings.get("display") or keys.COLOUR_DISPLAY.read(shot.settings) or None
        view = project.settings.get("view") or keys.COLOUR_VIEW.read(shot.settings) or None
        if (display, view) != (media.view.display, media.view.view) and (display or view):
            try:
                media.configure_colour(media.colour_config, project.settings.get("colorspace") or None,
                                       display, view)
            except RotoError as exc:  # a display / view this config lacks: keep the default
                shot.say(str(exc))
        if media.colour_config.source == "built-in":
            project.settings.setdefault("ocio_config", media.colour_config.name)
        self._fill_spaces()
        self._fill_views()

    def _closing(self) -> None:
        self.space_combo.clear()
        self.space_combo.setEnabled(False)
        self.view_menu.clear()
        self.view_actions.clear()

    def _fill_spaces(self) -> None:
        media = self.shot.media
        combo = self.space_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(media.colour_config.spaces())
        combo.setCurrentText(media.colorspace)
        combo.setToolTip(f"Input colour space: {media.colorspace} ({media.colorspace_reason})")
        combo.setEnabled(True)
        combo.blockSignals(False)

    def _fill_views(self) -> None:
        media = self.shot.media
        config = media.colour_config
        self.view_menu.clear()
        self.view_actions.clear()
        for display in config.displays():
            sub = self.view_menu.addMenu(display)
            for view in config.views(display):
                act = QAction(view, self)
                act.setCheckable(True)
                act.setChecked((display, view) == (media.view.display, media.view.view))
                act.triggered.connect(lambda _c=False, d=display, v=view: self.set_view(d, v))
                self.group.addAction(act)
                sub.addAction(act)
                self.view_actions[(display, view)] = act

    # ------------------------------------------------------------------ choices
    def set_space(self, name: str) -> bool:
        shot = self.shot
        media = shot.media
        if media is None or not name or name == media.colorspace:
            return False
        try:
            media.configure_colour(media.colour_config, name, media.view.display, media.view.view)
        except RotoError as exc:
            shot.say(str(exc))
            self._fill_spaces()
            return False
        shot.project.settings["colorspace"] = name
        self._fill_spaces()
        self._changed(f"Input colour space: {name}")
        return True

    def set_view(self, display: str, view: str) -> bool:
        shot = self.shot
        media = shot.media
        if media is None:
            return False
        try:
            media.configure_colour(media.colour_config, shot.project.settings.get("colorspace") or None,
                                   display, view)
        except RotoError as exc:
            shot.say(str(exc))
            return False
        keys.COLOUR_DISPLAY.write(shot.settings, display)
        keys.COLOUR_VIEW.write(shot.settings, view)
        shot.project.settings["display"], shot.project.settings["view"] = display, view
        act = self.view_actions.get((display, view))
        if act is not None:
            act.setChecked(True)
        self._changed(f"Viewing through {display} / {view}")
        return True

    def _changed(self, text: str) -> None:
        self.shot.status(text, 5000)
        self.viewChanged.emit()
        self.shot.project_changed(None, None)  # the canvas re-reads the frame; the project is edited
