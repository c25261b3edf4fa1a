"""Masks made through the model server equal the in-process ones bit for bit (the stored 16-bit
PNG files): the CPU fallback through the CLI (frames by path and uploaded), and random-weight
SAM 2 through the engine (clicks, a refining click, propagation both ways, a correction)."""

from __future__ import annotations

import json
import shutil

import httpx
import numpy as np
import pytest

from roto_studio.cli import main
from tests.server.helpers import mask_files, start_server, write_plate


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    base = tmp_path_factory.mktemp("shots")
    inside = write_plate(base / "media" / "plate", frames=10)
    shutil.copytree(base / "media" / "plate", base / "elsewhere" / "plate")
    return base, inside, str(base / "elsewhere" / "plate" / "plate.####.png")


@pytest.fixture(scope="module")
def server(shots):
    base, _, _ = shots
    srv = start_server(base / "server", "--media-root", str(base / "media"))
    yield srv
    srv.stop()


def _segment(media, out, *extra):
    first = ["segment", media, "--out", str(out), "--backend", "classical", "--frame", "1004",
             "--box", "18,16,52,48", "--propagate", "both", *extra]
    assert main(first) == 0
    correction = ["segment", media, "--out", str(out), "--backend", "classical", "--object", "Object 1",
                  "--frame", "1008", "--point", "40,30", "--point", "4,4,0", "--propagate", "forward", *extra]
    assert main(correction) == 0


def test_cpu_fallback_cli_equals_in_process(shots, server, tmp_path, capsys):
    base, inside, elsewhere = shots
    _segment(inside, tmp_path / "local.roto")
    reference = mask_files(tmp_path / "local.roto")
    assert len(reference) == 10 and len(set(reference.values())) > 3  # real, varied masks

    remote = ["--server", server.url, "--token-file", str(server.token_file)]
    _segment(inside, tmp_path / "by_path.roto", *remote)
    err = capsys.readouterr().err
    assert "frames by path" in err
    _segment(elsewhere, tmp_path / "uploaded.roto", *remote)
    assert "frames uploaded" in capsys.readouterr().err

    assert mask_files(tmp_path / "by_path.roto") == reference
    assert mask_files(tmp_path / "uploaded.roto") == reference
    prompts = [json.loads((tmp_path / n / "project.json").read_text())["prompts"]
               for n in ("local.roto", "by_path.roto", "uploaded.roto")]
    assert prompts[0] == prompts[1] == prompts[2]
    assert server.alive()


def test_cli_server_errors_are_one_line(shots, server, tmp_path, capsys, monkeypatch):
    _, inside, _ = shots
    monkeypatch.delenv("ROTO_SERVER_TOKEN", raising=False)
    args = ["segment", inside, "--out", str(tmp_path / "x.roto"), "--frame", "1004", "--box", "18,16,52,48",
            "--backend", "classical", "--server", server.url]
    assert main(args) == 2
    assert "ROTO_SERVER_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("ROTO_SERVER_TOKEN", "not-the-token-at-all")
    assert main(args) == 2
    assert "refused the token" in capsys.readouterr().err
    monkeypatch.setenv("ROTO_SERVER_TOKEN", server.token)
    dead = ["--server", "http://127.0.0.1:9"]
    assert main(args[:-2] + dead) == 2
    assert "cannot be reached" in capsys.readouterr().err


@pytest.mark.slow
def test_sam2_engine_through_server_equals_in_process(shots, tmp_path, monkeypatch):
    pytest.importorskip("sam2")
    from roto_studio.client.http import ServerClient
    from roto_studio.client.remote import remote_engine
    from roto_studio.core.media import open_media
    from roto_studio.core.project import create_project
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.device import inference_context
    from roto_studio.models.engine import Engine

    base, _, elsewhere = shots
    monkeypatch.setenv("ROTO_SAM2_RANDOM_WEIGHTS", "tiny@128")
    srv = start_server(tmp_path / "server", env={"ROTO_SAM2_RANDOM_WEIGHTS": "tiny@128"})  # no roots: uploads

    def session(engine):
        obj = engine.project.add_object().id
        with inference_context(engine.device):
            engine.prompt(obj, 1003, Prompt(points=[(30.0, 30.0)], labels=[1]))
            engine.prompt(obj, 1003, Prompt(points=[(30.0, 30.0), (70.0, 5.0)], labels=[1, 0]))  # refines
            engine.propagate([obj], 1003, "both", stop=(1001, 1006))
            engine.prompt(obj, 1005, Prompt(box=(20.0, 16.0, 56.0, 48.0)))  # a correction
            engine.propagate([obj], 1005, "forward", stop=1006)
        engine.project.save()
        return engine.project.folder

    try:
        with open_media(elsewhere) as media:
            local = Engine.local(create_project(tmp_path / "local.roto", elsewhere), backend="sam2", media=media)
            try:
                a = mask_files(session(local))
            finally:
                local.close()
        client = ServerClient(srv.url, srv.token)
        with open_media(elsewhere) as media:
            remote = remote_engine(create_project(tmp_path / "remote.roto", elsewhere), client, "sam2", media=media)
            try:
                assert "random weights" in remote.describe() and "uploaded" in remote.describe()
                b = mask_files(session(remote))
            finally:
                remote.close()
        status = client.status()
        assert [m["key"].startswith("sam2:random") for m in status["models"]] == [True]
        assert status["models"][0]["bytes"] > 1_000_000
        client.close()
    finally:
        srv.stop()
    assert len(a) == 6 and a == b
    values = [np.frombuffer(v, np.uint8).sum() for v in a.values()]
    assert len(set(values)) > 1


def test_matte_and_cleanplate_through_server_equal_in_process(shots, server, tmp_path):
    _, inside, _ = shots
    _segment(inside, tmp_path / "a.roto")
    shutil.copytree(tmp_path / "a.roto", tmp_path / "b.roto")
    before = mask_files(tmp_path / "a.roto")
    remote = ["--server", server.url, "--token-file", str(server.token_file)]
    assert main(["matte", str(tmp_path / "a.roto"), "--backend", "classical"]) == 0
    assert main(["matte", str(tmp_path / "b.roto"), "--backend", "classical", *remote]) == 0
    a, b = mask_files(tmp_path / "a.roto"), mask_files(tmp_path / "b.roto")
    assert a == b and len(a) == 10 and a != before  # matted (soft edges), the same both ways
    assert main(["cleanplate", str(tmp_path / "a.roto"), "--object", "Object 1", "--out", str(tmp_path / "ca")]) == 0
    assert main(["cleanplate", str(tmp_path / "b.roto"), "--object", "Object 1", "--out", str(tmp_path / "cb"),
                 *remote]) == 0
    ca = {p.name: p.read_bytes() for p in (tmp_path / "ca").glob("*.png")}
    cb = {p.name: p.read_bytes() for p in (tmp_path / "cb").glob("*.png")}
    assert len(ca) == 10 and ca == cb
    status = httpx.get(server.url + "/v1/status", headers=server.headers()).json()
    assert status["frame_cache_bytes"] > 0  # the frames to fill were uploaded (content-addressed)
