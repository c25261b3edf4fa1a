"""Weights: one folder per model, downloads through huggingface_hub from the local hub-like server,
pins, the states of a file and the message of each."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models.weights import fetch, registry
from roto_studio.models.weights import store as weights
from tests.hub_server import HubServer

REPO = "tester/tiny-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAYLOAD = os.urandom(3 * 2**20 + 123)  # several 256 KiB writes from the server
SHA = hashlib.sha256(PAYLOAD).hexdigest()
FIX = "roto-studio models download tiny-test"


def make_spec(sha256=None, size=len(PAYLOAD), name="tiny-test", repo=REPO, files=None):
    files = files or (registry.WeightFile("tiny.pt", sha256, size),)
    return registry.WeightSpec(name, "sam2", repo, COMMIT, tuple(files))


def hub(files, delay=0.0, repo=REPO, **more):
    return HubServer({repo: (COMMIT, files), **more}, delay=delay)


@pytest.fixture
def env(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(folder))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    monkeypatch.delenv("ROTO_WEIGHTS_PINS", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    weights.set_offline_folders([])
    return folder


def use_spec(monkeypatch, *specs):
    monkeypatch.setattr(registry, "SPECS", list(specs))


def test_download_into_its_own_folder_at_the_pinned_commit(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    seen = []
    with hub({"tiny.pt": PAYLOAD}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        path = fetch.download("tiny-test", progress=lambda d, t: seen.append((d, t)))
    assert path == env / "tiny-test" / "tiny.pt"
    assert path.read_bytes() == PAYLOAD
    assert ("HEAD", f"/{REPO}/resolve/{COMMIT}/tiny.pt") in srv.requests
    assert not [p for p in srv.requests if "/resolve/main/" in p[1]]
    assert seen and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert weights.status("tiny-test").state == "ok"
    assert weights.find("tiny-test") == path
    assert weights.verify("tiny-test").state == "ok"
    assert not (env / "tiny-test" / "tiny.pt.sha256").exists()  # pinned: nothing to record
    assert not [p for p in env.iterdir() if p.name.startswith(".download")]


def test_two_models_sharing_file_names_stay_apart(env, monkeypatch):
    """Like vitmatte-small / -base: both have config.json; one never satisfies the other."""
    a = {"model.safetensors": b"A" * 1000, "config.json": b'{"a": 1}'}
    b = {"model.safetensors": b"B" * 1200, "config.json": b'{"b": 2}'}

    def spec(name, repo, files):
        return registry.WeightSpec(name, "vitmatte", repo, COMMIT, tuple(
            registry.WeightFile(f, hashlib.sha256(d).hexdigest(), len(d)) for f, d in files.items()))

    use_spec(monkeypatch, spec("m-small", "t/small", a), spec("m-base", "t/base", b))
    with HubServer({"t/small": (COMMIT, a), "t/base": (COMMIT, b)}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        p1 = fetch.download("m-small")
        assert weights.status("m-base").state == "missing"
        p2 = fetch.download("m-base")
    assert p1 == env / "m-small" / "model.safetensors" and p2 == env / "m-base" / "model.safetensors"
    assert (env / "m-small" / "config.json").read_bytes() == a["config.json"]
    assert (env / "m-base" / "config.json").read_bytes() == b["config.json"]
    assert [p for _, p in srv.requests if "/t/base/" in p]  # the second download did fetch
    # a model missing one of its files says which one
    (env / "m-base" / "config.json").unlink()
    st = weights.status("m-base")
    assert st.state == "missing"
    assert weights.message(st) == (f"the m-base weights are incomplete: {env / 'm-base' / 'config.json'} is missing; "
                                   "run `roto-studio models download m-base`.")


def test_unpinned_file_is_unverified_with_its_hash_recorded(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=None))
    with hub({"tiny.pt": PAYLOAD}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        path = fetch.download("tiny-test")
    assert (env / "tiny-test" / "tiny.pt.sha256").read_text().strip() == SHA
    for st in (weights.status("tiny-test"), weights.verify("tiny-test"), weights.status("tiny-test", check=False)):
        assert st.state == "unverified" and st.usable
    assert "tiny.pt" in weights.message(st) and "unverified" in weights.message(st)
    # a later corruption is caught against the recorded hash and the file is set aside
    path.write_bytes(b"x" + PAYLOAD[1:])
    st = weights.verify("tiny-test")
    assert st.state == "bad hash"
    assert not path.exists() and (env / "tiny-test" / "tiny.pt.bad").exists()
    assert weights.message(st).startswith(f"{path} does not match its checksum")
    assert weights.message(st).endswith(f"set aside as tiny.pt.bad; run `{FIX}`.")
    assert weights.find("tiny-test") is None


def test_hash_mismatch_is_refused_and_set_aside(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256="0" * 64))
    with hub({"tiny.pt": PAYLOAD}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(ModelError) as info:
            fetch.download("tiny-test")
    msg = str(info.value)
    assert "tiny.pt" in msg and "does not match its checksum" in msg and FIX in msg
    assert not (env / "tiny-test" / "tiny.pt").exists()
    assert (env / "tiny-test" / "tiny.pt.bad").read_bytes() == PAYLOAD
    assert weights.find("tiny-test") is None
    assert weights.status("tiny-test").state == "missing"


def test_cancel_leaves_no_file(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done > 0:
            stop.set()

    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "DOWNLOAD_CHUNK_SIZE", 256 * 1024)  # the hub streams 10 MiB chunks
    with hub({"tiny.pt": PAYLOAD}, delay=0.02) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(Cancelled):
            fetch.download("tiny-test", progress=progress, cancel=stop.is_set)
    assert seen and max(seen) < len(PAYLOAD)
    assert [p for p in env.rglob("*") if p.is_file()] == []


def test_disk_space_refusal_before_any_request(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))

    class Usage:
        total, used, free = 10 * 2**30, 10 * 2**30 - 2**20, 2**20

    monkeypatch.setattr(weights.shutil, "disk_usage", lambda p: Usage)
    with hub({"tiny.pt": PAYLOAD}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(ModelError, match="disk space"):
            fetch.download("tiny-test")
    assert srv.requests == []


def test_offline_folders_without_network(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    offline = tmp_path / "usb"
    (offline / "tiny-test").mkdir(parents=True)
    (offline / "tiny-test" / "tiny.pt").write_bytes(PAYLOAD)
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert weights.find("tiny-test") == offline / "tiny-test" / "tiny.pt"
    assert fetch.download("tiny-test") == offline / "tiny-test" / "tiny.pt"
    assert weights.status("tiny-test").state == "ok"
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE")
    assert weights.find("tiny-test") is None
    weights.set_offline_folders([offline])
    try:
        assert weights.find("tiny-test") == offline / "tiny-test" / "tiny.pt"
    finally:
        weights.set_offline_folders([])


def test_offline_file_without_pin_is_unverified(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=None))
    offline = tmp_path / "usb"
    offline.mkdir()
    (offline / "tiny.pt").write_bytes(PAYLOAD)
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    st = weights.status("tiny-test")
    assert st.state == "unverified" and st.path == offline / "tiny.pt"


def test_multi_file_model_is_never_taken_from_a_flat_folder(env, tmp_path, monkeypatch):
    files = (registry.WeightFile("model.safetensors", None, None), registry.WeightFile("config.json"))
    use_spec(monkeypatch, make_spec(files=files))
    offline = tmp_path / "usb"
    offline.mkdir()
    (offline / "model.safetensors").write_bytes(b"w")
    (offline / "config.json").write_bytes(b"{}")
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    assert weights.status("tiny-test").state == "missing"
    (offline / "tiny-model").mkdir()  # the repo's name works as a folder name
    for f in ("model.safetensors", "config.json"):
        (offline / f).rename(offline / "tiny-model" / f)
    assert weights.find("tiny-test") == offline / "tiny-model" / "model.safetensors"


def test_bad_offline_file_is_not_used_nor_moved(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    offline = tmp_path / "usb"
    offline.mkdir()
    (offline / "tiny.pt").write_bytes(b"y" * len(PAYLOAD))
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    assert weights.find("tiny-test") is None
    assert (offline / "tiny.pt").exists()  # not ours: left alone
    st = weights.status("tiny-test")
    assert st.state == "bad hash"
    assert weights.message(st).endswith(f"so it is not used; replace it or run `{FIX}`.")
    with pytest.raises(ModelError, match=f"{offline / 'tiny.pt'} does not match its checksum"):
        weights.require("tiny-test")


def test_missing_weights_name_the_file_and_the_fix(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    with pytest.raises(ModelError) as info:
        weights.require("tiny-test")
    assert str(info.value) == (f"the tiny-test weights are missing (no tiny.pt in {env / 'tiny-test'} nor in an "
                               f"offline folder); run `{FIX}`.")


def test_wrong_size_is_said_never_missing(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=None))
    (env / "tiny-test").mkdir(parents=True)
    (env / "tiny-test" / "tiny.pt").write_bytes(b"short")
    assert weights.status("tiny-test").state == "wrong size"
    assert weights.status("tiny-test", check=False).state == "wrong size"
    with pytest.raises(ModelError) as info:
        weights.require("tiny-test")
    msg = str(info.value)
    assert "missing" not in msg
    assert msg == (f"{env / 'tiny-test' / 'tiny.pt'} has the wrong size (5 bytes, the pin says {len(PAYLOAD)}), "
                   f"so it was set aside as tiny.pt.bad; run `{FIX}`.")
    assert (env / "tiny-test" / "tiny.pt.bad").exists()
    assert weights.problem("tiny-test") == msg  # later lookups still say why it went
    (env / "tiny-test" / "tiny.pt").write_bytes(b"again")  # a second bad copy does not overwrite the first
    assert weights.find("tiny-test") is None
    assert (env / "tiny-test" / "tiny.pt.bad-2").read_bytes() == b"again"


def test_unreadable_file_is_said(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    (env / "tiny-test" / "tiny.pt").mkdir(parents=True)  # a folder where the file should be
    st = weights.status("tiny-test")
    assert st.state == "unreadable"
    assert weights.message(st) == f"cannot read {env / 'tiny-test' / 'tiny.pt'} (not a file); fix its permissions or run `{FIX}`."


def test_offline_mode_is_a_model_error(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    with hub({"tiny.pt": PAYLOAD}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(ModelError, match="ROTO_WEIGHTS_OFFLINE"):
            fetch.download("tiny-test")
    assert srv.requests == []


def test_missing_file_on_hub_is_a_model_error(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    with hub({"other.pt": PAYLOAD}) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        with pytest.raises(ModelError, match="has no tiny.pt"):
            fetch.download("tiny-test")
    assert not (env / "tiny-test" / "tiny.pt").exists()


def test_load_state_dict_is_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    good = tmp_path / "w.pt"
    torch.save({"a": torch.arange(3)}, good)
    assert weights.load_state_dict(good)["a"].tolist() == [0, 1, 2]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo hacked",))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(ModelError, match="cannot load"):
        weights.load_state_dict(evil)


def test_weights_dir_default_is_user_data(monkeypatch):
    monkeypatch.delenv("ROTO_WEIGHTS_DIR", raising=False)
    from platformdirs import user_data_dir

    assert weights.weights_dir() == Path(user_data_dir("roto-studio", appauthor=False)) / "weights"
