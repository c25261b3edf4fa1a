"""The model server's /inpaint with a learned model: `roto-studio cleanplate --server` sends the
model (by registry name), prompt and seed, and writes the frames an in-process run writes; a
request without them (an older client) is still answered; a local model folder is refused in one
line. The model is a tiny random diffusers pipeline installed as `sd15-inpainting` (pinned by
ROTO_WEIGHTS_PINS), so no download and no GPU."""

from __future__ import annotations

import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core import wire
from tests.hub_server import write_pins
from tests.server.helpers import start_server
from tests.test_cli_cleanplate import project_for, sign_shot


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tests.models.diffusers_fixtures import save_tiny_pipeline

    base = tmp_path_factory.mktemp("inpaint")
    folder = save_tiny_pipeline(base / "weights" / "sd15-inpainting")
    main_file = "unet/diffusion_pytorch_model.safetensors"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    files.remove(main_file)
    pins = write_pins(base / "pins.json", {"sd15-inpainting": (
        "0" * 40, {f: (folder / f).read_bytes() for f in [main_file, *files]})})
    env = {"ROTO_WEIGHTS_DIR": str(base / "weights"), "ROTO_WEIGHTS_PINS": str(pins), "ROTO_WEIGHTS_OFFLINE": ""}
    srv = start_server(base / "server", "--device", "cpu", env=env)
    yield base, env, folder, srv
    srv.stop()


def test_cleanplate_through_the_server_sends_model_prompt_seed(installed, tmp_path, monkeypatch, capsys):
    base, env, folder, srv = installed
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    frames, alphas = sign_shot(n=3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    local = project_for(tmp_path / "a", frames, alphas)
    remote = project_for(tmp_path / "b", frames, alphas)
    args = ["--object", "Sign", "--backend", "diffusers", "--model", "sd15-inpainting", "--prompt", "brick wall"]
    server = ["--server", srv.url, "--token-file", str(srv.token_file)]
    outs = {}
    for name, p, seed, extra in (("local", local, "5", []), ("remote", remote, "5", server),
                                 ("remote", remote, "6", server)):
        out = tmp_path / f"{name}{seed}"
        assert main(["cleanplate", str(p.folder), *args, "--seed", seed, "--out", str(out), *extra]) == 0
        outs[name, seed] = {q.name: q.read_bytes() for q in sorted(out.glob("*.png"))}
    assert "(server)" in capsys.readouterr().err
    assert len(outs["local", "5"]) == 3 and outs["local", "5"] == outs["remote", "5"]
    assert outs["remote", "5"] != outs["remote", "6"]  # the seed reached the server's model

    # a local folder is for in-process runs only: one line, exit 2
    bad = main(["cleanplate", str(remote.folder), *args[:4], "--model", str(folder), "--out",
                str(tmp_path / "x"), *server])
    assert bad == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "registry name" in err[-1] and len(err[-1]) < 300


def test_an_old_inpaint_request_is_still_answered(installed):
    import httpx

    _, _, _, srv = installed
    c = httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=120)
    image = np.full((32, 40, 3), 90, np.uint8)
    image[::4] = 200
    from roto_studio.client.http import ServerClient
    from roto_studio.client.remote import upload

    digest = upload(ServerClient(srv.url, srv.token), image)
    hole = np.zeros((32, 40), bool)
    hole[10:20, 12:24] = True
    body = {"backend": "opencv", "image": {"hash": digest}, "hole": {"png8": wire.b64(wire.gray8_png(hole))}}
    r = c.post("/inpaint", json=body)
    assert r.status_code == 200, r.text
    filled = wire.frame_from_png(wire.unb64(r.json()["image"]["png"]))
    assert (filled[~hole] == image[~hole]).all() and (filled[hole] != image[hole]).any()
    r = c.post("/inpaint", json={**body, "seed": "x"})
    assert 400 <= r.status_code < 500  # refused, not a crash
