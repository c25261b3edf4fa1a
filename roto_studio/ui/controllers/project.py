"""The project life cycle: new from media, open (offering a newer autosave), save, save as,
autosave on a timer, close, recent files and dropped paths. Opening sets the shot's project and
media and emits `opened`; closing emits `closing` so the other controllers stop first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog

from roto_studio.core.errors import RotoError
from roto_studio.core.paths import projects_dir
from roto_studio.ui import undo as cmd
from roto_studio.ui import recovery
from roto_studio.workers.jobs import plain_message
from roto_studio.ui import settings_keys as keys

MAX_RECENT = 10


def sequence_of(path: Path) -> tuple[Path, int | None]:
    """(what to open, frame to show): a frame of a numbered sequence gives the sequence's pattern
    and that frame's number; anything else (a video, a folder, a lone image) is opened as it is."""
    from roto_studio.core.media import sequence_pattern_for
    from roto_studio.core.media.patterns import parse_pattern

    if not path.is_file():
        return path, None
    try:
        pattern = sequence_pattern_for(path)
        if pattern is None:
            return path, None
        parsed = parse_pattern(pattern)
        if parsed is None:  # sequence_pattern_for names a frame token: not expected
            return path, None
        number = parsed.match(path.name)
    except (RotoError, OSError):
        return path, None
    return Path(pattern), number


class ProjectController(QObject):
    def __init__(self, shot, recent_menu, parent_widget, parent=None):
        super().__init__(parent)
        self.shot, self.recent_menu, self.parent_widget = shot, recent_menu, parent_widget
        self._quit_note = False  # the artist chose Discard when quitting
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self.apply_autosave_interval()
        shot.settingsChanged.connect(self.apply_autosave_interval)
        self.update_recent_menu()

    # ------------------------------------------------------------------ opening
    def open_path(self, path) -> bool:
        """A dropped or chosen path: a project (.roto folder or its project.json) or media."""
        p = Path(path)
        if p.suffix == ".roto" or p.name in ("project.json", "autosave.json") or (p / "project.json").exists():
            return self.open_project(p)
        return self.open_media_path(p)

    def handle_drop(self, paths: list[str]) -> bool:
        """Dropped files: a project, a video, a folder of frames, or frames (one frame of a
        numbered sequence opens the whole sequence at that frame; several frames open the
        sequence they belong to, at the first of them)."""
        if not paths:
            return False
        if len(paths) > 1:
            return self.open_media_path(sorted(paths)[0])
        return self.open_path(paths[0])

    def open_media_path(self, path) -> bool:
        from roto_studio.core.media import open_media
        from roto_studio.core.project import create_project

        shot, path = self.shot, Path(path)
        if not self._confirm_discard():
            return False
        path, start = sequence_of(path)
        try:
            media = open_media(path, cache_bytes=shot.frame_cache_bytes())
            folder = self._untitled_folder(path)
            project = create_project(folder, path)
            if start is not None and start in media.frame_numbers:
                project.settings["frame"] = start  # the frame chosen is the current frame
            project.save()
        except (RotoError, OSError) as exc:
            shot.say(plain_message(exc, f"opening {path.name}"))
            return False
        self._set_project(project, media)
        self._add_recent(str(project.folder))
        shot.undo.push(cmd.ObjectAdd(shot))
        shot.undo.clear()
        shot.undo.setClean()
        what = path.name if start is None else f"the sequence {path.name}"
        shot.say(f"Opened {what}: {media.width}×{media.height}, {media.frame_count} frames. "
                 "Click on the thing to cut out.", error=False)
        return True

    def _untitled_folder(self, media_path: Path) -> Path:
        base = projects_dir()
        stem = media_path.stem.split(".")[0].rstrip("#@_-") or media_path.parent.name or "shot"
        for i in range(1, 10000):
            folder = base / (f"{stem}.roto" if i == 1 else f"{stem}-{i}.roto")
            if not folder.exists():
                return folder
        raise RotoError(f"too many projects named {stem} in {base}; clean it up or use Save As.")

    def open_project(self, path) -> bool:
        from roto_studio.core.project import autosave_is_newer, load_project, project_folder

        shot = self.shot
        folder = project_folder(Path(path))
        if not self._confirm_discard():
            return False
        try:
            use_auto = False
            if autosave_is_newer(folder):
                use_auto = shot.ask(recovery.question(shot.settings, folder), "Restore autosave")
            project = load_project(folder, use_autosave=use_auto)
            media = project.open_media(cache_bytes=shot.frame_cache_bytes())
        except (RotoError, OSError) as exc:
            shot.say(plain_message(exc, f"opening {folder.name}"))
            return False
        self._set_project(project, media)
        self._add_recent(str(project.folder))
        shot.undo.clear()
        if use_auto:
            shot.undo.resetClean()  # the restored changes are not saved yet: quitting asks
            shot.say("Restored the autosaved state; save to keep it.", error=False)
        else:
            shot.undo.setClean()
        return True

    def _set_project(self, project, media) -> None:
        self.close_project()
        shot = self.shot
        shot.project, shot.media = project, media
        try:
            project.masks.cleanup()
        except Exception:  # noqa: BLE001
            pass
        shot.opened.emit()

    def close_project(self) -> None:
        """Stop everything working on the shot (controllers listen to `closing`), close the media."""
        shot = self.shot
        shot.closing.emit()
        if shot.media is not None:
            try:
                shot.media.close()
            except Exception:  # noqa: BLE001
                pass
            shot.media = None

    def _confirm_discard(self) -> bool:
        # Masks are on disk as soon as they are made; unsaved object/prompt changes sit in the
        # autosave. Switching shots keeps the current project's autosave.
        if self.shot.project is not None and not self.shot.undo.isClean():
            try:
                self.shot.project.autosave()
                recovery.note(self.shot.settings, self.shot.project.folder, recovery.SWITCH)
            except OSError:
                pass
        return True

    # ------------------------------------------------------------------ saving
    def save_project(self) -> bool:
        project = self.shot.project
        if project is None:
            return False
        if project.folder.resolve().is_relative_to(projects_dir().resolve()) and \
                not project.settings.get("saved_by_user"):
            return self.save_as_dialog()
        return self._save(None)

    def _save(self, folder) -> bool:
        shot = self.shot
        self.shot.aboutToSave.emit()
        try:
            if folder is not None:
                shot.project.settings["saved_by_user"] = True
            shot.project.save(folder)
        except (RotoError, OSError) as exc:
            shot.say(plain_message(exc, "saving"))
            return False
        shot.undo.setClean()
        recovery.forget(shot.settings, shot.project.folder)
        self._add_recent(str(shot.project.folder))
        shot.saved.emit()
        shot.status(f"Saved {shot.project.folder}", 5000)
        return True

    def save_project_as(self, folder) -> bool:
        folder = Path(folder)
        if folder.suffix != ".roto":
            folder = folder.with_name(folder.name + ".roto")
        if folder.exists() and (folder / "project.json").exists() and \
                folder.resolve() != self.shot.project.folder.resolve():
            if not self.shot.ask(f"{folder.name} already exists. Replace its project file?"):
                return False
        return self._save(folder)

    def save_as_dialog(self) -> bool:
        project = self.shot.project
        if project is None:
            return False
        path, _ = QFileDialog.getSaveFileName(self.parent_widget, "Save project as",
                                              str(Path.home() / f"{project.name}.roto"),
                                              "Roto Studio project (*.roto)")
        return self.save_project_as(path) if path else False

    def autosave(self) -> None:
        shot = self.shot
        if shot.project is None or shot.undo.isClean():
            return
        self.shot.aboutToSave.emit()
        try:
            shot.project.autosave()
        except OSError as exc:
            shot.say(plain_message(exc, "autosave"))

    def apply_autosave_interval(self) -> None:
        secs = int(keys.AUTOSAVE_S.read(self.shot.settings))
        if secs > 0:
            self.autosave_timer.start(secs * 1000)
        else:
            self.autosave_timer.stop()

    def confirm_close(self, ask_save) -> bool:
        """Quitting with unsaved changes: ask_save(question) -> 'save' | 'discard' | 'cancel'.
        False keeps the window open (Cancel, or a save that did not happen)."""
        shot = self.shot
        if shot.project is None or shot.undo.isClean():
            return True
        answer = ask_save(f"Save the changes to {shot.project.name} before quitting?")
        if answer == "save":
            return self.save_project()
        if answer == "discard":
            self._quit_note = True
            return True
        return False

    def close_event(self) -> None:
        """The window closes: keep unsaved changes in the autosave (also after Discard: the
        next open offers them back and says why they are there), then close the shot."""
        self.shot.aboutToSave.emit()
        if self.shot.project is not None and not self.shot.undo.isClean():
            try:
                self.shot.project.autosave()
                if self._quit_note:
                    recovery.note(self.shot.settings, self.shot.project.folder, recovery.QUIT)
            except OSError:
                pass

    # ------------------------------------------------------------------ the shot's settings
    def shot_settings_dialog(self) -> None:
        from roto_studio.ui.dialogs import ShotSettingsDialog

        shot = self.shot
        if shot.project is None or shot.media is None:
            return
        d = ShotSettingsDialog(shot.media, shot.project.settings.get("fps"), self.parent_widget)
        if d.exec():
            self.set_fps(d.value())

    def set_fps(self, text: str | None) -> bool:
        """The shot's frame rate ('' or None: the files' own), undoable and saved in the project."""
        from roto_studio.core.framerate import fps_decimal, fps_text, parse_fps

        shot = self.shot
        if shot.project is None:
            return False
        try:
            value = fps_text(parse_fps(text)) if text else None
        except RotoError as exc:
            shot.say(str(exc))
            return False
        if value == shot.project.settings.get("fps"):
            return True
        media = shot.media
        label = f"Frame rate {fps_decimal(parse_fps(value))}" if value else "Frame rate from the files"
        shot.undo.push(cmd.ProjectSetting(shot, "fps", value, label,
                                          after=lambda v: media.set_fps(v) if media is not None else None))
        if media is not None:
            shot.status(f"Frame rate: {fps_decimal(media.fps)} fps, {media.fps_note}.", 6000)
        return True

    # ------------------------------------------------------------------ dialogs and recent files
    def new_dialog(self) -> None:
        """A video, any frame of an image sequence (the sequence opens), or a folder of frames
        (the dialog's "Open folder" button)."""
        from roto_studio.ui.media_dialog import choose_media

        path = choose_media(self.parent_widget)
        if path:
            self.open_media_path(path)

    def new_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.parent_widget, "New project from a folder of frames")
        if path:
            self.open_media_path(path)

    def open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.parent_widget, "Open project (.roto folder)")
        if path:
            self.open_path(path)

    def recent_files(self) -> list[str]:
        return [str(p) for p in keys.RECENT.read(self.shot.settings)]

    def _add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent_files() if p != path]
        keys.RECENT.write(self.shot.settings, items[:MAX_RECENT])
        self.update_recent_menu()

    def update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
        self.recent_menu.setEnabled(bool(self.recent_files()))
