"""The one action table (roto_studio.ui.actions): the window's menus and shortcuts, the F1 help and
README.md's key table all come from it."""

from __future__ import annotations

import re
import subprocess
import sys

from PySide6.QtGui import QKeySequence

from roto_studio.ui import actions
from tests.ui.conftest import ROOT


def test_readme_key_table_is_made_from_the_action_table():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "update_readme_keys.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert actions.shortcuts_markdown() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_bound_key_is_in_the_help_and_every_help_key_is_bound():
    named = set()
    for keys, _what in actions.HELP:
        named |= set(re.findall(r"\{(\w+)\}", keys))
    table = actions.by_name()
    assert named <= set(table), named - set(table)
    bound = {a.name for a in actions.ACTIONS if a.keys}
    assert bound - named - actions.NOT_IN_HELP == set()
    assert len(table) == len(actions.ACTIONS)  # names are unique


def test_window_binds_exactly_the_table(window):
    from roto_studio.ui.dialogs import SHORTCUTS

    for spec in actions.ACTIONS:
        act = window.actions_by_name[spec.name]
        assert [s.toString() for s in act.shortcuts()] == [QKeySequence(k).toString() for k in spec.keys]
    # each key sequence triggers one action only
    seqs = [QKeySequence(k).toString() for a in actions.ACTIONS for k in a.keys]
    assert len(seqs) == len(set(seqs))
    assert SHORTCUTS == actions.help_rows()
    # menus hold the table's entries in its order
    for title in actions.MENUS:
        texts = [a.text() for a in window.menus[title].actions() if not a.isSeparator() and a.menu() is None]
        assert texts == [s.text for s in actions.ACTIONS if s.menu == title]
    # actions that need a shot are off until one is open
    assert not window.actions_by_name["prop_forward"].isEnabled()
    assert window.actions_by_name["open"].isEnabled()
