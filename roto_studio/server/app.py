"""The model server's HTTP app (FastAPI): guard, errors, status, weights; routes in routes.py.

- Guard (pure ASGI, in front of everything, the OpenAPI schema included): a request without
  `Authorization: Bearer TOKEN` (the scheme name in any case), or with another token, is answered
  401 before routing; request bodies over the size limit are answered 413 (Content-Length checked
  first, then counted).
- Every error is one line of JSON `{"error": "one line"}`: our RotoErrors map to 4xx codes,
  validation errors to 400/422, anything unexpected to 500 with the type only (the traceback goes
  to the server log). Nothing is ever unpickled: bodies are JSON, PNG or zlib-compressed float32.
- API version 1 lives under /v1; the schema is at /v1/openapi.json (server/schema.py).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from roto_studio import __version__
from roto_studio.core.errors import ModelError, RotoError
from roto_studio.core.wire import WireError
from roto_studio.server.frames import Forbidden, NotFound
from roto_studio.server.manager import OverBudget
from roto_studio.server.state import Conflict, Gone, ServerState, TooMany, public_message

log = logging.getLogger(__name__)

JSON_LIMIT = 64 * 2**20  # JSON bodies (masks travel as PNG inside)
FRAME_LIMIT = 512 * 2**20  # one uploaded frame (PNG)
API = "/v1"


class _TooLarge(BaseException):
    """Raised from the body reader; a BaseException so no handler on the way turns it into a 400."""


def one_line(text: str, limit: int = 500) -> str:
    """`text` with every run of whitespace (newlines included) one space, at most `limit` long."""
    return " ".join(str(text).split())[:limit] or "error"


def _json(status: int, message: str, headers: dict | None = None) -> tuple[bytes, list]:
    body = json.dumps({"error": one_line(message)}).encode()
    hs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for k, v in (headers or {}).items():
        hs.append((k.encode(), v.encode()))
    return body, hs


class Guard:
    """Token check and body size limit for every HTTP request (pure ASGI middleware)."""

    def __init__(self, app, token: str, json_limit: int = JSON_LIMIT, frame_limit: int = FRAME_LIMIT):
        self.app = app
        self.token = token.encode()
        self.json_limit, self.frame_limit = json_limit, frame_limit

    async def _send_error(self, send, status: int, message: str, headers=None) -> None:
        body, hs = _json(status, message, headers)
        await send({"type": "http.response.start", "status": status, "headers": hs})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return  # websockets are not served
        auth = b""
        length = None
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                auth = v
            elif k == b"content-length":
                length = v
        scheme, _, given = auth.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
            return await self._send_error(send, 401, "a valid token is required (Authorization: Bearer TOKEN).",
                                          {"www-authenticate": "Bearer"})
        path = scope.get("path", "")
        limit = self.frame_limit if path.startswith(API + "/frames/") else self.json_limit
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                return await self._send_error(send, 413, f"the request body is over {limit // 2**20} MiB.")
        seen = 0
        started = False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            if not started:
                await self._send_error(send, 413, f"the request body is over {limit // 2**20} MiB.")


def _status_for(exc: Exception) -> int:
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Gone):
        return 410
    if isinstance(exc, TooMany):
        return 429
    if isinstance(exc, OverBudget):
        return 507
    from roto_studio.models.device import DeviceOutOfMemory

    if isinstance(exc, DeviceOutOfMemory):
        return 507
    if isinstance(exc, (WireError, ModelError, RotoError)):
        return 400
    return 500  # anything else is our bug: its type only, the traceback in the server log


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if not errors:
        return 400, "the request is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return 400, "the request body is not valid JSON."
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    msg = one_line(first.get("msg", "invalid value"), 200)
    return 422, f"{where or 'request'}: {msg}"


def device_memory(device: str) -> dict:
    """{'total': bytes, 'free': bytes} of the device models run on (host RAM for the CPU)."""
    kind = device.split(":")[0]
    try:
        if kind == "cuda":
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            free, total = torch.cuda.mem_get_info(index)
            return {"total": int(total), "free": int(free)}
        if kind == "mps":
            import torch

            total = int(torch.mps.recommended_max_memory())
            return {"total": total, "free": max(0, total - int(torch.mps.current_allocated_memory()))}
    except Exception:  # noqa: BLE001 - status must answer anyway
        pass
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total": int(vm.total), "free": int(vm.available)}
    except ImportError:
        pages = os.sysconf("SC_PAGE_SIZE")
        return {"total": int(os.sysconf("SC_PHYS_PAGES") * pages), "free": int(os.sysconf("SC_AVPHYS_PAGES") * pages)}


def create_app(state: ServerState) -> FastAPI:
    app = FastAPI(title="Roto Studio model server", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=API + "/openapi.json")
    app.state.roto = state
    app.add_middleware(Guard, token=state.token)
    from roto_studio.server import schema

    schema.install(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        status, message = _validation_message(exc)
        return JSONResponse({"error": one_line(message)}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; see /v1/openapi.json."
        if exc.status_code == 405:
            message = "method not allowed on this endpoint."
        return JSONResponse({"error": one_line(message)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RotoError)
    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception):
        status = _status_for(exc)
        body: dict[str, str | list[str]] = {"error": one_line(public_message(exc))}
        retry = getattr(exc, "retry", None)
        if retry:
            body["retry"] = list(retry)
        return JSONResponse(body, status_code=status)

    @app.get(API + "/status", summary="Server, device and loaded models")
    def status():
        m = state.manager
        return {
            "version": __version__,
            "api": 1,
            "uptime_s": round(time.time() - state.started, 1),
            "device": {"name": state.device, **device_memory(state.device)},
            "budget_bytes": m.budget,
            "used_bytes": m.used,
            "unloads": m.unloads,
            "models": m.status(),
            "sessions": len(state.sessions),
            "jobs": sum(1 for j in list(state.jobs.values()) if j.state == "running"),
            "frame_cache_bytes": state.cache.size,
            "media_by_path": state.policy.enabled,
        }

    from roto_studio.server import routes

    routes.add_routes(app, state)
    return app
