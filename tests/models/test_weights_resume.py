"""Resumable downloads (the window's model manager): a stopped download keeps what it fetched in
`.partial-NAME` and the next one asks the server for the rest only (a Range request), for a hub
file with a pin and for a plain URL; the result is checked against its pin like any download."""

from __future__ import annotations

import threading

import pytest

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models.weights import fetch, registry
from roto_studio.models.weights import store as weights
from tests.hub_server import HubServer
from tests.models.test_weights import COMMIT, PAYLOAD, REPO, SHA, env, make_spec, use_spec  # noqa: F401


def _stop_after(nbytes):
    stop = threading.Event()

    def progress(done, total):
        if done >= nbytes:
            stop.set()

    return progress, stop.is_set


def _download_twice(name, srv, env):
    progress, cancel = _stop_after(2**20)
    with pytest.raises(Cancelled, match="kept for resuming"):
        fetch.download(name, progress=progress, cancel=cancel, resume=True)
    part = [p for p in (env / f".partial-{name}").rglob("*") if p.is_file()]
    assert len(part) == 1 and 2**20 <= part[0].stat().st_size < len(PAYLOAD)
    kept = part[0].stat().st_size
    assert weights.status(name).state == "missing"  # a part is never taken for the model
    seen = []
    path = fetch.download(name, progress=lambda d, t: seen.append((d, t)), resume=True)
    assert path.read_bytes() == PAYLOAD
    assert seen[0][0] > kept and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not (env / f".partial-{name}").exists()
    assert weights.status(name).state == "ok"
    return kept


def test_hub_download_resumes_with_a_range_request(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    with HubServer({REPO: (COMMIT, {"tiny.pt": PAYLOAD})}, delay=0.02) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        kept = _download_twice("tiny-test", srv, env)
    assert srv.ranges == [(f"/{REPO}/resolve/{COMMIT}/tiny.pt", f"bytes={kept}-")]


def test_url_download_resumes_with_a_range_request(env, monkeypatch):
    with HubServer(files={"cutie-test.pth": PAYLOAD}, delay=0.02) as srv:
        use_spec(monkeypatch, registry.WeightSpec("cutie-test", "cutie", "someone/Cutie", "v1.0", (
            registry.WeightFile("cutie-test.pth", SHA, len(PAYLOAD), url=f"{srv.url}/redirect/cutie-test.pth"),)))
        kept = _download_twice("cutie-test", srv, env)
    assert srv.ranges == [("/files/cutie-test.pth", f"bytes={kept}-")]  # kept through the redirects


def test_a_damaged_part_is_refused_after_resuming(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    part = env / ".partial-tiny-test" / "tiny.pt"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 2**20)  # not the first MiB of the file
    with HubServer({REPO: (COMMIT, {"tiny.pt": PAYLOAD})}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(ModelError, match="does not match its checksum"):
            fetch.download("tiny-test", resume=True)
        assert weights.status("tiny-test").state == "missing"
        assert fetch.download("tiny-test", resume=True).read_bytes() == PAYLOAD  # then starts again


def test_without_resume_nothing_is_kept(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    progress, cancel = _stop_after(2**20)
    with HubServer({REPO: (COMMIT, {"tiny.pt": PAYLOAD})}, delay=0.02) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(Cancelled, match="nothing was kept"):
            fetch.download("tiny-test", progress=progress, cancel=cancel)
    assert [p for p in env.rglob("*") if p.is_file()] == []
    assert srv.ranges == []


def test_resume_respects_hf_hub_offline(env, monkeypatch):
    import huggingface_hub.constants as hc

    use_spec(monkeypatch, make_spec(sha256=SHA))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    with HubServer({REPO: (COMMIT, {"tiny.pt": PAYLOAD})}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set"):
            fetch.download("tiny-test", resume=True)
    assert srv.requests == []


def test_cli_download_resume_goes_on_from_the_part(env, monkeypatch, capsys):
    from roto_studio.cli import main

    use_spec(monkeypatch, make_spec(sha256=SHA))
    part = env / ".partial-tiny-test" / "tiny.pt"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:2**20])  # what a download stopped with Ctrl-C left
    with HubServer({REPO: (COMMIT, {"tiny.pt": PAYLOAD})}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        assert main(["models", "download", "tiny-test", "--resume"]) == 0
    assert capsys.readouterr().out.strip() == f"tiny-test: ok {env / 'tiny-test'}"
    assert srv.ranges == [(f"/{REPO}/resolve/{COMMIT}/tiny.pt", f"bytes={2**20}-")]
    assert (env / "tiny-test" / "tiny.pt").read_bytes() == PAYLOAD
