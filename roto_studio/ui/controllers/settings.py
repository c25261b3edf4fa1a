"""Settings: the window's own (geometry, docks, view mode, overlay opacity, brush size) restored
at start and saved at close, and the model / project settings edited in the Settings dialog
(device, precision, default backend, offline weights folder, model server, frame cache, autosave)."""

from __future__ import annotations

from PySide6.QtCore import QObject


class SettingsController(QObject):
    def __init__(self, shot, window, canvas, mode_combo, opacity, parent=None):
        super().__init__(parent)
        self.shot, self.window, self.canvas = shot, window, canvas
        self.mode_combo, self.opacity = mode_combo, opacity

    def load_window_settings(self) -> None:
        s, w = self.shot.settings, self.window
        geo = s.value("window/geometry")
        if geo is not None:
            w.restoreGeometry(geo)
        else:
            w.resize(1280, 800)
        state = s.value("window/state")
        if state is not None:
            w.restoreState(state)
        mode = s.value("view/mode", "overlay")
        i = self.mode_combo.findData(mode)
        self.mode_combo.setCurrentIndex(max(i, 0))
        self.opacity.setValue(int(s.value("view/opacity", 50)))
        self.canvas.set_brush_radius(float(s.value("tools/brush_radius", 12.0)))

    def save_window_settings(self) -> None:
        s, w = self.shot.settings, self.window
        s.setValue("window/geometry", w.saveGeometry())
        s.setValue("window/state", w.saveState())
        s.setValue("view/mode", self.canvas.view_mode)
        s.setValue("view/opacity", self.opacity.value())
        s.setValue("tools/brush_radius", self.canvas.brush_radius)
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
        s.setValue("models/device", v["device"])
        s.setValue("models/precision", v["precision"])
        s.setValue("models/backend", v["backend"])
        s.setValue("models/offline_dir", v["offline_dir"])
        for key in ("server", "server_url"):
            if key in v:
                s.setValue(f"models/{key}", v[key])
        if "server_token" in v:  # the OS keyring or a private file, never the settings file
            try:
                self.shot.store_server_token(v.get("server_url", ""), v["server_token"])
            except OSError as exc:
                self.shot.say(f"cannot store the server token ({exc.strerror}); check the settings folder.")
        s.setValue("media/frame_cache_mb", v["frame_cache_mb"])
        s.setValue("project/autosave_s", v["autosave_s"])
        if "undo_memory_mb" in v:
            s.setValue("undo/memory_mb", v["undo_memory_mb"])
            if self.shot.undo_payloads is not None:
                self.shot.undo_payloads.set_limit(self.shot.undo_memory_bytes())
        try:  # a cleared folder stops being searched too
            from roto_studio.models.weights import store as weights

            weights.set_offline_folders([v["offline_dir"]] if v["offline_dir"] else [])
        except Exception:  # noqa: BLE001
            pass
        self.shot.settingsChanged.emit()
