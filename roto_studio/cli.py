"""Command line: `roto-studio` opens the GUI, subcommands run headless (no Qt)."""

from __future__ import annotations

import argparse
import importlib
import sys

from roto_studio import __version__
from roto_studio.core.errors import RotoError

# subcommand name -> module in roto_studio.commands (each: add_arguments, run, HELP)
COMMANDS = {
    "info": "info",
    "export": "export",
    "segment": "segment",
    "models": "models",
    "matte": "matte",
    "cleanplate": "cleanplate",
    "doctor": "doctor",
    "serve": "serve",
    "render": "render",
    "batch": "batch",
    "conform": "conform",
    "shapes": "shapes",
    "check": "check",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one plain line (exit 2) that says where to look."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`.\n")


def known_commands() -> list[str]:
    """The subcommands this install really has (a module listed but not built is left out)."""
    import importlib.util

    names = []
    for name, module_name in COMMANDS.items():
        try:
            found = importlib.util.find_spec(f"roto_studio.commands.{module_name}") is not None
        except ImportError:
            found = False
        if found:
            names.append(name)
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="roto-studio",
        usage="roto-studio [MEDIA | PROJECT.roto]\n       roto-studio COMMAND [options]",
        description="Rotoscoping studio. With no command the window opens (on MEDIA or a project, "
                    "else on a sample shot); commands run headless.",
        epilog="`roto-studio COMMAND --help` describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"roto-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="roto-studio")
    for name in known_commands():
        module = importlib.import_module(f"roto_studio.commands.{COMMANDS[name]}")
        p = sub.add_parser(name, help=getattr(module, "HELP", None), description=getattr(module, "HELP", None))
        module.add_arguments(p)
        p.add_argument("--allow-noncommercial", action="store_true",
                       help="let Auto pick models whose licence does not permit commercial use "
                            "(also env ROTO_ALLOW_NONCOMMERCIAL=1)")
        p.set_defaults(command_run=module.run)
    return parser


def _is_media_argument(word: str) -> bool:
    """True when `word` names something the window can open: an existing file or folder, or a
    sequence pattern (`plate.####.exr`) with at least one frame on disk."""
    import os

    path = os.path.expanduser(word)
    if os.path.lexists(path):
        return True
    from roto_studio.core.media import parse_pattern
    from roto_studio.core.errors import MediaError

    try:
        pattern = parse_pattern(path)
    except MediaError:
        return False
    if pattern is None or not pattern.folder.is_dir():
        return False
    try:
        return any(pattern.match(name) is not None for name in os.listdir(pattern.folder))
    except OSError:
        return False


def _unknown_word(word: str) -> int:
    """One line for a first argument that is neither a command nor something to open; exit 2."""
    names = ", ".join(known_commands())
    looks_like_path = any(c in word for c in "/\\.#%@") or word.startswith("~")
    if looks_like_path:
        what = f"{word!r} does not exist"
        fix = f"check the path, or use a command: {names}"
    else:
        what = f"unknown command {word!r}"
        fix = f"the commands are {names}; or give a media file or project to open in the window"
    sys.stderr.write(f"roto-studio: {what}; {fix} (`roto-studio --help`).\n")
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_help = any(a in ("-h", "--help") for a in argv)
    first = argv[0] if argv else None
    if first is not None and not first.startswith("-") and first not in COMMANDS:
        if not _is_media_argument(first):
            return _unknown_word(first)
        if wants_help:
            build_parser().print_help()
            return 0
        from roto_studio.ui.app import main as gui_main

        return gui_main(argv)
    if first is None:
        from roto_studio.ui.app import main as gui_main

        return gui_main(argv)
    if first in COMMANDS and first not in known_commands():
        return _unknown_word(first)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command_run", None) is None:  # only options, e.g. `roto-studio -v`
        parser.print_help()
        return 0
    stderr = sys.stderr
    sys.stderr = tracker = _LineTracker(stderr)  # progress lines may end without a newline
    allow = bool(getattr(args, "allow_noncommercial", False))
    if allow:
        from roto_studio.models.weights import licences

        licences.set_allow_noncommercial(True)
    try:
        return int(args.command_run(args) or 0)
    except RotoError as exc:
        return tracker.fail("roto-studio: " + " ".join(str(exc).split()), 2)  # one line, always
    except KeyboardInterrupt:
        return tracker.fail("roto-studio: interrupted; finished frames were kept.", 130)
    except MemoryError:
        return tracker.fail("roto-studio: out of memory; try a smaller range or close other programs.", 2)
    except OSError as exc:
        return tracker.fail(f"roto-studio: {_os_message(exc)}", 2)
    finally:
        if allow:
            licences.set_allow_noncommercial(None)
        if tracker.open_line:
            stderr.write("\n")
        sys.stderr = stderr


class _LineTracker:
    """Wraps stderr to know whether the last write left a line open (a `\r` progress line)."""

    def __init__(self, stream):
        self._stream = stream
        self.open_line = False

    def write(self, text):
        if text:
            self.open_line = not text.endswith("\n")
        return self._stream.write(text)

    def fail(self, message: str, status: int) -> int:
        self.write(("\n" if self.open_line else "") + message + "\n")
        self.flush()
        return status

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _os_message(exc: OSError) -> str:
    import errno

    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EFBIG:
        return f"the disk is full or the file is too large{where}; free some space or choose another folder."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}; choose a folder you can write to."
    if exc.errno == errno.ENOENT:
        return f"no such file or folder{where}; check the path."
    return f"{exc.strerror or exc}{where}."


if __name__ == "__main__":
    raise SystemExit(main())
