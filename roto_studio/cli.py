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
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one plain line (exit 2) that says where to look."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="roto-studio",
        description="Rotoscoping studio. With no subcommand (or just a media file) the window opens.",
    )
    parser.add_argument("--version", action="version", version=f"roto-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"roto_studio.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("roto_studio.commands"):
                continue  # subcommand not built yet
            raise
        p = sub.add_parser(name, help=getattr(module, "HELP", None), description=getattr(module, "HELP", None))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser




def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        # No subcommand: the GUI, optionally with a media file or project to open.
        from roto_studio.ui.app import main as gui_main

        return gui_main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    stderr = sys.stderr
    sys.stderr = tracker = _LineTracker(stderr)  # progress lines may end without a newline
    try:
        return int(args._run(args) or 0)
    except RotoError as exc:
        return tracker.fail(f"roto-studio: {exc}", 2)
    except KeyboardInterrupt:
        return tracker.fail("roto-studio: interrupted; finished frames were kept.", 130)
    except MemoryError:
        return tracker.fail("roto-studio: out of memory; try a smaller range or close other programs.", 2)
    except OSError as exc:
        return tracker.fail(f"roto-studio: {_os_message(exc)}", 2)
    finally:
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
