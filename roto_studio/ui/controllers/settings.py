"""Settings: the window's own (geometry, docks, view mode, overlay opacity, brush size) restored
at start and saved at close, and the model / project settings edited in the Settings dialog
(device, precision, default backend, offline weights folder, model server, frame cache, autosave)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from roto_studio.ui import settings_keys as keys


class SettingsController(QObject):
    def __init__(self, shot, window, canvas, mode_combo, opacity, parent=None):
        super().__init__(parent)
        self.shot, self.window, self.canvas = shot, window, canvas
        self.mode_combo, self.opacity = mode_combo, opacity

    def load_window_settings(self) -> None:
        s, w = self.shot.settings, self.window
        geo = keys.WINDOW_GEOMETRY.read(s)
        if geo is not None:
            w.restoreGeometry(geo)
        else:
            w.resize(1280, 800)
        state = keys.WINDOW_STATE.read(s)
        if state is not None:
            w.restoreState(state)
        mode = keys.VIEW_MODE.read(s)
        i = self.mode_combo.findData(mode)
        self.mode_combo.setCurrentIndex(max(i, 0))
        self.opacity.setValue(int(keys.VIEW_OPACITY.read(s)))
        self.canvas.set_brush_radius(float(keys.BRUSH_RADIUS.read(s)))

    def save_window_settings(self) -> None:
        s, w = self.shot.settings, self.window
        keys.WINDOW_GEOMETRY.write(s, w.saveGeometry())
        keys.WINDOW_STATE.write(s, w.saveState())
        keys.VIEW_MODE.write(s, self.canvas.view_mode)
        keys.VIEW_OPACITY.write(s, self.opacity.value())
        keys.BRUSH_RADIUS.write(s, self.canvas.brush_radius)
        s.sync()

    def model_settings(self) -> dict:
        return self.shot.model_settings()

    def settings_dialog(self) -> None:
        from roto_studio.ui.dialogs import SettingsDialog

        d = SettingsDialog(self.model_settings(), self.window)
        if d.exec():
            self.apply_model_settings(d.values())

    def apply_model_settings(self, v: dict) -> None:
        s = self.shot.settings
        keys.MODEL_DEVICE.write(s, v["device"])
        keys.MODEL_PRECISION.write(s, v["precision"])
        keys.MODEL_BACKEND.write(s, v["backend"])
        keys.OFFLINE_DIR.write(s, v["offline_dir"])
        for key, setting in (("server", keys.MODEL_SERVER), ("server_url", keys.SERVER_URL)):
            if key in v:
                setting.write(s, v[key])
        if "server_token" in v:  # the OS keyring or a private file, never the settings file
            try:
                self.shot.store_server_token(v.get("server_url", ""), v["server_token"])
            except OSError as exc:
                self.shot.say(f"cannot store the server token ({exc.strerror}); check the settings folder.")
        keys.FRAME_CACHE_MB.write(s, v["frame_cache_mb"])
        keys.AUTOSAVE_S.write(s, v["autosave_s"])
        if "undo_memory_mb" in v:
            keys.UNDO_MEMORY_MB.write(s, v["undo_memory_mb"])
            if self.shot.undo_payloads is not None:
                self.shot.undo_payloads.set_limit(self.shot.undo_memory_bytes())
        try:  # a cleared folder stops being searched too
            from roto_studio.models.weights import store as weights

            weights.set_offline_folders([v["offline_dir"]] if v["offline_dir"] else [])
        except Exception:  # noqa: BLE001
            pass
        self.shot.settingsChanged.emit()
