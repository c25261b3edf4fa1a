"""Model licences: `models list` and `doctor` show each licence and whether it permits commercial
use; Auto leaves out non-commercial models unless allowed; a non-commercial model downloads only
after its licence is accepted (the refusal is one line and touches no network)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from roto_studio import cli
from roto_studio.models import backends
from roto_studio.models.weights import licences
from roto_studio.models.weights import fetch, registry
from roto_studio.models.matting import vitmatte
from roto_studio.models.weights import store as weights
from tests.hub_server import HubServer
from tests.models.test_weights import PAYLOAD, SHA, env, make_spec, use_spec  # noqa: F401  (env is a fixture)


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("ROTO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("ROTO_ALLOW_NONCOMMERCIAL", raising=False)
    monkeypatch.delenv("ROTO_SAM2_RANDOM_WEIGHTS", raising=False)
    monkeypatch.delenv("ROTO_SAM2_MODEL", raising=False)
    licences.set_allow_noncommercial(None)
    return tmp_path / "config"


def _place(env, name, filename):
    folder = env / name
    folder.mkdir(parents=True)
    (folder / filename).write_bytes(PAYLOAD)


def test_every_entry_has_a_licence_and_models_list_shows_it(env, config, capsys):
    for s in registry.SPECS:
        assert s.licence, s.name
    assert registry.get("sam2.1-tiny").commercial and registry.get("cutie-base").commercial
    assert not registry.get("matanyone").commercial
    assert cli.main(["models", "list", "--no-check"]) == 0
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "LICENCE" in out.splitlines()[0] and "COMMERCIAL" in out.splitlines()[0]
    assert "NTU S-Lab License 1.0" in rows["matanyone"] and " no " in rows["matanyone"]
    assert "Apache-2.0" in rows["sam2.1-tiny"] and " yes " in rows["sam2.1-tiny"]
    assert "Auto never picks matanyone" in err


def test_doctor_reports_licence_and_the_allow_flag(env, config, capsys):
    assert cli.main(["doctor", "--json", "--no-check"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)["weights"]["models"]}
    assert models["matanyone"]["licence"] == "NTU S-Lab License 1.0"
    assert models["matanyone"]["commercial"] is False and models["matanyone"]["auto"] is False
    assert models["sam2.1-small"]["commercial"] is True and models["sam2.1-small"]["auto"] is True
    assert cli.main(["doctor", "--no-check", "--allow-noncommercial"]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.strip().startswith("matanyone"))
    assert "NON-COMMERCIAL" in line and "not auto-picked" not in line
    assert not licences.allow_noncommercial()  # the flag lasts one command


def test_auto_leaves_out_a_non_commercial_sam2_unless_allowed(env, config, monkeypatch):
    nc = dataclasses.replace(make_spec(sha256=SHA), licence="Some NC licence", commercial=False)
    use_spec(monkeypatch, *registry.SPECS, nc)
    _place(env, "tiny-test", "tiny.pt")
    assert weights.status("tiny-test").state == "ok"
    plan = backends.choose("auto")
    assert plan.name == "classical"
    assert "does not permit commercial use" in plan.reason and "ROTO_ALLOW_NONCOMMERCIAL=1" in plan.reason
    # named by the user: used
    assert backends.choose("sam2", model="tiny-test").weights == env / "tiny-test" / "tiny.pt"
    monkeypatch.setenv("ROTO_ALLOW_NONCOMMERCIAL", "1")
    plan = backends.choose("auto")
    assert (plan.name, plan.model) == ("sam2", "tiny-test")


def test_auto_matting_leaves_out_non_commercial_vitmatte(env, config, monkeypatch):
    small = registry.get("vitmatte-small")
    nc = dataclasses.replace(small, files=(registry.WeightFile("model.safetensors", SHA, len(PAYLOAD)),),
                             licence="Some NC licence", commercial=False)
    use_spec(monkeypatch, *[s for s in registry.SPECS if s.name != "vitmatte-small"], nc)
    _place(env, "vitmatte-small", "model.safetensors")
    assert vitmatte.find_weights() is None
    assert "does not permit commercial use" in vitmatte.why_not()
    assert vitmatte.available_backends() == ["classical"]
    licences.set_allow_noncommercial(True)  # the window's setting
    try:
        assert vitmatte.find_weights() == ("vitmatte-small", env / "vitmatte-small" / "model.safetensors")
    finally:
        licences.set_allow_noncommercial(None)


def _pins(tmp_path, url):
    path = tmp_path / "pins.json"
    path.write_text(json.dumps({"matanyone": {"revision": "v1.0.0", "files": {
        "matanyone.pth": {"sha256": SHA, "size": len(PAYLOAD), "url": url}}}}))
    return path


def test_non_commercial_model_downloads_only_after_its_licence_is_accepted(env, config, tmp_path, monkeypatch,
                                                                           capsys):
    with HubServer(files={"matanyone.pth": PAYLOAD}) as srv:
        monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(_pins(tmp_path, f"{srv.url}/files/matanyone.pth")))
        assert cli.main(["models", "download", "matanyone"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "NTU S-Lab License 1.0" in err and "does not permit commercial use" in err
        assert "roto-studio models download matanyone --accept-licence" in err
        assert srv.requests == []  # nothing was fetched
        assert not (env / "matanyone").exists()
        assert not weights.licence_accepted("matanyone")
        with pytest.raises(Exception, match="--accept-licence"):  # the API refuses too
            fetch.download("matanyone")

        assert cli.main(["models", "download", "matanyone", "--accept-licence"]) == 0
        out = capsys.readouterr().out
    assert (env / "matanyone" / "matanyone.pth").read_bytes() == PAYLOAD
    assert "matanyone: ok" in out
    assert weights.licence_accepted("matanyone")
    recorded = json.loads((config / "licences.json").read_text())
    assert recorded["matanyone"]["licence"] == "NTU S-Lab License 1.0"


def test_accept_licence_is_remembered_for_the_window(env, config, tmp_path, monkeypatch):
    assert weights.licence_accepted("sam2.1-tiny")  # a commercial licence needs no acceptance
    assert not weights.licence_accepted("matanyone")
    path = weights.accept_licence("matanyone")
    assert path == config / "licences.json"
    assert weights.licence_accepted("matanyone")
    with HubServer(files={"matanyone.pth": PAYLOAD}) as srv:
        monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(_pins(tmp_path, f"{srv.url}/files/matanyone.pth")))
        assert fetch.download("matanyone") == env / "matanyone" / "matanyone.pth"
    licences.revoke("matanyone")
    assert not weights.licence_accepted("matanyone")
