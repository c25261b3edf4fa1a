"""The window's model server child runs below the window: a lower priority (and on Linux the
batch scheduling class) and one torch thread fewer than the cores, read from the running child."""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("uvicorn")

from roto_studio.client.local import LocalServer  # noqa: E402


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_server_child_runs_below_the_window(tmp_path):
    server = LocalServer(device="cpu", env={"ROTO_CACHE_DIR": str(tmp_path)})
    try:
        server.start(timeout=120)
        pid = server.pid
        assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 10
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH
        env = dict(kv.split("=", 1) for kv in open(f"/proc/{pid}/environ").read().split("\0") if "=" in kv)
        cores = os.cpu_count() or 1
        if cores > 1 and "OMP_NUM_THREADS" not in os.environ:
            assert env["OMP_NUM_THREADS"] == str(cores - 1)
    finally:
        server.close()
