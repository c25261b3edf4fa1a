"""The server's error contract over real HTTP (a `roto-studio serve` subprocess on 127.0.0.1):
every error one line of JSON with its status; a predict without a prompt is a 400 that says what
is missing (no traceback in the log); the Authorization scheme in any case; idle sessions expire
(410 afterwards, and they no longer count against the session limit); one job per session (409);
/v1/inpaint's `model` only a registry name or a folder inside --model-root; and the OpenAPI
schema declares the bearer token and each route's error answers."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from roto_studio.core import wire
from tests.server.helpers import start_server, write_plate

IDLE_S = 2.0


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("contract")
    media = base / "media"
    write_plate(media / "plate", frames=4)
    models = base / "models"
    (models / "my-inpainter").mkdir(parents=True)
    (base / "elsewhere").mkdir()
    srv = start_server(base / "server", "--device", "cpu", "--media-root", str(media), "--model-root", str(models),
                       env={"ROTO_SERVER_SESSION_IDLE": str(IDLE_S), "ROTO_WEIGHTS_DIR": str(base / "weights"),
                            "ROTO_WEIGHTS_OFFLINE": str(base / "none")})
    c = httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=60)
    yield base, srv, c
    c.close()
    srv.stop()


def error(resp, status: int) -> str:
    """The answer is `status` with one line of JSON {"error": "..."}; returns the message."""
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    text = resp.text
    assert "\n" not in text.strip() and resp.headers["content-type"].startswith("application/json")
    message = resp.json()["error"]
    assert isinstance(message, str) and message and "Traceback" not in text
    assert "internal server error" not in message
    return message


def plate_session(c, base, backend="classical") -> str:
    media = {"path": str(base / "media" / "plate" / "plate.####.png"), "width": 80, "height": 64,
             "frame_numbers": [1001, 1002, 1003, 1004]}
    r = c.post("/sessions", json={"backend": backend, "media": media})
    assert r.status_code == 200, r.text
    return r.json()["session"]


def test_predict_without_a_prompt_says_what_is_missing(env):
    base, srv, c = env
    sid = plate_session(c, base)
    for body in ({"frame": 1001}, {"frame": 1001, "points": [], "labels": []}):
        message = error(c.post(f"/sessions/{sid}/predict", json=body), 400)
        assert "prompt" in message and "points" in message and "box" in message
    message = error(c.post(f"/sessions/{sid}/video/prompt", json={"frame": 1001, "obj_id": "a"}), 400)
    assert "prompt" in message
    # a stop frame behind the start is said in one line too (it was a ValueError deep in a model)
    message = error(c.post(f"/sessions/{sid}/propagate", json={"start": 1003, "stop": 1001}), 400)
    assert "behind" in message
    r = c.post(f"/sessions/{sid}/predict", json={"frame": 1001, "box": [8, 20, 32, 44]})
    assert r.status_code == 200
    log = srv.log.read_text()
    assert "Traceback" not in log and "ValueError" not in log, log[-2000:]


def test_the_scheme_name_is_case_insensitive(env):
    _, srv, _ = env
    for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
        r = httpx.get(srv.url + "/v1/status", headers={"Authorization": f"{scheme} {srv.token}"})
        assert r.status_code == 200, scheme
    for value in (f"Basic {srv.token}", f"bearer {srv.token}x", "bearer", f"bearer{srv.token}", ""):
        error(httpx.get(srv.url + "/v1/status", headers={"Authorization": value}), 401)


def test_idle_sessions_expire_and_free_their_places(env):
    from roto_studio.server.state import MAX_SESSIONS

    base, srv, c = env
    media = {"width": 80, "height": 64, "frame_numbers": [1, 2]}  # uploaded frames: nothing opened
    open_now = c.get("/status").json()["sessions"]
    abandoned = [c.post("/sessions", json={"backend": "classical", "media": media}).json()["session"]
                 for _ in range(MAX_SESSIONS - open_now)]
    assert "64 open sessions" in error(c.post("/sessions", json={"backend": "classical", "media": media}), 429)
    time.sleep(IDLE_S + 0.5)
    r = c.post("/sessions", json={"backend": "classical", "media": media})  # the abandoned ones went
    assert r.status_code == 200, r.text
    fresh = r.json()["session"]
    message = error(c.post(f"/sessions/{abandoned[0]}/prefetch", json={"frames": [1]}), 410)
    assert "expired" in message and "open a new one" in message
    error(c.delete(f"/sessions/{abandoned[1]}"), 410)
    assert c.post(f"/sessions/{fresh}/prefetch", json={"frames": []}).status_code == 200
    error(c.post("/sessions/0123456789abcdef/prefetch", json={"frames": []}), 404)  # never existed
    # a session in use does not expire: each request starts its idle time again
    for _ in range(3):
        time.sleep(IDLE_S / 2)
        assert c.post(f"/sessions/{fresh}/prefetch", json={"frames": []}).status_code == 200


def test_one_job_per_session(env):
    base, srv, c = env
    # uploaded frames, only the first sent: the job then waits for frame 2, so it stays busy
    frames = [np.full((64, 80, 3), 40 + 30 * i, np.uint8) for i in range(3)]
    for f in frames:
        f[20:44, 8 + 3 * int(f[0, 0, 0] // 30):32] = (220, 60, 40)
    media = {"width": 80, "height": 64, "frame_numbers": [1, 2, 3]}
    sid = c.post("/sessions", json={"backend": "classical", "media": media}).json()["session"]
    digest = wire.frame_hash(frames[0])
    assert c.put(f"/frames/{digest}", content=wire.frame_png(frames[0])).status_code == 200
    assert c.post(f"/sessions/{sid}/frames", json={"frames": {"1": digest}}).status_code == 200
    assert c.post(f"/sessions/{sid}/video/prompt", json={"frame": 1, "obj_id": "a", "box": [8, 20, 32, 44]}
                  ).status_code == 200
    r = c.post(f"/sessions/{sid}/propagate", json={"start": 1})
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    message = error(c.post(f"/sessions/{sid}/propagate", json={"start": 1}), 409)
    assert "busy" in message and job in message
    error(c.post(f"/sessions/{sid}/propagate", json={"start": 3, "reverse": True}), 409)
    # a cancel answers once the job stopped: the session takes the next job at once
    assert c.post(f"/jobs/{job}/cancel").json()["state"] == "cancelled"
    r = c.post(f"/sessions/{sid}/propagate", json={"start": 1, "stop": 1})
    assert r.status_code == 200, r.text
    with c.stream("GET", f"/jobs/{r.json()['job']}/stream") as s:
        events = [line for line in s.iter_lines() if line.strip()]
    assert '"state":"succeeded"' in events[-1]
    error(c.get(f"/jobs/{r.json()['job']}/stream"), 409)  # a job is streamed once


@pytest.mark.parametrize("model", [".", "..", "/", "/etc", "../elsewhere", "ELSEWHERE", "", "my-inpainter/..",
                                   "MODELS", "my-inpainter/../../elsewhere"])
def test_inpaint_model_is_a_registry_name_or_a_folder_in_the_roots(env, model):
    base, srv, c = env
    model = model.replace("ELSEWHERE", str(base / "elsewhere")).replace("MODELS", str(base / "models"))
    image = np.full((32, 40, 3), 90, np.uint8)
    digest = wire.frame_hash(image)
    c.put(f"/frames/{digest}", content=wire.frame_png(image))
    hole = wire.b64(wire.gray8_png(np.ones((32, 40), bool)))
    r = c.post("/inpaint", json={"backend": "opencv", "model": model, "image": {"hash": digest}, "hole": {"png8": hole}})
    if model == "":
        error(r, 422)
        return
    message = error(r, 400)
    assert "registry name" in message and "--model-root" in message


def test_inpaint_model_inside_the_roots_is_taken(env):
    base, srv, c = env
    image = np.full((32, 40, 3), 90, np.uint8)
    digest = wire.frame_hash(image)
    c.put(f"/frames/{digest}", content=wire.frame_png(image))
    hole = wire.b64(wire.gray8_png(np.ones((32, 40), bool)))
    for model in ("my-inpainter", str(base / "models" / "my-inpainter")):
        body = {"backend": "opencv", "model": model, "image": {"hash": digest}, "hole": {"png8": hole}}
        r = c.post("/inpaint", json=body)
        assert r.status_code == 200, r.text


def test_openapi_declares_bearer_and_error_answers(env):
    _, srv, c = env
    schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "the server's token (--token-file)"}
    assert schema["security"] == [{"bearer": []}]
    ref = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            answers = op["responses"]
            for code in ("400", "401", "413", "422", "500"):
                assert answers[code]["content"]["application/json"]["schema"] == ref, (method, path, code)
            if "{sid}" in path and method == "post":
                assert {"404", "410"} <= set(answers), (method, path)
    predict = schema["paths"]["/v1/sessions/{sid}/predict"]["post"]["responses"]
    assert {"409", "507"} <= set(predict) and wire.BINARY in predict["200"]["content"]
    assert "409" in schema["paths"]["/v1/sessions/{sid}/propagate"]["post"]["responses"]
    assert "403" in schema["paths"]["/v1/sessions"]["post"]["responses"]


def test_serve_refuses_a_bad_idle_time_in_one_line(tmp_path, monkeypatch, capsys):
    from roto_studio.cli import main

    monkeypatch.setenv("ROTO_SERVER_TOKEN", "x" * 40)
    for args, env in ((["--session-idle", "0"], ""), ([], "soon"), (["--model-root", str(tmp_path / "missing")], "")):
        monkeypatch.setenv("ROTO_SERVER_SESSION_IDLE", env)
        assert main(["serve", "--port", "0", *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
