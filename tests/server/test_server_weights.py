"""The weights registry through the server: list, download with streamed progress (from the
local hub-like test server, pinned through ROTO_WEIGHTS_PINS), verify."""

from __future__ import annotations

import hashlib
import json
import os

import httpx

from tests.hub_server import HubServer
from tests.server.helpers import start_server

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAYLOAD = os.urandom(2 * 2**20 + 77)


def test_weights_list_download_verify(tmp_path):
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"sam2.1-tiny": {"revision": COMMIT, "files": {
        "sam2.1_hiera_tiny.pt": {"sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": len(PAYLOAD)}}}}))
    with HubServer({"facebook/sam2.1-hiera-tiny": (COMMIT, {"sam2.1_hiera_tiny.pt": PAYLOAD})}) as hub:
        env = {"ROTO_WEIGHTS_DIR": str(tmp_path / "weights"), "ROTO_WEIGHTS_PINS": str(pins),
               "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
               "ROTO_WEIGHTS_OFFLINE": ""}
        srv = start_server(tmp_path / "server", env=env)
        try:
            c = httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=120)
            listed = {w["name"]: w for w in c.get("/weights").json()["weights"]}
            assert listed["sam2.1-tiny"]["state"] == "missing" and "vitmatte-small" in listed
            job = c.post("/weights/sam2.1-tiny/download", json={}).json()["job"]
            events = []
            with c.stream("GET", f"/jobs/{job}/stream") as r:
                assert r.status_code == 200
                events = [json.loads(line) for line in r.iter_lines() if line.strip()]
            progress = [e["progress"] for e in events if "progress" in e]
            assert progress and progress[-1] == [len(PAYLOAD), len(PAYLOAD)]
            assert events[-1]["state"] == "succeeded", events[-1]
            assert c.get(f"/jobs/{job}").json()["state"] == "succeeded"
            assert (tmp_path / "weights" / "sam2.1-tiny" / "sam2.1_hiera_tiny.pt").read_bytes() == PAYLOAD
            v = c.post("/weights/sam2.1-tiny/verify").json()
            assert v["state"] == "ok" and v["usable"]
            listed = {w["name"]: w for w in c.get("/weights?check=true").json()["weights"]}
            assert listed["sam2.1-tiny"]["state"] == "ok"
            assert listed["sam2.1-tiny"]["file"] == "sam2.1_hiera_tiny.pt"  # a name, never a server path
            c.close()
        finally:
            srv.stop()
