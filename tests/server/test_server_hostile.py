"""Hostile requests to a real server subprocess: each is answered with a 4xx JSON error (one
line, no traceback), the server stays up, and nothing outside the media roots is opened (the
files outside are FIFOs: opening one for reading would register a reader, which the test sees)."""

from __future__ import annotations

import base64
import errno
import os
import pickle
import socket
import zlib
from urllib.parse import urlparse

import cv2
import httpx
import numpy as np
import pytest

from tests.server.helpers import start_server, write_plate

SECRET = "TOP-SECRET-CONTENT"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root = base / "media"
    write_plate(root / "plate", frames=4)
    outside = base / "outside"
    outside.mkdir()
    fifos = [outside / "secret.png", outside / "plate.0001.png", base / "secret.mp4"]
    for f in fifos:
        os.mkfifo(f)
    (outside / "passwd.txt").write_text(SECRET)
    (root / "link.mp4").symlink_to(base / "secret.mp4")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    srv = start_server(base / "server", "--media-root", str(root), "--path-map", f"/client/shots={root}")
    yield base, root, fifos, srv
    srv.stop()


def _error(resp, codes):
    assert resp.status_code in codes, (resp.status_code, resp.text[:300])
    assert 400 <= resp.status_code < 500
    assert "\n" not in resp.text.strip()  # one line of JSON
    body = resp.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "Traceback" not in resp.text and 'File "' not in resp.text and SECRET not in resp.text
    return body["error"]


def _media(path, frames=(1001, 1002, 1003, 1004), w=80, h=64):
    return {"backend": "classical", "media": {"path": path, "width": w, "height": h, "frame_numbers": list(frames)}}


def _png16(w, h):
    ok, buf = cv2.imencode(".png", np.zeros((h, w), np.uint16))
    return base64.b64encode(buf.tobytes()).decode()


def _raw(url: str, request: bytes) -> bytes:
    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += s.recv(65536)
        return head + b"\r\n\r\n" + body


def test_hostile_requests(env):
    base, root, fifos, srv = env
    plate = str(root / "plate" / "plate.####.png")
    c = httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=60)
    anon = httpx.Client(base_url=srv.url + "/v1", timeout=60)
    count = 0

    def hostile(resp, *codes):
        nonlocal count
        count += 1
        return _error(resp, codes)

    # tokens: none, wrong, other scheme; the schema and unknown paths are guarded too
    hostile(anon.get("/status"), 401)
    hostile(anon.get("/status", headers=srv.headers("x" * 32)), 401)
    hostile(anon.get("/status", headers={"Authorization": f"Basic {srv.token}"}), 401)
    hostile(anon.get("/openapi.json"), 401)
    hostile(anon.post("/sessions", json=_media(plate)), 401)
    hostile(anon.get("/../../etc/passwd"), 401)
    # routing and methods
    hostile(c.get("/nothing-here"), 404)
    hostile(c.delete("/status"), 405)
    # bodies: malformed, pickled, oversized (declared, then streamed without a length)
    hostile(c.post("/sessions", content=b"{not json", headers={"content-type": "application/json"}), 400)
    hostile(c.post("/sessions", content=pickle.dumps({"a": 1}), headers={"content-type": "application/json"}), 400)
    reply = _raw(srv.url, b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + srv.token.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413") and b'"error"' in reply
    count += 1

    def chunks():
        for _ in range(70):
            yield b" " * 2**20

    hostile(c.post("/sessions", content=chunks(), headers={"content-type": "application/json"}), 413)
    # paths: traversal, outside the roots, symlinks out, path-map escape, relative, NUL
    for path in (f"{root}/../secret.mp4", str(base / "secret.mp4"), "/etc/passwd", str(root / "link.mp4"),
                 str(root / "linkdir" / "plate.####.png"), "/client/shots/../outside/plate.####.png",
                 "/client/shots/../../secret.mp4", "plate/plate.####.png"):
        hostile(c.post("/sessions", json=_media(path)), 403)
    hostile(c.post("/sessions", json=_media(f"{root}/plate\x00/../../secret.mp4")), 403, 422)
    # names: unknown backend, model names with paths, unknown weights
    hostile(c.post("/sessions", json={**_media(plate), "backend": "evil"}), 400)
    hostile(c.post("/sessions", json={**_media(plate), "backend": "../evil"}), 422)
    hostile(c.post("/sessions", json={**_media(plate), "model": "../../etc/passwd"}), 422)
    hostile(c.post("/weights/no-such-model/download", json={}), 404)
    hostile(c.post("/weights/..%2F..%2Fetc%2Fpasswd/verify"), 404)
    hostile(c.post("/sessions", json={**_media(plate), "debug": True}), 422)

    # a real session (frames by path), then bad prompts on it
    r = c.post("/sessions", json=_media(plate))
    assert r.status_code == 200 and r.json()["mode"] == "path"
    sid = r.json()["session"]
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": -5, "points": [[10, 10]]}), 404)
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 999999, "points": [[10, 10]]}), 404)
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "points": [[1, 1]] * 100_001}), 422)
    hostile(c.post(f"/sessions/{sid}/predict", content=b'{"frame": 1001, "points": [[NaN, 1]]}',
                   headers={"content-type": "application/json"}), 400, 422)
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "points": [[1, 1]], "labels": [1, 0, 1]}), 400)
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "mask": {"png16": "%%%not base64"}}), 400)
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "mask": {"png16": _png16(10, 10)}}), 400)
    bomb = base64.b64encode(zlib.compress(b"\0" * 64 * 2**20)).decode()
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "mask": {"f32z": bomb, "shape": [64, 80]}}), 400)
    hostile(c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "points": [[5, 5]],
                                                     "logits": {"f32z": bomb, "shape": [16384, 16384, 16384]}}), 400)
    hostile(c.post(f"/sessions/{sid}/frames", json={"frames": {"1001": "a" * 64}}), 400)
    hostile(c.post(f"/sessions/{sid}/propagate", json={"start": -1}), 404)
    hostile(c.post("/sessions/0123456789abcdef/predict", json={"frame": 1001}), 404)
    hostile(c.post("/sessions/../../x/predict", json={"frame": 1001}), 404, 422)
    hostile(c.get("/jobs/0123456789abcdef/stream"), 404)
    # uploads: a PNG header claiming a huge image, pixels that do not match the name, a bad name
    huge = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + (100_000).to_bytes(4, "big") * 2 + b"\x08\x02\0\0\0" + b"\0" * 64
    hostile(c.put("/frames/" + "0" * 64, content=huge), 400)
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    hostile(c.put("/frames/" + "0" * 64, content=png.tobytes()), 400)
    hostile(c.put("/frames/..%2Fsecret", content=png.tobytes()), 404, 422)
    hostile(c.post("/matte", json={"image": {"hash": "1" * 64}, "trimap": {"png8": ""}}), 404)

    assert count >= 15
    # still up and answering; the session still works
    assert c.get("/status").status_code == 200 and srv.alive()
    r = c.post(f"/sessions/{sid}/predict", json={"frame": 1002, "box": [18, 16, 52, 48]})
    assert r.status_code == 200 and "png16" in r.json()["alpha"]
    # nothing outside the roots was opened: no reader ever attached to the FIFOs
    for fifo in fifos:
        with pytest.raises(OSError) as info:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert info.value.errno == errno.ENXIO
    c.close()
    anon.close()


def test_serve_refuses_public_bind_without_token_file(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "roto_studio", "serve", "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "ROTO_SERVER_TOKEN": "x" * 40})
    assert r.returncode == 2
    assert "--token-file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
