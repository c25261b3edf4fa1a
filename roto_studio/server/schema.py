"""The server's OpenAPI schema (/v1/openapi.json): what FastAPI derives from the routes, plus what
it cannot see: the bearer token every request needs, each route's error answers (one JSON object
`{"error": "one line"}`, with `retry` on a 507) and the binary answers some routes give when asked
for them (Accept: application/x-roto-binary, or `masks` u16 / u16z)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from roto_studio.core import wire

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong and what to do, in one line"},
        "retry": {"type": "array", "items": {"type": "string"},
                  "description": "what may work instead (507: smaller, cpu)"},
    },
}

WHY = {
    400: "bad input (a value the request shapes cannot refuse: a missing prompt, undecodable bytes...)",
    401: "no token, or another token (Authorization: Bearer TOKEN)",
    403: "a media path outside the server's --media-root folders",
    404: "no such session, job, frame or model",
    409: "the request does not fit the state (the session is busy with a job, other media at that path...)",
    410: "the session expired (idle longer than the server's --session-idle)",
    413: "the request body is over the size limit",
    422: "the request does not match its shape",
    429: "too many sessions or jobs on the server",
    500: "an unexpected server error (its type only; the traceback is in the server log)",
    507: "the device ran out of memory, or the model does not fit the memory budget",
}

COMMON = (400, 401, 413, 422, 500)
SESSION = (404, 410)
MODEL = (409, 507)  # a model call: the session's model may have been unloaded (409), memory (507)

# extra error answers per (method, path), beyond COMMON
EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/v1/sessions"): (403, 404, 409, 429, 507),
    ("delete", "/v1/sessions/{sid}"): (404,),
    ("post", "/v1/sessions/{sid}/frames"): SESSION,
    ("post", "/v1/sessions/{sid}/predict"): SESSION + MODEL,
    ("post", "/v1/sessions/{sid}/prefetch"): SESSION + MODEL,
    ("post", "/v1/sessions/{sid}/find"): SESSION + MODEL,
    ("post", "/v1/sessions/{sid}/video/prompt"): SESSION + MODEL,
    ("post", "/v1/sessions/{sid}/video/reset"): SESSION + MODEL,
    ("post", "/v1/sessions/{sid}/video/remove"): SESSION + MODEL,
    ("post", "/v1/sessions/{sid}/propagate"): SESSION + (409, 429),
    ("post", "/v1/sessions/{sid}/track_text"): SESSION + (409, 429),
    ("get", "/v1/jobs/{jid}"): (404,),
    ("get", "/v1/jobs/{jid}/stream"): (404, 409),
    ("post", "/v1/jobs/{jid}/cancel"): (404,),
    ("post", "/v1/matte"): (404, 410, 507),
    ("post", "/v1/inpaint"): (404, 410, 507),
    ("post", "/v1/weights/{name}/verify"): (404,),
    ("post", "/v1/weights/{name}/download"): (404, 429),
}

# answers that may come as binary messages (core.wire.pack) instead of JSON
BINARY_OK = {("post", "/v1/sessions/{sid}/predict"), ("post", "/v1/sessions/{sid}/video/prompt")}
STREAMS = {("get", "/v1/jobs/{jid}/stream")}


def install(app: FastAPI) -> None:
    """Replace app.openapi with one that adds security, error answers and binary answers."""

    def openapi():
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description="Roto Studio model server, API version 1. Every request needs "
                                         "`Authorization: Bearer TOKEN`; every error is `{\"error\": \"one line\"}`.")
        comps = schema.setdefault("components", {})
        comps.setdefault("schemas", {})["Error"] = ERROR
        comps["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                               "description": "the server's token (--token-file)"}}
        schema["security"] = [{"bearer": []}]
        comps["schemas"].pop("HTTPValidationError", None)
        comps["schemas"].pop("ValidationError", None)
        for path, ops in schema.get("paths", {}).items():
            for method, op in ops.items():
                responses = op.setdefault("responses", {})
                for code in sorted(set(COMMON) | set(EXTRA.get((method, path), ()))):
                    responses[str(code)] = {
                        "description": WHY[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                ok = responses.setdefault("200", {"description": "Successful Response"})
                content = ok.setdefault("content", {"application/json": {"schema": {}}})
                if (method, path) in BINARY_OK:
                    content[wire.BINARY] = {"schema": {"type": "string", "format": "binary"}}
                if (method, path) in STREAMS:
                    ok["content"] = {"application/x-ndjson": {"schema": {"type": "string"}},
                                     wire.BINARY: {"schema": {"type": "string", "format": "binary"}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
