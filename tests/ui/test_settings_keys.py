"""The window's settings live in one typed place (ui.settings_keys): no other module names a
settings key as a string, names are unique, and each key reads back its type, falling back to its
default when the settings file is missing it or holds something unreadable (an edited file)."""

import ast
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from roto_studio.ui import settings_keys as keys

UI = Path(keys.__file__).parent


def literal_key_calls(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("value", "setValue", "remove", "contains") and node.args
                and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))
                and (not isinstance(node.args[0], ast.Constant) or isinstance(node.args[0].value, str))):
            found.append(ast.unparse(node))
    return found


def test_no_module_names_a_settings_key_as_a_string():
    bad = []
    for path in sorted(UI.rglob("*.py")):
        if path.name != "settings_keys.py":
            bad += [f"{path.relative_to(UI)}: {c}" for c in literal_key_calls(path.read_text(encoding="utf-8"))]
    assert not bad, "settings read or written by a string key (add it to ui/settings_keys.py):\n" + "\n".join(bad)
    assert literal_key_calls("s.value('view/mode', 'overlay')\ns.setValue(f'models/{k}', 1)\nkeys.VIEW_MODE.read(s)") \
        == ["s.value('view/mode', 'overlay')", "s.setValue(f'models/{k}', 1)"]


def test_key_names_are_unique():
    names = [k.name for k in keys.ALL]
    assert len(names) == len(set(names)) and len(names) >= 25


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_typed_reads_defaults_and_unreadable_values(settings, tmp_path):
    for key in keys.ALL:
        assert key.read(settings) == key.default, key
    keys.VIEW_OPACITY.write(settings, 70)
    keys.BRUSH_RADIUS.write(settings, 3.5)
    keys.ALLOW_NONCOMMERCIAL.write(settings, True)
    keys.RECENT.write(settings, ["/shots/a.roto"])  # one item: the ini file gives back a plain string
    settings.sync()
    again = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert keys.VIEW_OPACITY.read(again) == 70 and keys.BRUSH_RADIUS.read(again) == 3.5
    assert keys.ALLOW_NONCOMMERCIAL.read(again) is True
    assert keys.RECENT.read(again) == ["/shots/a.roto"]
    again.setValue(keys.AUTOSAVE_S.name, "often")  # hand-edited
    again.setValue(keys.UNDO_MEMORY_MB.name, "")
    assert keys.AUTOSAVE_S.read(again) == 60 and keys.UNDO_MEMORY_MB.read(again) == 256.0
    keys.RECENT.clear(again)
    assert keys.RECENT.read(again) == []
    keys.RECENT.read(again).append("changed by a caller")
    assert keys.RECENT.read(again) == [] and keys.RECENT.default == []
    assert keys.EXPORT_FOLDER.read(again, "/home/artist/exports") == "/home/artist/exports"
