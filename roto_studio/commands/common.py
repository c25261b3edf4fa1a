"""What the subcommands share, so no command borrows another's helpers: the model-server options
and the checked client they give, the shot's media opened with the project's settings, the
project `segment` extends or creates, Ctrl-C that finishes the frame first, and the one progress
printer every command uses (a rewritten line on a terminal, a line per tenth in a log)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable


def add_server_arguments(parser) -> None:
    """--server URL / --token-file F: run the models on a model server (`roto-studio serve`)."""
    parser.add_argument("--server", metavar="URL",
                        help="run the models on this model server (roto-studio serve), e.g. http://gpu-box:8765")
    parser.add_argument("--token-file", metavar="F",
                        help="the server's token (first line of F; default: env ROTO_SERVER_TOKEN)")


def connect(url: str | None, token_file: str | None = None):
    """The model server client for `url` (checked: reachable, token accepted), or None."""
    if not url:
        return None
    from roto_studio.client.http import ServerClient, token_from

    client = ServerClient(url, token_from(token_file))
    client.status()  # fails early, in one line, when the server is not there or refuses the token
    return client


def server_client(args):
    """The model server client for --server, or None (models run in this process)."""
    return connect(getattr(args, "server", None), getattr(args, "token_file", None))


def open_shot_media(project, args):
    """The shot's media with the project's colour and frame-rate settings (--colorspace and --fps
    saved into the project first; the built-in OCIO config's versioned name recorded)."""
    from roto_studio.core.media import open_media

    if args.colorspace:
        project.settings["colorspace"] = args.colorspace
    if args.fps:
        project.set_fps(args.fps)
    media = open_media(args.media, colorspace=project.settings.get("colorspace"),
                       colour_config=project.settings.get("ocio_config"))
    if media.colour_config.source == "built-in":
        project.settings.setdefault("ocio_config", media.colour_config.name)
    media.set_fps(project.settings.get("fps"))
    return media


def open_project(out: str, media_path: str):
    """(project, created): the project at `out` when it is one for `media_path`, else a new one."""
    from roto_studio.core.errors import ProjectError
    from roto_studio.core.project import PROJECT_FILE, create_project, load_project, project_folder

    folder = project_folder(out)
    if (folder / PROJECT_FILE).exists():
        project = load_project(folder)
        given = Path(media_path).expanduser()
        given = given.resolve() if given.exists() else given
        mine = project.media_ref()
        mine = mine.resolve() if mine.exists() else mine
        if str(given) != str(mine):
            raise ProjectError(f"{folder} is a project for {project.media_path}, not {media_path}; "
                               "choose another --out or the same media.")
        return project, False
    return create_project(folder, media_path), True


def catch_sigint(stop: threading.Event):
    """On the main thread, the first Ctrl-C sets `stop` (finish this frame), the second quits.
    Returns the previous handler to put back (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(*_):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this frame (Ctrl-C again to quit now)...", file=sys.stderr)
    return signal.signal(signal.SIGINT, on_sigint)


class Progress:
    """`progress(done, total, text=None)` on stderr: on a terminal one line rewritten at most five
    times a second (and ended when done), else a line at each tenth, so logs stay short.

    unit: what is counted ("frames"); rate: add the count per second; amount: formats done and
    total (e.g. as sizes) and adds the percentage; quiet: print nothing."""

    def __init__(self, label: str, unit: str = "", rate: bool = False,
                 amount: Callable[[int], str] | None = None, quiet: bool = False):
        self.label, self.unit, self.rate, self.amount, self.quiet = label, unit, rate, amount, quiet
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.last = 0.0
        self.last_step = -1

    def line(self, done: int, total: int, text: str | None = None) -> str:
        if self.amount is not None:
            pct = f"{100 * done / total:5.1f}%" if total else "     "
            count = f"{pct} {self.amount(done)} / {self.amount(total)}"
        else:
            count = f"{done}/{total}" + (f" {self.unit}" if self.unit else "")
        if self.rate:
            count += f" ({done / max(1e-6, time.monotonic() - self.t0):.1f} fps)"
        return f"{self.label}: {count}" + (f" ({text})" if text else "")

    def __call__(self, done: int, total: int, text: str | None = None) -> None:
        if self.quiet or total is None or total < 0:
            return
        finished = done >= total
        if self.tty:
            now = time.monotonic()
            if not finished and now - self.last < 0.2:
                return
            self.last = now
            print("\r" + self.line(done, total, text), end="\n" if finished else "", file=sys.stderr, flush=True)
            return
        step = done * 10 // total if total else 10
        if step != self.last_step:
            self.last_step = step
            print(self.line(done, total, text), file=sys.stderr, flush=True)
