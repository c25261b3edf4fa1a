"""The server's model manager: lazy loads, least-recently-used unloads under the memory budget,
pinned models kept, a model over the whole budget refused; accounted on the CPU exactly as on a
GPU (bytes of parameters and buffers). Then the same through a real server: two SAM 2 sizes
under a budget that holds one, seen in /v1/status."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from roto_studio.server.manager import ModelManager, OverBudget, model_bytes  # noqa: E402
from tests.server.helpers import start_server, write_plate  # noqa: E402


def _model(n: int):
    return torch.nn.Linear(n, 1000, bias=False)  # n * 1000 float32 = 4000 * n bytes


def test_manager_lru_budget_pins_and_refusal():
    loads, unloaded = [], []
    m = ModelManager(budget_bytes=10_000_000, device="cpu")
    m.on_unload(unloaded.append)

    def loader(name, n):
        def load():
            loads.append(name)
            return _model(n)
        return load

    a = m.get("a", loader("a", 1000))  # 4 MB
    assert model_bytes(a) == 4_000_000 and m.used == 4_000_000
    assert m.get("a", loader("a", 1000)) is a and loads == ["a"]  # lazy: loaded once
    m.get("b", loader("b", 1000))
    m.get("a", loader("a", 1000))  # a is now the most recently used
    m.get("c", loader("c", 1000))  # 12 MB > 10 MB: b (least recently used) goes
    assert unloaded == ["b"] and set(m.loaded()) == {"a", "c"} and m.used == 8_000_000
    m.pin("a")
    m.pin("c")
    with pytest.raises(OverBudget, match="budget"):
        m.get("d", loader("d", 1000))  # nothing may be unloaded
    assert set(m.loaded()) == {"a", "c"}
    m.unpin("a")
    m.get("d", loader("d", 1000))
    assert unloaded[-1] == "a" and set(m.loaded()) == {"c", "d"}
    with pytest.raises(OverBudget):
        m.get("huge", loader("huge", 3000))  # 12 MB alone is over the budget
    assert set(m.loaded()) == {"c", "d"}  # nothing was unloaded for a model that cannot fit
    rows = {r["key"]: r for r in m.status()}
    assert rows["c"]["pinned"] and rows["d"]["bytes"] == 4_000_000
    # a reload is expected to need what it needed before: room is made first
    m.unpin("c")
    m.get("b", loader("b", 1000))
    assert loads.count("b") == 2 and m.used <= 10_000_000


@pytest.mark.slow
def test_server_unloads_least_recently_used_sam2(tmp_path):
    pytest.importorskip("sam2")
    import httpx

    plate = write_plate(tmp_path / "media" / "plate", frames=2)
    # SAM 2.1 tiny is ~39 M parameters (~156 MB): a 0.25 GB budget holds one model, not two
    srv = start_server(tmp_path / "server", "--media-root", str(tmp_path / "media"), "--device", "cpu",
                       "--gpu-memory-budget", "0.25", env={"ROTO_SAM2_RANDOM_WEIGHTS": "tiny@128"})
    try:
        c = httpx.Client(base_url=srv.url + "/v1", headers=srv.headers(), timeout=300)
        media = {"path": plate, "width": 80, "height": 64, "frame_numbers": [1001, 1002]}
        status = c.get("/status").json()
        assert status["models"] == [] and status["budget_bytes"] == int(0.25 * 2**30)
        assert status["device"]["name"] == "cpu" and status["device"]["free"] > 0
        sessions = {}
        for size in (128, 256):
            r = c.post("/sessions", json={"backend": "sam2", "image_size": size, "media": media})
            assert r.status_code == 200, r.text
            sessions[size] = r.json()["session"]

        def click(size):
            r = c.post(f"/sessions/{sessions[size]}/predict", json={"frame": 1001, "points": [[30, 30]]})
            assert r.status_code == 200, r.text

        click(128)
        status = c.get("/status").json()
        assert [m["key"] for m in status["models"]] == ["sam2:random:tiny@128:size=128:cpu"]
        size128 = status["models"][0]["bytes"]
        assert 100e6 < size128 < 0.25 * 2**30 and status["used_bytes"] == size128
        click(256)  # needs room: the 128 model (least recently used) unloads
        status = c.get("/status").json()
        assert [m["key"] for m in status["models"]] == ["sam2:random:tiny@128:size=256:cpu"]
        assert status["unloads"] == 1
        click(128)  # its session rebuilds on the reloaded model
        status = c.get("/status").json()
        assert [m["key"] for m in status["models"]] == ["sam2:random:tiny@128:size=128:cpu"]
        assert status["unloads"] == 2 and srv.alive()
        c.close()
    finally:
        srv.stop()


@pytest.mark.slow
def test_out_of_gpu_memory_retries_once_smaller_then_says_what_to_do(tmp_path, capsys):
    """The server answers 507 when SAM 2 does not fit its memory budget: the remote engine opens
    a session at the next smaller SAM 2 size and clicks once more; when that does not fit either,
    one line says what to do (and the CLI exits 2 with it)."""
    pytest.importorskip("sam2")
    from roto_studio.cli import main
    from roto_studio.client.http import ServerClient
    from roto_studio.client.remote import remote_engine
    from roto_studio.core.media import open_media
    from roto_studio.core.project import create_project
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.device import DeviceOutOfMemory

    plate = write_plate(tmp_path / "media" / "plate", frames=2)
    # SAM 2.1 tiny holds ~156 MB: a 0.05 GB budget fits it at no size
    srv = start_server(tmp_path / "server", "--media-root", str(tmp_path / "media"), "--device", "cpu",
                       "--gpu-memory-budget", "0.05", env={"ROTO_SAM2_RANDOM_WEIGHTS": "tiny@1024"})
    try:
        client = ServerClient(srv.url, srv.token)
        with open_media(plate) as media:
            engine = remote_engine(create_project(tmp_path / "a.roto", plate), client, "sam2", media=media)
            obj = engine.project.add_object().id
            assert engine.backends.session.model_size == 1024
            with pytest.raises(DeviceOutOfMemory) as err:
                engine.prompt(obj, 1001, Prompt(points=[(30.0, 30.0)], labels=[1]))
            engine.close()
        message = str(err.value)
        assert "\n" not in message and "ran out of GPU memory" in message
        assert "--gpu-memory-budget" in message  # what to do
        assert engine.backends.session.model_size == 768  # it retried once, smaller
        assert "768" in engine.describe()
        assert srv.alive() and client.status()["models"] == []
        client.close()

        args = ["segment", plate, "--out", str(tmp_path / "b.roto"), "--frame", "1001", "--point", "30,30",
                "--backend", "sam2", "--server", srv.url, "--token-file", str(srv.token_file)]
        capsys.readouterr()
        assert main(args) == 2
        err_lines = [line for line in capsys.readouterr().err.splitlines() if "GPU memory" in line]
        assert len(err_lines) == 1 and "--gpu-memory-budget" in err_lines[0]
        assert srv.alive()
    finally:
        srv.stop()
