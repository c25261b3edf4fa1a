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


# ---------------------------------------------------------------- plain-URL downloads (Cutie's GitHub files)

MD5 = hashlib.md5(PAYLOAD).hexdigest()


class FileServer:
    """http.server on 127.0.0.1: /files/NAME serves a file, /redirect/NAME -> 302 -> /moved/NAME -> 301
    -> /files/NAME (GitHub release links redirect too), /short/NAME promises more bytes than it sends."""

    def __init__(self, files: dict[str, bytes], delay: float = 0.0):
        self.files = files
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body: bool):
                srv.requests.append((self.command, self.path))
                parts = self.path.strip("/").split("/", 1)
                kind, name = (parts + [""])[:2]
                data = srv.files.get(name)
                if data is None or kind not in ("files", "redirect", "moved", "short"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if kind in ("redirect", "moved"):
                    self.send_response(302 if kind == "redirect" else 301)
                    self.send_header("Location", f"/{'moved' if kind == 'redirect' else 'files'}/{name}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data) + (1000 if kind == "short" else 0)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if not body:
                    return
                step = 256 * 1024
                try:
                    for i in range(0, len(data), step):
                        self.wfile.write(data[i:i + step])
                        self.wfile.flush()
                        if srv.delay:
                            time.sleep(srv.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

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


def url_spec(url, md5=MD5, sha256=None, size=None):
    return registry.WeightSpec("cutie-test", "cutie", "someone/Cutie", "cutie-test.pth", "v1.0", size, sha256,
                               url=url, md5=md5)


def test_cutie_entries_are_plain_urls():
    for name in ("cutie-base", "cutie-small"):
        s = registry.get(name)
        assert s.url == f"https://github.com/hkchengrex/Cutie/releases/download/v1.0/{s.filename}"
    assert registry.get("cutie-base").md5 == "a6071de6136982e396851903ab4c083a"
    assert all(s.url is None for s in registry.SPECS if s.kind != "cutie")


def test_url_download_with_progress_md5_then_sha256_recorded(env, monkeypatch):
    seen = []
    with FileServer({"cutie-test.pth": PAYLOAD}) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth"))
        path = weights.download("cutie-test", progress=lambda d, t: seen.append((d, t)))
    assert path == env / "cutie-test.pth"
    assert path.read_bytes() == PAYLOAD
    assert srv.requests == [("HEAD", "/files/cutie-test.pth"), ("GET", "/files/cutie-test.pth")]
    assert len(seen) > 1 and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {t for _, t in seen} == {len(PAYLOAD)}
    assert (env / "cutie-test.pth.sha256").read_text().strip() == SHA
    assert weights.status("cutie-test").state == "ok"
    assert weights.verify("cutie-test").state == "ok"
    assert not [p for p in env.iterdir() if p.name.startswith(".download")]
    # a second call finds the good copy and does not touch the network (the server is gone)
    assert weights.download("cutie-test") == path


def test_url_download_follows_redirects(env, monkeypatch):
    with FileServer({"cutie-test.pth": PAYLOAD}) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/redirect/cutie-test.pth", md5=None, sha256=SHA))
        path = weights.download("cutie-test")
    assert path.read_bytes() == PAYLOAD
    assert [m for m, p in srv.requests if p == "/files/cutie-test.pth"] == ["HEAD", "GET"]  # HEAD kept HEAD
    assert ("GET", "/redirect/cutie-test.pth") in srv.requests
    assert ("GET", "/moved/cutie-test.pth") in srv.requests
    assert not (env / "cutie-test.pth.sha256").exists()  # the registry has the sha256
    assert weights.status("cutie-test").state == "ok"


def test_url_md5_mismatch_is_rejected(env, monkeypatch):
    with FileServer({"cutie-test.pth": PAYLOAD}) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth", md5="0" * 32))
        with pytest.raises(ModelError, match="checksum.*roto-studio models download cutie-test"):
            weights.download("cutie-test")
    assert not (env / "cutie-test.pth").exists()
    assert not (env / "cutie-test.pth.sha256").exists()
    assert (env / "cutie-test.pth.bad").read_bytes() == PAYLOAD
    assert weights.status("cutie-test").state == "missing"


def test_url_cancel_leaves_no_file(env, monkeypatch):
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        stop.set()

    with FileServer({"cutie-test.pth": PAYLOAD}, delay=0.05) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/cutie-test.pth"))
        with pytest.raises(Cancelled):
            weights.download("cutie-test", progress=progress, cancel=stop.is_set)
    assert len(seen) == 1 and 0 < seen[0] < len(PAYLOAD)
    assert not (env / "cutie-test.pth").exists()
    assert [p for p in env.rglob("*") if p.is_file()] == []
    assert [p for p in env.iterdir() if p.name.startswith(".download")] == []


def test_url_disk_space_uses_head_size(env, monkeypatch):
    class Usage:
        total, used, free = 10 * 2**30, 0, weights.DISK_MARGIN + 2**20  # room for 1 MiB, not 3

    monkeypatch.setattr(weights.shutil, "disk_usage", lambda p: Usage)
    with FileServer({"cutie-test.pth": PAYLOAD}) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/redirect/cutie-test.pth"))
        with pytest.raises(ModelError, match="disk space"):
            weights.download("cutie-test")
    assert srv.requests and all(m == "HEAD" for m, _ in srv.requests)
    assert not (env / "cutie-test.pth").exists()


def test_url_errors_are_one_line_with_the_fix(env, monkeypatch):
    with FileServer({"cutie-test.pth": PAYLOAD}) as srv:
        use_spec(monkeypatch, url_spec(f"{srv.url}/files/other.pth"))
        with pytest.raises(ModelError, match="HTTP 404.*ROTO_WEIGHTS_OFFLINE") as info:
            weights.download("cutie-test")
        assert "\n" not in str(info.value)
        use_spec(monkeypatch, url_spec(f"{srv.url}/short/cutie-test.pth", md5=None))
        with pytest.raises(ModelError, match="stopped early"):
            weights.download("cutie-test")
    use_spec(monkeypatch, url_spec("http://127.0.0.1:9/files/cutie-test.pth"))  # nothing listens there
    with pytest.raises(ModelError, match="cannot reach 127.0.0.1.*ROTO_WEIGHTS_OFFLINE"):
        weights.download("cutie-test")
    assert [p for p in env.rglob("*") if p.is_file()] == []


def test_md5_checks_hand_copied_files(env, tmp_path, monkeypatch):
    use_spec(monkeypatch, url_spec("http://127.0.0.1:9/cutie-test.pth"))
    offline = tmp_path / "usb"
    (offline / "Cutie").mkdir(parents=True)
    (offline / "Cutie" / "cutie-test.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(offline))
    assert weights.status("cutie-test").state == "ok"
    assert weights.download("cutie-test") == offline / "Cutie" / "cutie-test.pth"
    env.mkdir(parents=True, exist_ok=True)
    (env / "cutie-test.pth").write_bytes(b"z" + PAYLOAD[1:])  # a bad copy in our folder comes first
    assert weights.status("cutie-test").state == "ok"  # ... but the good offline one is used
    assert weights.find("cutie-test") == offline / "Cutie" / "cutie-test.pth"
    assert (env / "cutie-test.pth.bad").exists()
    use_spec(monkeypatch, url_spec("http://127.0.0.1:9/cutie-test.pth", md5=None))
    assert weights.status("cutie-test").state == "unverified"


def test_models_list_shows_cutie(env, monkeypatch, capsys):
    from roto_studio.cli import main

    assert main(["models", "list"]) == 0
    lines = {ln.split()[0]: ln.split() for ln in capsys.readouterr().out.splitlines()[1:]}
    assert lines["cutie-base"][2] == "missing" and lines["cutie-small"][2] == "missing"
    env.mkdir(parents=True)
    (env / "cutie-small-mega.pth").write_bytes(b"small")
    (env / "cutie-base-mega.pth").write_bytes(b"not the real file")
    assert main(["models", "list"]) == 0
    lines = {ln.split()[0]: ln.split() for ln in capsys.readouterr().out.splitlines()[1:]}
    assert lines["cutie-small"][2] == "unverified"
    assert lines["cutie-base"][2:4] == ["bad", "checksum"]
