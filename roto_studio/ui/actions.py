"""Every menu action and keyboard shortcut of the window, declared once.

ACTIONS builds the menus and shortcuts (build_actions), HELP lays out the F1 dialog and the
README's key table from it: a HELP row names its keys as {action} placeholders, filled in from
ACTIONS, so the help can never show a key the window does not bind. Mouse gestures are plain
text. `python -m roto_studio.ui.actions` prints the Markdown table; tests/ui/test_actions.py
checks README.md holds exactly that table.

A slot is "controller.method" (a controller the window holds under that name, or "window" /
"canvas" / "undo"), with optional arguments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    name: str  # key in window.actions_by_name
    menu: str | None  # menu title; None = a shortcut without a menu entry
    text: str
    keys: tuple[str, ...] = ()
    slot: str = ""
    args: tuple = ()
    needs_project: bool = False  # disabled while no shot is open
    separator: bool = False  # a separator line before it in its menu


A = ActionSpec
MENUS = ("&File", "&Edit", "&View", "&Tools", "&Objects", "&Track", "&Refine", "&Frame", "&Help")

ACTIONS: list[ActionSpec] = [
    A("new", "&File", "New from media…", ("Ctrl+N",), "project.new_dialog"),
    A("new_folder", "&File", "New from a folder of frames…", (), "project.new_folder_dialog"),
    A("open", "&File", "Open project…", ("Ctrl+O",), "project.open_dialog"),
    A("save", "&File", "Save", ("Ctrl+S",), "project.save_project", needs_project=True),
    A("save_as", "&File", "Save as…", ("Ctrl+Shift+S",), "project.save_as_dialog", needs_project=True),
    A("export", "&File", "Export…", ("Ctrl+E",), "jobs.export_dialog", needs_project=True, separator=True),
    A("import_masks", "&File", "Import masks…", (), "pipeline.import_masks_dialog", needs_project=True),
    A("conform", "&File", "Conform edit into shots…", (), "pipeline.conform_dialog"),
    A("export_shapes", "&File", "Export shapes…", (), "shapes.export_dialog", needs_project=True),
    A("quit", "&File", "Quit", ("Ctrl+Q",), "window.quit", separator=True),
    A("undo", "&Edit", "Undo", ("Ctrl+Z",), "undo.undo"),
    A("redo", "&Edit", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "undo.redo"),
    A("clear", "&Edit", "Clear mask on this frame", ("Delete",), "prompting.clear_mask", needs_project=True,
      separator=True),
    A("settings", "&Edit", "Settings and models…", ("Ctrl+,",), "settings.settings_dialog"),
    A("models", "&Edit", "Models…", (), "models.open_manager"),
    A("shot_settings", "&Edit", "Shot settings (frame rate)…", (), "project.shot_settings_dialog",
      needs_project=True),
    A("fit", "&View", "Fit", ("Ctrl+0",), "canvas.fit"),
    A("actual", "&View", "100%", ("Ctrl+1",), "canvas.actual_size"),
    A("zoom_in", "&View", "Zoom in", ("Ctrl+=", "Ctrl++"), "canvas.zoom_by", (1.25,)),
    A("zoom_out", "&View", "Zoom out", ("Ctrl+-",), "canvas.zoom_by", (0.8,)),
    A("next_mode", "&View", "Next view mode", ("V",), "prompting.next_view_mode"),
    A("shapes_view", "&View", "Shapes (fitted outlines and points)", (), "shapes.toggle_view", needs_project=True),
    A("clean_plate_view", "&View", "Clean-plate view", ("Shift+V",), "cleanplate.toggle_view", needs_project=True),
    A("tool_click", "&Tools", "Click (include / exclude)", ("Q",), "prompting.set_tool", ("click",)),
    A("tool_box", "&Tools", "Box", ("W",), "prompting.set_tool", ("box",)),
    A("tool_brush", "&Tools", "Brush (add / erase)", ("E",), "prompting.set_tool", ("brush",)),
    A("tool_pan", "&Tools", "Pan", ("H",), "prompting.set_tool", ("pan",)),
    A("brush_smaller", "&Tools", "Smaller brush", ("[",), "prompting.scale_brush", (1 / 1.25,)),
    A("brush_larger", "&Tools", "Larger brush", ("]",), "prompting.scale_brush", (1.25,)),
    A("add_object", "&Objects", "Add object", ("N",), "objects.add_object", needs_project=True),
    *[A(f"select_object_{i}", None, f"Select object {i}", (str(i),), "objects.select_object_number", (i,))
      for i in range(1, 10)],
    A("prop_forward", "&Track", "Propagate forward", ("F",), "jobs.propagate", ("forward",), True),
    A("prop_backward", "&Track", "Propagate backward", ("B",), "jobs.propagate", ("backward",), True),
    A("prop_both", "&Track", "Propagate both ways", ("Shift+F",), "jobs.propagate", ("both",), True),
    A("prop_all", "&Track", "Propagate all objects forward", ("Ctrl+Shift+F",), "jobs.propagate_all",
      ("forward",), True),
    A("cancel", "&Track", "Cancel job", ("Esc",), "window.escape"),
    A("resume", "&Track", "Resume the job the model server's loss interrupted", ("Ctrl+R",), "jobs.resume", (), True),
    A("set_in", "&Track", "Set in", ("I",), "playback.set_in", needs_project=True, separator=True),
    A("set_out", "&Track", "Set out", ("O",), "playback.set_out", needs_project=True),
    A("lock_range", "&Track", "Lock object over the range", ("Ctrl+L",), "prompting.lock_range",
      needs_project=True),
    A("unlock_range", "&Track", "Unlock object over the range", ("Ctrl+Shift+L",), "prompting.unlock_range",
      needs_project=True),
    A("next_attention", "&Track", "Next frame needing attention", ("A",), "playback.jump_attention", (1,), True,
      separator=True),
    A("prev_attention", "&Track", "Previous frame needing attention", ("Shift+A",), "playback.jump_attention",
      (-1,), True),
    A("matte", "&Refine", "Matte edges over the range (ViTMatte / classical)", ("Ctrl+M",), "jobs.matte",
      needs_project=True),
    A("clean_plate", "&Refine", "Clean plate (remove the object)…", ("Ctrl+Shift+P",), "cleanplate.dialog",
      needs_project=True),
    A("reset_edges", "&Refine", "Reset edge settings", (), "objects.reset_edges", needs_project=True),
    A("next", "&Frame", "Next frame", ("Right",), "playback.step", (1,)),
    A("prev", "&Frame", "Previous frame", ("Left",), "playback.step", (-1,)),
    A("next10", "&Frame", "Forward 10", ("Shift+Right",), "playback.step", (10,)),
    A("prev10", "&Frame", "Back 10", ("Shift+Left",), "playback.step", (-10,)),
    A("first", "&Frame", "First frame", ("Home",), "playback.first_frame"),
    A("last", "&Frame", "Last frame", ("End",), "playback.last_frame"),
    A("toggle_play", "&Frame", "Play / pause", ("Space",), "playback.toggle_play"),
    A("play_back", "&Frame", "Play backward", ("J",), "playback.play", (-1,)),
    A("stop", "&Frame", "Stop", ("K",), "playback.stop"),
    A("play_fwd", "&Frame", "Play forward", ("L",), "playback.play", (1,)),
    A("help", "&Help", "Getting started and keyboard shortcuts", ("F1",), "window.shortcuts_dialog"),
]

# (keys, what): the F1 dialog and README rows. {name} = the first key of that action.
HELP: list[tuple[str, str]] = [
    ("Left click", "Include click (click tool)"),
    ("Alt+click / right click", "Exclude click"),
    ("{tool_click} / {tool_box} / {tool_brush} / {tool_pan}", "Click tool / box tool / brush tool / pan tool"),
    ("Left drag (brush)", "Paint the mask; Alt or right drag erases"),
    ("{brush_smaller} / {brush_larger} or Ctrl+drag", "Brush smaller / larger"),
    ("Wheel, {zoom_in} / {zoom_out}", "Zoom in / out (crisp pixels when magnified)"),
    ("Middle drag", "Pan"),
    ("{fit} / {actual}", "Fit to window / 100%"),
    ("{select_object_1} ... {select_object_9}", "Select object 1 ... 9"),
    ("{add_object}", "Add object"),
    ("{prev} / {next}", "Previous / next frame"),
    ("{prev10} / {next10}", "Back / forward 10 frames"),
    ("{first} / {last}", "First / last frame"),
    ("{toggle_play}", "Play / pause"),
    ("{play_back} / {stop} / {play_fwd}", "Play backward / stop / play forward"),
    ("{set_in} / {set_out}", "Set in / out of the range"),
    ("{prop_forward} / {prop_backward} / {prop_both}",
     "Propagate the current object forward / backward / both over the range"),
    ("{prop_all}", "Propagate every object that has a mask on this frame forward over the range"),
    ("{cancel}", "Cancel the running job (finished frames are kept)"),
    ("{resume}", "Resume the propagation a stopped model server interrupted"),
    ("{next_attention} / {prev_attention}", "Next / previous frame needing attention (red timeline marks)"),
    ("{matte}", "Matte edges of the current object over the range (ViTMatte or classical)"),
    ("{clean_plate}", "Clean plate: remove the current object over the range, write RGB frames"),
    ("{lock_range} / {unlock_range}", "Lock / unlock the current object over the range"),
    ("{clear}", "Clear the current object's mask on this frame"),
    ("{next_mode}", "Next view mode: overlay, matte, cut-out, outline"),
    ("{clean_plate_view}", "Clean-plate view: the current object's rendered clean plate in the canvas"),
    ("{undo} / {redo}", "Undo / redo"),
    ("{new} / {open} / {save} / {save_as}", "New from media / open / save / save as"),
    ("{export}", "Export"),
    ("{settings}", "Settings and models"),
    ("{quit}", "Quit"),
    ("{help}", "This help"),
]

# Bound keys the help leaves implicit ("1 ... 9" stands for all nine).
NOT_IN_HELP = {f"select_object_{i}" for i in range(2, 9)}


def by_name() -> dict[str, ActionSpec]:
    return {a.name: a for a in ACTIONS}


def help_rows() -> list[tuple[str, str]]:
    """HELP with every {action} replaced by that action's first key."""
    first = {a.name: a.keys[0] for a in ACTIONS if a.keys}
    return [(keys.format(**first), what) for keys, what in HELP]


def shortcuts_markdown() -> str:
    lines = ["| Keys | Action |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in help_rows()]
    return "\n".join(lines)


def build_actions(window, targets: dict) -> tuple[dict, dict]:
    """Menus and shortcuts on `window` (a QMainWindow) from ACTIONS; returns ({name: QAction},
    {menu title: QMenu}).

    targets: {"project": controller, ..., "window": window, "canvas": canvas, "undo": QUndoStack}.
    Undo and redo are the undo stack's own actions (their text names the step).
    """
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction, QKeySequence

    menus = {title: window.menuBar().addMenu(title) for title in MENUS}
    actions: dict = {}
    for spec in ACTIONS:
        target, method = spec.slot.split(".")
        obj = targets[target]
        if target == "undo" and method in ("undo", "redo"):
            act = (obj.createUndoAction if method == "undo" else obj.createRedoAction)(window, spec.text)
        else:
            act = QAction(spec.text, window)
            fn, args = getattr(obj, method), spec.args
            act.triggered.connect(lambda _checked=False, fn=fn, args=args: fn(*args))
        if spec.keys:
            act.setShortcuts([QKeySequence(k) for k in spec.keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if spec.menu is None:
            window.addAction(act)
        else:
            menu = menus[spec.menu]
            if spec.separator:
                menu.addSeparator()
            menu.addAction(act)
        actions[spec.name] = act
    return actions, menus


def needs_project() -> list[str]:
    return [a.name for a in ACTIONS if a.needs_project]


if __name__ == "__main__":
    print(shortcuts_markdown())
