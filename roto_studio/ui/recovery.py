"""What happened to a project's unsaved changes, so reopening it can say so: when the artist
quits choosing Discard, or opens another shot without saving, the changes still go to the
project's autosave (work is never thrown away) and a note of why is kept in the app settings
(`recovery/notes`: {project folder: [reason, time, the autosave's mtime]}). An autosave with no
note, or written after its note (by the autosave timer of a later session), was left by an app
that stopped before it could say why (a crash, a kill, a power cut). Saving forgets the note."""

from __future__ import annotations

import json
import time
from pathlib import Path
from roto_studio.ui import settings_keys as keys

QUIT = "quit"  # quit, answered Discard
SWITCH = "switch"  # opened another shot


def _notes(settings) -> dict:
    try:
        data = json.loads(keys.RECOVERY_NOTES.read(settings) or "{}")
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def _key(folder) -> str:
    return str(Path(folder).resolve())


def _stamp(folder) -> int:
    from roto_studio.core.project import AUTOSAVE_FILE

    try:
        return (Path(folder) / AUTOSAVE_FILE).stat().st_mtime_ns
    except OSError:
        return 0


def note(settings, folder, reason: str) -> None:
    """Call just after the autosave was written, with why it was left unsaved."""
    data = _notes(settings)
    data[_key(folder)] = [reason, time.strftime("%Y-%m-%d %H:%M"), _stamp(folder)]
    keys.RECOVERY_NOTES.write(settings, json.dumps(data))


def forget(settings, folder) -> None:
    data = _notes(settings)
    if data.pop(_key(folder), None) is not None:
        keys.RECOVERY_NOTES.write(settings, json.dumps(data))


def question(settings, folder) -> str:
    """The question offering the autosave, saying how it came to be there."""
    reason, when, stamp = ((_notes(settings).get(_key(folder)) or []) + [None, "", -1])[:3]
    if stamp != _stamp(folder):
        reason = None  # the autosave changed after the note: the note no longer tells its story
    if reason == QUIT:
        what = f"When you quit ({when}) you chose not to save these changes; they were kept in the autosave."
    elif reason == SWITCH:
        what = f"You opened another shot ({when}) without saving these changes; they were kept in the autosave."
    else:
        what = ("Roto Studio stopped before these changes were saved (a crash, the computer shutting down, "
                "or the app being killed); the autosave kept them.")
    return f"This project has autosaved changes newer than its last save. {what} Restore them?"
