"""A local server that answers like the Hugging Face hub and like a plain file host (GitHub release
links), for download tests: http.server on 127.0.0.1, nothing else.

Hub: HEAD/GET /<owner>/<name>/resolve/<revision>/<path> for the repos given, at their commit (or
`main`), with X-Repo-Commit, an ETag (sha256 for weight files as the hub gives for LFS files, a
git-style sha1 for small text files) and Range support.
Plain: /files/NAME serves a file, /redirect/NAME -> 302 -> /moved/NAME -> 301 -> /files/NAME,
/short/NAME promises more bytes than it sends.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _etag(path: str, data: bytes) -> str:
    if path.endswith((".json", ".txt", ".yaml")):  # a regular git file: the blob's sha1
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return hashlib.sha256(data).hexdigest()


class HubServer:
    def __init__(self, repos: dict[str, tuple[str, dict[str, bytes]]] | None = None,
                 files: dict[str, bytes] | None = None, delay: float = 0.0):
        """repos: {repo_id: (commit, {path: bytes})}; files: {name: bytes} for the plain routes."""
        self.repos = repos or {}
        self.files = files or {}
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of ranged requests
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _not_found(self, code="EntryNotFound"):
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, data: bytes, body: bool, headers: dict, extra: int = 0):
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    srv.ranges.append((self.path, rng))
                if rng and rng.startswith("bytes=") and body:
                    start = int(rng[6:].split("-")[0])
                part = data[start:]
                self.send_response(206 if start else 200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(part) + extra))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if not body:
                    return
                step = 256 * 1024
                try:
                    for i in range(0, len(part), step):
                        self.wfile.write(part[i:i + step])
                        self.wfile.flush()
                        if srv.delay:
                            time.sleep(srv.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if extra:
                    self.close_connection = True

            def _answer(self, body: bool):
                srv.requests.append((self.command, self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo, revision, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                    if repo not in srv.repos:
                        return self._not_found("RepoNotFound")
                    commit, files = srv.repos[repo]
                    if revision not in ("main", commit):
                        return self._not_found("RevisionNotFound")
                    if name not in files:
                        return self._not_found()
                    data = files[name]
                    return self._send(data, body, {"X-Repo-Commit": commit, "ETag": f'"{_etag(name, data)}"'})
                kind, name = (parts + [""])[:2] if len(parts) == 2 else ("", "")
                data = srv.files.get(name)
                if data is None or kind not in ("files", "redirect", "moved", "short"):
                    return self._not_found()
                if kind in ("redirect", "moved"):
                    self.send_response(302 if kind == "redirect" else 301)
                    self.send_header("Location", f"/{'moved' if kind == 'redirect' else 'files'}/{name}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(data, body, {}, extra=1000 if kind == "short" else 0)

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def write_pins(path: Path, models: dict[str, tuple[str, dict[str, bytes]]], urls: dict[str, str] | None = None) -> Path:
    """A ROTO_WEIGHTS_PINS file pinning each model to (revision, {file: bytes}) by sha256 and size;
    urls: {file: plain address} for files served outside the hub."""
    urls = urls or {}
    doc = {name: {"revision": rev, "files": {
        f: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d), **({"url": urls[f]} if f in urls else {})}
        for f, d in files.items()}} for name, (rev, files) in models.items()}
    path.write_text(json.dumps(doc, indent=1))
    return path
