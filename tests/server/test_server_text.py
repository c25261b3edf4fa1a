"""Text prompts and EdgeTAM through the model server equal the in-process ones (the stored 16-bit
PNG files): `segment --text` finds on the server (SAM 3, random weights); `segment --backend
edgetam` prompts and propagates there (EdgeTAM, random weights). Both sides build the same seeded
models from their configs (ROTO_TEXT_RANDOM_WEIGHTS, ROTO_EDGETAM_RANDOM_WEIGHTS)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("timm")

from roto_studio.cli import main  # noqa: E402
from tests.server.helpers import mask_files, start_server, write_plate  # noqa: E402

ENV = {"ROTO_TEXT_RANDOM_WEIGHTS": "sam3", "ROTO_EDGETAM_RANDOM_WEIGHTS": "tiny"}


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    base = tmp_path_factory.mktemp("text")
    media = write_plate(base / "media" / "plate", frames=5)
    srv = start_server(base / "server", "--media-root", str(base / "media"), env=ENV)
    yield media, srv
    srv.stop()


def _both(media, srv, tmp_path, monkeypatch, capsys, args):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    assert main(["segment", media, "--out", str(tmp_path / "local.roto"), *args]) == 0
    remote = ["--server", srv.url, "--token-file", str(srv.token_file)]
    assert main(["segment", media, "--out", str(tmp_path / "remote.roto"), *args, *remote]) == 0
    err = capsys.readouterr().err
    names = [[o["name"] for o in json.loads((tmp_path / n / "project.json").read_text())["objects"]]
             for n in ("local.roto", "remote.roto")]
    return err, names, mask_files(tmp_path / "local.roto"), mask_files(tmp_path / "remote.roto")


def test_text_find_on_the_server_equals_in_process(shot, tmp_path, monkeypatch, capsys):
    media, srv = shot
    err, names, local, remote = _both(media, srv, tmp_path, monkeypatch, capsys,
                                      ["--frame", "1002", "--text", "person", "--min-score", "0"])
    assert "[server" in err
    assert names[0] and names[0] == names[1] and names[0][0] == "person 1"
    assert local and remote == local


def test_edgetam_on_the_server_equals_in_process(shot, tmp_path, monkeypatch, capsys):
    media, srv = shot
    err, names, local, remote = _both(media, srv, tmp_path, monkeypatch, capsys,
                                      ["--frame", "1001", "--box", "8,20,32,44", "--backend", "edgetam",
                                       "--propagate", "forward"])
    assert any("EdgeTAM" in line and "[server" in line for line in err.splitlines())
    assert len(local) == 5 and remote == local
    assert srv.alive()


def test_sam3_video_tracking_on_the_server_equals_in_process(shot, tmp_path, monkeypatch, capsys):
    media, srv = shot
    err, names, local, remote = _both(media, srv, tmp_path, monkeypatch, capsys,
                                      ["--frame", "1004", "--text", "person, dog", "--min-score", "0",
                                       "--backend", "sam3", "--propagate", "forward"])
    assert any("SAM 3 video" in line and "[server" in line for line in err.splitlines())
    assert names[0] and names[0] == names[1]
    assert {k.split("/")[1] for k in local} == {"1004.png", "1005.png"}  # tracked past the start frame
    assert remote == local
    assert srv.alive()


def test_track_text_refuses_bad_input_with_json_errors(shot):
    import httpx

    media, srv = shot
    c = httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=60)
    info = {"width": 80, "height": 64, "frame_numbers": [1001, 1002, 1003, 1004, 1005]}
    sid = c.post("/sessions", json={"backend": "classical", "media": info}).json()["session"]
    cases = [({"phrases": [], "start": 1001}, 422), ({"phrases": ["x" * 201], "start": 1001}, 422),
             ({"phrases": ["p"] * 17, "start": 1001}, 422), ({"phrases": ["  "], "start": 1001}, 400),
             ({"phrases": ["person"], "start": 999}, 404), ({"phrases": ["person"], "start": 1001, "x": 1}, 422)]
    for body, status in cases:
        r = c.post(f"/sessions/{sid}/track_text", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]
    assert c.post("/sessions/0123456789abcdef/track_text", json={"phrases": ["a"], "start": 1001}).status_code == 404
    c.close()
