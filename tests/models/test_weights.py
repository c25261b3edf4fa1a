"""Weights: download through huggingface_hub from a local server that answers like the hub."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models import registry, weights

REPO = "tester/tiny-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAYLOAD = os.urandom(3 * 2**20 + 123)  # several 256 KiB writes from the server
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FakeHub:
    """http.server on 127.0.0.1 answering HEAD/GET of /<repo>/resolve/<revision>/<file>."""

    def __init__(self, files: dict[str, bytes], delay: float = 0.0):
        self.files = files
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _lookup(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                # owner/name/resolve/revision/file...
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                repo, revision, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if repo != REPO or revision not in ("main", COMMIT):
                    return None
                return hub.files.get(name)

            def _headers(self, data: bytes, length: int, status=200):
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", '"%s"' % hashlib.sha256(data).hexdigest())
                self.send_header("Content-Length", str(length))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                data = self._lookup()
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._headers(data, len(data))

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                data = self._lookup()
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                body = data[start:]
                self._headers(data, len(body), 206 if start else 200)
                step = 256 * 1024
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                        if hub.delay:
                            time.sleep(hub.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def make_spec(sha256=None, size=len(PAYLOAD), name="tiny-test"):
    return registry.WeightSpec(name, "sam2", REPO, "tiny.pt", "main", size, sha256)


@pytest.fixture
def env(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(folder))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    weights.set_offline_folders([])
    return folder


def use_spec(monkeypatch, spec):
    monkeypatch.setattr(registry, "SPECS", [spec])


def test_download_with_progress_then_verified(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    seen = []
    with FakeHub({"tiny.pt": PAYLOAD}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        path = weights.download("tiny-test", progress=lambda d, t: seen.append((d, t)))
    assert path == env / "tiny.pt"
    assert path.read_bytes() == PAYLOAD
    assert ("HEAD", f"/{REPO}/resolve/main/tiny.pt") in hub.requests
    assert seen and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert weights.status("tiny-test").state == "ok"
    assert weights.find("tiny-test") == path
    assert weights.verify("tiny-test").state == "ok"
    assert not [p for p in env.iterdir() if p.name.startswith(".download")]


def test_hub_checksum_recorded_when_registry_has_none(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=None))
    with FakeHub({"tiny.pt": PAYLOAD}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        path = weights.download("tiny-test")
    assert (env / "tiny.pt.sha256").read_text().strip() == SHA
    assert weights.verify("tiny-test").state == "ok"
    # a later corruption is caught by verify and the file is set aside
    path.write_bytes(b"x" + PAYLOAD[1:])
    st = weights.verify("tiny-test")
    assert st.state == "bad checksum"
    assert not path.exists() and (env / "tiny.pt.bad").exists()
    assert weights.find("tiny-test") is None


def test_checksum_mismatch_is_rejected(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256="0" * 64))
    with FakeHub({"tiny.pt": PAYLOAD}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="checksum"):
            weights.download("tiny-test")
    assert not (env / "tiny.pt").exists()
    assert (env / "tiny.pt.bad").exists()
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
    with FakeHub({"tiny.pt": PAYLOAD}, delay=0.02) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(Cancelled):
            weights.download("tiny-test", progress=progress, cancel=stop.is_set)
    assert seen and max(seen) < len(PAYLOAD)
    assert not (env / "tiny.pt").exists()
    leftovers = [p for p in env.rglob("*") if p.is_file()]
    assert leftovers == []


def test_disk_space_refusal_before_any_request(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))

    class Usage:
        total, used, free = 10 * 2**30, 10 * 2**30 - 2**20, 2**20

    monkeypatch.setattr(weights.shutil, "disk_usage", lambda p: Usage)
    with FakeHub({"tiny.pt": PAYLOAD}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="disk space"):
            weights.download("tiny-test")
    assert hub.requests == []
    assert not (env / "tiny.pt").exists()


def test_offline_folder_found_without_network(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    offline = tmp_path / "usb"
    (offline / "tiny-test").mkdir(parents=True)
    (offline / "tiny-test" / "tiny.pt").write_bytes(PAYLOAD)
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert weights.find("tiny-test") == offline / "tiny-test" / "tiny.pt"
    assert weights.download("tiny-test") == offline / "tiny-test" / "tiny.pt"
    assert weights.status("tiny-test").state == "ok"
    # settings-style folder works too
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE")
    assert weights.find("tiny-test") is None
    weights.set_offline_folders([offline])
    try:
        assert weights.find("tiny-test") == offline / "tiny-test" / "tiny.pt"
    finally:
        weights.set_offline_folders([])


def test_bad_offline_file_is_not_used_nor_moved(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    offline = tmp_path / "usb"
    offline.mkdir()
    (offline / "tiny.pt").write_bytes(b"y" * len(PAYLOAD))
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    assert weights.find("tiny-test") is None
    assert (offline / "tiny.pt").exists()  # not ours: left alone
    assert weights.status("tiny-test").state == "bad checksum"


def test_missing_weights_name_the_fix(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    with pytest.raises(ModelError, match="roto-studio models download tiny-test"):
        weights.require("tiny-test")


def test_offline_mode_is_a_model_error(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    with FakeHub({"tiny.pt": PAYLOAD}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="ROTO_WEIGHTS_OFFLINE"):
            weights.download("tiny-test")
    assert hub.requests == []
    assert not (env / "tiny.pt").exists()


def test_missing_file_on_hub_is_a_model_error(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=SHA))
    with FakeHub({"other.pt": PAYLOAD}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="has no tiny.pt"):
            weights.download("tiny-test")
    assert not (env / "tiny.pt").exists()


def test_wrong_size_is_bad(env, monkeypatch):
    use_spec(monkeypatch, make_spec(sha256=None))
    env.mkdir(parents=True)
    (env / "tiny.pt").write_bytes(b"short")
    assert weights.status("tiny-test").state == "wrong size"
    assert weights.find("tiny-test") is None
    assert (env / "tiny.pt.bad").exists()


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
