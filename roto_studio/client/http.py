"""The HTTP side of talking to the model server (httpx): token, JSON calls, binary answers and
streams (masks as raw pixels, core.wire.pack), JSON-line streams, Nagle off, and every failure
turned into a one-line ServerError (ServerUnavailable when the server cannot be reached or died
mid-request; status 507 when its GPU ran out of memory)."""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from typing import Iterator

from roto_studio.core.errors import ModelError, RotoError


class ServerError(ModelError):
    def __init__(self, message: str, status: int = 0, retry=()):
        super().__init__(message)
        self.status = status
        self.server_retry = tuple(retry or ())  # what the server says may work (507: 'smaller', 'cpu')

    @property
    def out_of_memory(self) -> bool:
        return self.status == 507


class ServerUnavailable(ServerError):
    """The server is not there (not started, killed, network down). A job it cut short can be
    resumed once the server is back (retry option "resume")."""

    retry = ("resume",)


def token_from(token_file: str | None = None) -> str:
    """The token: the first line of token_file, else ROTO_SERVER_TOKEN."""
    if token_file:
        try:
            text = open(token_file, encoding="utf-8").read(4096)
        except OSError as exc:
            raise RotoError(f"cannot read the token file {token_file} ({exc.strerror}); check the path.") from None
        token = (text.strip().splitlines() or [""])[0].strip()
    else:
        token = os.environ.get("ROTO_SERVER_TOKEN", "").strip()
    if not token:
        raise RotoError("the model server needs its token: set ROTO_SERVER_TOKEN or give --token-file F.")
    return token


class ServerClient:
    def __init__(self, url: str, token: str, timeout: float = 300.0):
        import httpx

        url = (url or "").strip().rstrip("/")
        if not (url.startswith("http://") or url.startswith("https://")):
            raise RotoError(f"--server {url!r} is not an http:// or https:// URL (e.g. http://gpu-box:8765).")
        if url.endswith("/v1"):
            url = url[:-3]
        self.url = url
        self._httpx = httpx
        # Nagle off: httpx writes a request's headers and body separately, and the body would
        # otherwise wait ~40 ms for the server's delayed ACK
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                                        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8))
        self._http = httpx.Client(base_url=url + "/v1", headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx.Timeout(timeout, connect=5.0), transport=transport)
        self.known: set[str] = set()  # frame hashes the server is known to have

    def _fail(self, exc: Exception) -> ServerUnavailable:
        return ServerUnavailable(f"the model server at {self.url} cannot be reached or stopped answering "
                                 f"({type(exc).__name__}); check it is running.")

    @staticmethod
    def _error(resp) -> ServerError:
        retry: tuple[str, ...] = ()
        try:
            body = resp.json()
            message = body.get("error") or resp.text[:200]
            retry = tuple(r for r in body.get("retry", ()) if isinstance(r, str))
        except (ValueError, AttributeError):
            message = resp.text[:200] or resp.reason_phrase
        if resp.status_code == 401:
            message = "the model server refused the token; check ROTO_SERVER_TOKEN / --token-file."
        return ServerError(f"model server: {message}", resp.status_code, retry)

    def request(self, method: str, path: str, body=None, content: bytes | None = None) -> dict:
        try:
            if content is not None:
                resp = self._http.request(method, path, content=content,
                                          headers={"content-type": "application/octet-stream"})
            else:
                resp = self._http.request(method, path, json=body)
        except self._httpx.TransportError as exc:
            raise self._fail(exc) from None
        if resp.status_code >= 400:
            raise self._error(resp)
        try:
            return resp.json()
        except ValueError:
            raise ServerError("model server: the answer is not JSON.", resp.status_code) from None

    def post_binary(self, path: str, body) -> tuple[dict, list[bytes]]:
        """POST JSON, answered by one binary message (core.wire.pack): (header, blobs)."""
        from roto_studio.core import wire

        try:
            resp = self._http.request("POST", path, json=body, headers={"accept": wire.BINARY})
        except self._httpx.TransportError as exc:
            raise self._fail(exc) from None
        if resp.status_code >= 400:
            raise self._error(resp)
        data = memoryview(resp.content)
        pos = 0

        def read(n):
            nonlocal pos
            chunk = bytes(data[pos:pos + n])
            pos += len(chunk)
            return chunk

        message = wire.read_message(read)
        if message is None:
            raise ServerError("model server: an empty answer.", resp.status_code)
        return message

    @property
    def mask_codec(self) -> str:
        """Masks raw on loopback (no time spent compressing), zlib-compressed over a network."""
        from urllib.parse import urlsplit

        host = (urlsplit(self.url).hostname or "").lower()
        return "u16" if host in ("localhost", "127.0.0.1", "::1") else "u16z"

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def post(self, path: str, body=None) -> dict:
        return self.request("POST", path, body if body is not None else {})

    def put_bytes(self, path: str, data: bytes) -> dict:
        return self.request("PUT", path, content=data)

    @contextmanager
    def stream_binary(self, path: str) -> Iterator[Iterator[tuple[dict, list[bytes]]]]:
        """The binary messages (header, blobs) of GET path (a job's stream, core.wire.pack)."""
        from roto_studio.core import wire

        try:
            with self._http.stream("GET", path, timeout=self._httpx.Timeout(None, connect=5.0),
                                   headers={"accept": wire.BINARY}) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                chunks = resp.iter_bytes()
                buf = bytearray()

                def read(n):
                    while len(buf) < n:
                        try:
                            chunk = next(chunks)
                        except StopIteration:
                            break
                        buf.extend(chunk)
                    out = bytes(buf[:n])
                    del buf[:n]
                    return out

                def messages():
                    try:
                        while True:
                            message = wire.read_message(read)
                            if message is None:
                                return
                            yield message
                    except self._httpx.TransportError as exc:
                        raise self._fail(exc) from None
                    except wire.WireError:
                        raise ServerError("model server: a damaged event in the stream.") from None

                yield messages()
        except self._httpx.TransportError as exc:
            raise self._fail(exc) from None

    @contextmanager
    def stream(self, path: str) -> Iterator[Iterator[dict]]:
        """The JSON-line events of GET path (a job's stream)."""
        try:
            with self._http.stream("GET", path, timeout=self._httpx.Timeout(None, connect=5.0)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)

                def events():
                    try:
                        for line in resp.iter_lines():
                            if line.strip():
                                yield json.loads(line)
                    except self._httpx.TransportError as exc:
                        raise self._fail(exc) from None
                    except ValueError:
                        raise ServerError("model server: a damaged event in the stream.") from None

                yield events()
        except self._httpx.TransportError as exc:
            raise self._fail(exc) from None

    def status(self) -> dict:
        return self.get("/status")

    def engine(self, project, backend: str = "auto", model: str | None = None, media=None):
        """A models.engine.Engine whose models run on this server (client.remote.remote_engine)."""
        from roto_studio.client.remote import remote_engine

        return remote_engine(project, self, backend, model, media=media)

    def matter(self, backend: str = "auto"):
        """The server's matting behind the Matter interface (client.remote.RemoteMatter)."""
        from roto_studio.client.remote import RemoteMatter

        return RemoteMatter(self, backend)

    def inpainter(self, backend: str = "auto", model: str | None = None, prompt: str = "", seed: int = 0):
        """The server's inpainting behind the Inpainter interface (client.remote.RemoteInpainter)."""
        from roto_studio.client.remote import RemoteInpainter

        return RemoteInpainter(self, backend, model=model, prompt=prompt, seed=seed)

    def close(self) -> None:
        self._http.close()
