"""Every setting the window keeps (QSettings) in one place: its key, its type and its default.
`KEY.read(settings)` gives the typed value (the default when it is missing or unreadable, as an
edited or older settings file may be), `KEY.write(settings, value)` stores it. No other module
names a settings key as a string."""

from __future__ import annotations

from typing import Any

_UNSET = object()


class Key:
    """One setting: `kind` is bool, int, float, str, list or None (stored as given, e.g. window geometry)."""

    def __init__(self, name: str, default: Any, kind: type | None):
        self.name, self.default, self.kind = name, default, kind

    def read(self, settings, default: Any = _UNSET) -> Any:
        """The setting as its kind; `default` overrides the registered one (e.g. a folder that
        depends on the project)."""
        fallback = self.default if default is _UNSET else default
        if isinstance(fallback, list):
            fallback = list(fallback)  # never the registered default itself: callers may change it
        raw = settings.value(self.name, None)
        if raw is None:
            return fallback
        try:
            if self.kind is bool:
                return raw if isinstance(raw, bool) else str(raw).strip().lower() in ("true", "1", "yes")
            if self.kind is int:
                return int(float(raw))
            if self.kind is float:
                return float(raw)
            if self.kind is str:
                return str(raw)
            if self.kind is list:  # an ini file gives one item back as a plain string
                return list(raw) if isinstance(raw, (list, tuple)) else [] if raw == "" else [raw]
        except (TypeError, ValueError):
            return fallback
        return raw

    def write(self, settings, value: Any) -> None:
        settings.setValue(self.name, value)

    def clear(self, settings) -> None:
        settings.remove(self.name)

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


WINDOW_GEOMETRY = Key("window/geometry", None, None)
WINDOW_STATE = Key("window/state", None, None)
VIEW_MODE = Key("view/mode", "overlay", str)
VIEW_OPACITY = Key("view/opacity", 50, int)
BRUSH_RADIUS = Key("tools/brush_radius", 12.0, float)

MODEL_DEVICE = Key("models/device", "auto", str)
MODEL_PRECISION = Key("models/precision", "auto", str)
MODEL_BACKEND = Key("models/backend", "auto", str)
MATTE_BACKEND = Key("models/matte_backend", "auto", str)
OFFLINE_DIR = Key("models/offline_dir", "", str)
MODEL_SERVER = Key("models/server", "local", str)  # local | remote | off
SERVER_URL = Key("models/server_url", "", str)
OLD_SERVER_TOKEN = Key("models/server_token", "", str)  # older versions kept it here; moved to the keyring
MODELS_OFFERED = Key("models/offered", False, bool)  # the first-run model offer was shown
ALLOW_NONCOMMERCIAL = Key("models/allow_noncommercial", False, bool)

FRAME_CACHE_MB = Key("media/frame_cache_mb", 512, int)
AUTOSAVE_S = Key("project/autosave_s", 60, int)
UNDO_MEMORY_MB = Key("undo/memory_mb", 256.0, float)
RECENT = Key("recent", [], list)
RECOVERY_NOTES = Key("recovery/notes", "", str)

COLOUR_DISPLAY = Key("colour/display", "", str)
COLOUR_VIEW = Key("colour/view", "", str)
EXPORT_FOLDER = Key("export/folder", "", str)
CLEANPLATE_FOLDER = Key("cleanplate/folder", "", str)
SHAPES_FOLDER = Key("shapes/folder", "", str)
SHAPES_FORMAT = Key("shapes/format", "nuke", str)

ALL = [v for v in list(globals().values()) if isinstance(v, Key)]
