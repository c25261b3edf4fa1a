"""`batch --ray --gpus-per-task N`: matte and clean plate tasks reserve GPUs on a local Ray that
declares one GPU (Ray hands each task its GPU id), a killed matte worker is retried and the
summary says why, and a reservation the cluster cannot meet is refused in one line."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from roto_studio.cli import main
from tests.render_shots import make_shot

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def ray_gpu_session():
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")  # workers import this checkout
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_gpus_per_task_and_retry_reason(tmp_path, ray_gpu_session, capsys):
    shot = make_shot(tmp_path, "gshot", frames=16, seed=3)
    rc = []
    batch = threading.Thread(target=lambda: rc.append(main(
        ["batch", str(shot), "--ray", "--stages", "track,matte,cleanplate,export", "--gpus-per-task", "1",
         "--chunk", "8", "--retries", "2", "--out", str(tmp_path / "out"), "--format", "png16"])))
    batch.start()
    killed = None
    note = shot / "render" / "attempts" / "matte_1001-1008.json"
    deadline = time.monotonic() + 120
    while killed is None and batch.is_alive() and time.monotonic() < deadline:
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            # once the attempt has started its render (its note is written), kill its worker
            if cmd.startswith("ray::roto matte 1001-1008") and note.exists():
                os.kill(p.info["pid"], signal.SIGKILL)
                killed = cmd
                break
        time.sleep(0.005)
    batch.join(timeout=240)
    assert killed is not None, "the matte task was not caught running"
    assert rc == [0]
    table = capsys.readouterr().out
    assert "1 of 1 shots finished, 16 frames" in table
    assert "retried: gshot matte 1001-1008: the worker died" in table
    log = (shot / "render" / "batch.log").read_text()
    for what in ("matte 1001-1008", "matte 1009-1016", "cleanplate+export 1001-1008", "cleanplate+export 1009-1016"):
        assert f"gshot: {what} on GPU 0" in log, what
    assert len(list((tmp_path / "out" / "gshot").glob("car.*.png"))) == 16
    assert not list((shot / "render" / "attempts").glob("*.json"))  # finished tasks leave no attempt notes


def test_more_gpus_than_the_cluster_has(tmp_path, ray_gpu_session, capsys):
    shot = make_shot(tmp_path, "g2", frames=4, keys=(1, 2))
    assert main(["batch", str(shot), "--ray", "--stages", "track,matte", "--gpus-per-task", "2"]) == 2
    err = capsys.readouterr().err
    assert "--gpus-per-task 2 asks for more GPUs than the cluster has (1)" in err
