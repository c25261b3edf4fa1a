"""Weights: plain-URL downloads (Cutie's GitHub release files), the registry's pins, the
ROTO_WEIGHTS_PINS override and what `models list` shows."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models.weights import fetch, registry
from roto_studio.models.weights import store as weights
from tests.hub_server import HubServer
from tests.models.test_weights import PAYLOAD, SHA, env, use_spec  # noqa: F401  (env is a fixture)

MD5 = hashlib.md5(PAYLOAD).hexdigest()
FIX = "roto-studio models download cutie-test"


def url_spec(url, md5=MD5, sha256=None, size=None):
    return registry.WeightSpec("cutie-test", "cutie", "someone/Cutie", "v1.0", (
        registry.WeightFile("cutie-test.pth", sha256, size, md5, url),))


def files(delay=0.0):
    return HubServer(files={"cutie-test.pth": PAYLOAD}, delay=delay)


def test_url_download_with_progress_checked_by_md5(env, monkeypatch):
    seen = []
    with files() as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth"))
        path = fetch.download("cutie-test", progress=lambda d, t: seen.append((d, t)))
    assert path == env / "cutie-test" / "cutie-test.pth"
    assert path.read_bytes() == PAYLOAD
    assert srv.requests == [("HEAD", "/files/cutie-test.pth"), ("GET", "/files/cutie-test.pth")]
    assert len(seen) > 1 and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert weights.status("cutie-test").state == "ok"  # the published md5 matches
    assert weights.verify("cutie-test").state == "ok"
    assert not [p for p in env.iterdir() if p.name.startswith(".download")]
    # a second call finds the good copy and does not touch the network (the server is gone)
    assert fetch.download("cutie-test") == path


def test_url_download_follows_redirects(env, monkeypatch):
    with files() as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/redirect/cutie-test.pth", md5=None, sha256=SHA))
        path = fetch.download("cutie-test")
    assert path.read_bytes() == PAYLOAD
    assert [m for m, p in srv.requests if p == "/files/cutie-test.pth"] == ["HEAD", "GET"]  # HEAD kept HEAD
    assert ("GET", "/redirect/cutie-test.pth") in srv.requests
    assert ("GET", "/moved/cutie-test.pth") in srv.requests
    assert weights.status("cutie-test").state == "ok"


def test_url_without_pin_is_unverified(env, monkeypatch):
    with files() as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth", md5=None))
        path = fetch.download("cutie-test")
    assert path.with_name("cutie-test.pth.sha256").read_text().strip() == SHA
    assert weights.status("cutie-test").state == "unverified"


def test_url_md5_mismatch_is_refused(env, monkeypatch):
    with files() as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth", md5="0" * 32))
        with pytest.raises(ModelError, match=f"cutie-test.pth of cutie-test does not match.*{FIX}"):
            fetch.download("cutie-test")
    assert not (env / "cutie-test" / "cutie-test.pth").exists()
    assert (env / "cutie-test" / "cutie-test.pth.bad").read_bytes() == PAYLOAD
    assert weights.status("cutie-test").state == "missing"


def test_url_cancel_leaves_no_file(env, monkeypatch):
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        stop.set()

    with files(delay=0.05) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth"))
        with pytest.raises(Cancelled):
            fetch.download("cutie-test", progress=progress, cancel=stop.is_set)
    assert len(seen) == 1 and 0 < seen[0] < len(PAYLOAD)
    assert [p for p in env.rglob("*") if p.is_file()] == []


def test_url_disk_space_uses_head_size(env, monkeypatch):
    class Usage:
        total, used, free = 10 * 2**30, 0, weights.DISK_MARGIN + 2**20  # room for 1 MiB, not 3

    monkeypatch.setattr(weights.shutil, "disk_usage", lambda p: Usage)
    with files() as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/redirect/cutie-test.pth"))
        with pytest.raises(ModelError, match="disk space"):
            fetch.download("cutie-test")
    assert srv.requests and all(m == "HEAD" for m, _ in srv.requests)


def test_url_errors_are_one_line_with_the_fix(env, monkeypatch):
    with files() as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/other.pth"))
        with pytest.raises(ModelError, match="HTTP 404.*ROTO_WEIGHTS_OFFLINE") as info:
            fetch.download("cutie-test")
        assert "\n" not in str(info.value)
        use_spec(monkeypatch, url_spec(f"{srv.url}/short/cutie-test.pth", md5=None))
        with pytest.raises(ModelError, match="stopped early"):
            fetch.download("cutie-test")
    use_spec(monkeypatch, url_spec("http://127.0.0.1:9/files/cutie-test.pth"))  # nothing listens there
    with pytest.raises(ModelError, match="cannot reach 127.0.0.1.*ROTO_WEIGHTS_OFFLINE"):
        fetch.download("cutie-test")
    assert [p for p in env.rglob("*") if p.is_file()] == []


def test_md5_checks_hand_copied_files(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, url_spec("http://127.0.0.1:9/cutie-test.pth"))
    offline = tmp_path / "usb"
    (offline / "Cutie").mkdir(parents=True)
    (offline / "Cutie" / "cutie-test.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    assert weights.status("cutie-test").state == "ok"
    assert fetch.download("cutie-test") == offline / "Cutie" / "cutie-test.pth"
    (env / "cutie-test").mkdir(parents=True)
    (env / "cutie-test" / "cutie-test.pth").write_bytes(b"z" + PAYLOAD[1:])  # a bad copy in our folder comes first
    assert weights.find("cutie-test") == offline / "Cutie" / "cutie-test.pth"  # ... the good offline one is used
    assert (env / "cutie-test" / "cutie-test.pth.bad").exists()
    use_spec(monkeypatch, url_spec("http://127.0.0.1:9/cutie-test.pth", md5=None))
    assert weights.status("cutie-test").state == "unverified"


# ---------------------------------------------------------------- the registry and its pins

def test_every_entry_is_pinned():
    for s in registry.SPECS:
        assert s.files and s.revision != "main", s.name
        if any(f.url for f in s.files):
            assert all(f.url.startswith("https://") for f in s.files)
        else:
            assert len(s.revision) == 40 and all(c in "0123456789abcdef" for c in s.revision), s.name
        for f in s.files:
            assert f.sha256 is None or len(f.sha256) == 64
    pinned = {s.name: s.pinned for s in registry.SPECS}
    assert pinned == {"sam2.1-tiny": True, "sam2.1-small": True, "sam2.1-base-plus": True, "sam2.1-large": True,
                      "vitmatte-small": True, "vitmatte-base": False,  # its config.json: sources disagree
                      "cutie-base": True, "cutie-small": True,
                      # weights pinned (PINS.md), their small config/tokenizer files have no published hash
                      "sam3": False, "grounding-dino-tiny": False, "grounding-dino-base": False,
                      "edgetam": False,  # EdgeTAM-hf: only its revision is published
                      "sd15-inpainting": False, "sdxl-inpainting": False,  # configs: no published hash
                      "matanyone": False}  # its release file: no published checksum
    assert registry.get("sam3").main.sha256 == "6d06f0a5f84e435071fe6603e61d0b4cc7b40e0d39d487cfd4d67d8cc11cc14a"
    assert registry.get("grounding-dino-tiny").main.size == 689_359_096
    assert {s.name: s.licence for s in registry.SPECS if s.kind in ("sam3", "grounding-dino", "edgetam")} == {
        "sam3": "SAM License", "grounding-dino-tiny": "Apache-2.0", "grounding-dino-base": "Apache-2.0",
        "edgetam": "Apache-2.0"}
    for name in ("sd15-inpainting", "sdxl-inpainting"):  # the weights themselves are pinned
        weights_files = [f for f in registry.get(name).files if f.path.endswith(".safetensors")]
        assert len(weights_files) >= 3 and all(f.sha256 and f.size for f in weights_files), name
        assert registry.get(name).main.path == "unet/diffusion_pytorch_model.fp16.safetensors"
    assert registry.get("cutie-small").main.md5 == "6abf53b4058228babc3686274bc136cc"
    base = registry.get("cutie-base").main
    assert (base.md5, base.size) == ("a6071de6136982e396851903ab4c083a", 140_443_788)
    assert base.url == "https://github.com/hkchengrex/Cutie/releases/download/v1.0/cutie-base-mega.pth"


def test_pins_file_replaces_pins_for_tests_and_mirrors(env, tmp_path, monkeypatch):
    real = registry.get("sam2.1-tiny")
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"sam2.1-tiny": {"revision": "f" * 40, "files": {
        "sam2.1_hiera_tiny.pt": {"sha256": SHA, "size": len(PAYLOAD)}}}}))
    monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(pins))
    s = registry.get("sam2.1-tiny")
    assert s.revision == "f" * 40 and s.main.sha256 == SHA and s.config == real.config
    assert registry.get("sam2.1-small") == [x for x in registry.SPECS if x.name == "sam2.1-small"][0]
    pins.write_text(json.dumps({"sam9": {}}))
    with pytest.raises(ModelError, match="ROTO_WEIGHTS_PINS names unknown model"):
        registry.get("sam2.1-tiny")
    pins.write_text("{not json")
    with pytest.raises(ModelError, match="ROTO_WEIGHTS_PINS=.* cannot be read"):
        registry.get("sam2.1-tiny")
    monkeypatch.delenv("ROTO_WEIGHTS_PINS")
    assert registry.get("sam2.1-tiny") == real  # the published pins apply by default


def test_models_list_shows_each_state(env, monkeypatch, capsys):
    from roto_studio.cli import main

    def table():
        captured = capsys.readouterr()
        rows = {ln.split()[0]: ln for ln in captured.out.splitlines()[1:]}
        return rows, captured.err

    assert main(["models", "list"]) == 0
    rows, _ = table()
    assert all(" missing " in rows[n] for n in ("cutie-base", "cutie-small", "vitmatte-small", "sam2.1-tiny"))
    (env / "cutie-small").mkdir(parents=True)
    (env / "cutie-small" / "cutie-small-mega.pth").write_bytes(b"small")
    (env / "cutie-base").mkdir()
    (env / "cutie-base" / "cutie-base-mega.pth").write_bytes(b"not the real file")
    (env / "vitmatte-base").mkdir()
    (env / "vitmatte-base" / "config.json").write_text("{}")
    (env / "vitmatte-base" / "pytorch_model.bin").write_bytes(b"w")
    assert main(["models", "list"]) == 0
    rows, err = table()
    assert " bad hash " in rows["cutie-small"]  # md5 checked
    assert " wrong size " in rows["cutie-base"]
    assert " bad hash " in rows["vitmatte-base"]  # its weights file is pinned
    assert f"{env / 'cutie-base' / 'cutie-base-mega.pth'} has the wrong size" in err
    assert "roto-studio models download cutie-base" in err
    # an unpinned file is unverified, never ok
    monkeypatch.setattr(registry, "SPECS", [
        registry.WeightSpec("vitmatte-base", "vitmatte", "hustvl/vitmatte-base-composition-1k", "b" * 40,
                            (registry.WeightFile("pytorch_model.bin"), registry.WeightFile("config.json")))])
    assert main(["models", "list"]) == 0
    rows, err = table()
    assert " unverified " in rows["vitmatte-base"]
    assert "vitmatte-base is unverified: no checksum is published for pytorch_model.bin, config.json" in err
