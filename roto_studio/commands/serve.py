"""`roto-studio serve`: run the model server (the models in their own process, over HTTP).

A token is always required. With --token-file the token is the file's first line; on loopback
without one, ROTO_SERVER_TOKEN is used, or a random token is made and printed. Binding to any
other address without a token file is refused. Once listening, one line goes to stdout:
`roto-studio server listening on http://HOST:PORT` (with --port 0 the port is chosen free).
A session idle for --session-idle seconds (env ROTO_SERVER_SESSION_IDLE; default an hour) is
closed and answered 410 afterwards. /v1/inpaint loads a registry model, or a folder inside a
--model-root folder.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from roto_studio.core.errors import RotoError

HELP = "Run the model server (HTTP, token required) for the window or for other machines."


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    parser.add_argument("--token-file", metavar="F", help="file whose first line is the token clients must send")
    parser.add_argument("--media-root", metavar="DIR", action="append", default=[],
                        help="folder whose media the server may read by path (repeatable); "
                             "other frames are uploaded by the client")
    parser.add_argument("--path-map", metavar="CLIENT=SERVER", action="append", default=[],
                        help="a client path prefix and where the server sees it (shared storage; repeatable)")
    parser.add_argument("--model-root", metavar="DIR", action="append", default=[],
                        help="folder whose sub-folders /v1/inpaint may load as models (repeatable); "
                             "otherwise only registry names")
    parser.add_argument("--session-idle", metavar="S", type=float, default=None,
                        help="close a session after S seconds without a request; later requests on it "
                             "are answered 410 (default: env ROTO_SERVER_SESSION_IDLE, else 3600)")
    parser.add_argument("--device", choices=("cuda", "mps", "cpu"), default=None,
                        help="device for the models (default: CUDA, else MPS, else CPU)")
    parser.add_argument("--gpu-memory-budget", metavar="GB", type=float, default=None,
                        help="memory the loaded models may use; least recently used models unload "
                             "beyond it (default: 90%% of the GPU; no limit on the CPU)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    try:
        text = open(path, encoding="utf-8").read(4096)
    except OSError as exc:
        raise RotoError(f"cannot read the token file {path} ({exc.strerror}); check the path.") from None
    except UnicodeDecodeError:
        raise RotoError(f"the token file {path} is not text; put one line of text in it.") from None
    token = (text.strip().splitlines() or [""])[0].strip()
    if len(token) < 16:
        raise RotoError(f"the token in {path} is shorter than 16 characters; use a long random one "
                        "(e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`).")
    return token


def _token(args) -> tuple[str, bool]:
    if args.token_file:
        return read_token(args.token_file), False
    if not is_loopback(args.host):
        raise RotoError(f"listening on {args.host} (not loopback) needs --token-file F with a long random token; "
                        "clients send it as `Authorization: Bearer TOKEN`.")
    env = os.environ.get("ROTO_SERVER_TOKEN", "").strip()
    if env:
        return env, False
    import secrets

    return secrets.token_urlsafe(32), True


def _idle(seconds: float | None) -> float:
    if seconds is None:
        text = os.environ.get("ROTO_SERVER_SESSION_IDLE", "").strip()
        if not text:
            from roto_studio.server.state import SESSION_IDLE_S

            return SESSION_IDLE_S
        try:
            seconds = float(text)
        except ValueError:
            raise RotoError(f"ROTO_SERVER_SESSION_IDLE={text!r} is not a number of seconds.") from None
    import math

    if not (math.isfinite(seconds) and seconds > 0):
        raise RotoError("--session-idle must be a number of seconds above 0 (e.g. 3600).")
    return float(seconds)


def _device(name: str | None):
    from roto_studio.models.device import choose_device

    return choose_device(name) if name else choose_device()


def _budget(gb: float | None, choice) -> int | None:
    if gb is not None:
        if not gb > 0:
            raise RotoError("--gpu-memory-budget must be more than 0 GB.")
        return int(gb * 2**30)
    if choice.kind == "cuda":
        from roto_studio.server.app import device_memory

        return int(0.9 * device_memory(choice.device)["total"])
    return None


def _watch_parent(server) -> None:
    """A child of the window (env ROTO_SERVER_PARENT=pid) quits when the window is gone."""
    text = os.environ.get("ROTO_SERVER_PARENT", "")
    if not text.isdigit():
        return
    import threading
    import time

    parent = int(text)

    def watch():
        while not server.should_exit:
            if os.getppid() != parent:
                server.should_exit = True
                return
            time.sleep(1.0)

    threading.Thread(target=watch, name="roto-parent-watch", daemon=True).start()


def _be_nice() -> None:
    """A server that is the window's child (env ROTO_SERVER_NICE) runs below the window: a lower
    priority (nice on Linux/macOS, below-normal priority class on Windows, through psutil) and on
    Linux the batch scheduling class too (a CPU-bound process that never preempts a waking one),
    so the window's threads get the CPU the moment they need it to paint while a model runs. Its
    torch threads are one fewer than the cores (OMP_NUM_THREADS set by client.local)."""
    text = os.environ.get("ROTO_SERVER_NICE", "")
    if not text.isdigit():
        return
    level = min(19, int(text))
    try:
        if hasattr(os, "setpriority"):
            os.setpriority(os.PRIO_PROCESS, 0, max(level, os.getpriority(os.PRIO_PROCESS, 0)))
        else:  # Windows
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS if level < 15 else psutil.IDLE_PRIORITY_CLASS)
    except (AttributeError, OSError, ImportError):
        pass
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass


def _warm_up(choice) -> None:
    """Import what the first requests need in the background (media decoding, the CPU fallback;
    torch too for a GPU), so the first click does not pay for it."""
    import threading

    def warm():
        import importlib

        names = ["roto_studio.core.media", "roto_studio.models.classical", "roto_studio.models.matting.classical"]
        if choice.kind != "cpu":
            names += ["torch", "roto_studio.models.sam2.video"]
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - only a head start; the request says what is missing
                pass

    threading.Thread(target=warm, name="roto-warm-up", daemon=True).start()


def run(args) -> int:
    import socket

    if not 0 <= args.port <= 65535:
        raise RotoError(f"--port {args.port} is not a port number (0-65535).")
    for root in args.media_root:
        if not os.path.isdir(root):
            raise RotoError(f"--media-root {root} is not a folder; give folders the server may read media from.")
    for root in args.model_root:
        if not os.path.isdir(root):
            raise RotoError(f"--model-root {root} is not a folder; give folders holding model folders.")
    idle = _idle(args.session_idle)
    token, made = _token(args)
    _be_nice()
    from roto_studio.server.frames import PathPolicy

    try:
        policy = PathPolicy(args.media_root, args.path_map)
    except ValueError as exc:
        raise RotoError(str(exc)) from None
    choice = _device(args.device)
    budget = _budget(args.gpu_memory_budget, choice)

    import uvicorn

    from roto_studio.server.app import create_app
    from roto_studio.server.state import ServerState

    state = ServerState(token, policy, choice, budget, idle_s=idle, model_roots=args.model_root)
    app = create_app(state)
    family = socket.AF_INET6 if ":" in args.host.strip("[]") else socket.AF_INET
    # proto IPPROTO_TCP (not 0): asyncio then turns Nagle off on each connection it accepts
    # (it checks sock.proto); with Nagle on, every answer sent as headers + body waited ~40 ms
    # for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host.strip("[]"), args.port))
    except OSError as exc:
        raise RotoError(f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port.") from None
    sock.listen(128)
    port = sock.getsockname()[1]
    host = f"[{args.host.strip('[]')}]" if family == socket.AF_INET6 else args.host
    if made:
        print(f"token: {token}  (clients: ROTO_SERVER_TOKEN=... or --token-file)", file=sys.stderr)
    budget_text = f"{budget / 2**30:.1f} GB" if budget else "no limit"
    print(f"device: {choice.device} ({choice.reason}); model memory budget: {budget_text}", file=sys.stderr)
    print(f"roto-studio server listening on http://{host}:{port}", flush=True)
    _warm_up(choice)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30,
                            limit_concurrency=256)
    server = uvicorn.Server(config)
    _watch_parent(server)
    try:
        server.run(sockets=[sock])
    finally:
        state.close()
    return 0
