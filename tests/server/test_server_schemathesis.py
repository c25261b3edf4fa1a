"""schemathesis (a reader we did not write) against the real server's /v1/openapi.json on loopback:
requests generated from the schema, valid and not, about 200 in all (10 per operation), well
under a minute; no answer is a 5xx, and every answer fits the schema (its status declared, its
content type and body as declared, and a request without the token refused). The session routes
are given a real session (frames by path) and a real job, so requests reach the code behind them;
closing that session is left out (it would end the session for the others)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.server.helpers import start_server, write_plate

pytest.importorskip("schemathesis")  # the `test` extra

PHASES = "examples,fuzzing"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("schemathesis")
    root = base / "media"
    write_plate(root / "plate", frames=3)
    env = {"ROTO_WEIGHTS_DIR": str(base / "weights"), "ROTO_WEIGHTS_OFFLINE": str(base / "none")}
    srv = start_server(base / "server", "--device", "cpu", "--media-root", str(root), env=env)
    yield srv
    srv.stop()


def real_ids(srv, root) -> dict[str, str]:
    """A session over the plate (by path) with a box on its first frame, and a propagation job."""
    import httpx

    with httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=60) as c:
        media = {"path": str(root / "plate" / "plate.####.png"), "width": 80, "height": 64,
                 "frame_numbers": [1001, 1002, 1003]}
        sid = c.post("/sessions", json={"backend": "classical", "media": media}).json()["session"]
        r = c.post(f"/sessions/{sid}/video/prompt", json={"frame": 1001, "obj_id": "a", "box": [8, 20, 32, 44]})
        assert r.status_code == 200, r.text
        jid = c.post(f"/sessions/{sid}/propagate", json={"start": 1001}).json()["job"]
    return {"sid": sid, "jid": jid}


def run_schemathesis(srv, folder, ids: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    config = folder / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(f'"path.{k}" = "{v}"\n' for k, v in (ids or {}).items()))
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run",
           srv.url + "/v1/openapi.json", "-H", f"Authorization: Bearer {srv.token}", "--checks", CHECKS,
           "--phases", PHASES, "--max-examples", "10", "--seed", "22", "--workers", "1",
           "--request-timeout", "30", "--suppress-health-check", "all",
           "--exclude-name", "DELETE /v1/sessions/{sid}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=folder)  # its cache there


def test_schemathesis_finds_no_5xx_and_no_answer_off_schema(server, tmp_path):
    root = server.token_file.parents[1] / "media"
    r = run_schemathesis(server, tmp_path, real_ids(server, root))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    import re

    generated = re.search(r"(\d+) generated", out)
    assert generated and 150 <= int(generated.group(1)) <= 400, out[-3000:]  # it really ran, bounded
    assert server.alive()
