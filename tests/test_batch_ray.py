"""`roto-studio batch --ray` on a local Ray (2 CPUs, one session for the module): same files as
sequential renders, and a worker SIGKILLed mid-shot is retried without harming finished frames."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from roto_studio.cli import main
from tests.render_shots import FIRST, make_shot, results

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def ray_session():
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")  # workers import this checkout
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_batch_ray_equals_sequential_render(tmp_path, ray_session, capsys):
    for i in range(2):
        make_shot(tmp_path / "seq", f"shot{i}", frames=12, seed=i)
        make_shot(tmp_path / "ray", f"shot{i}", frames=12, seed=i)
    stages = ["--stages", "track,matte,cleanplate,export"]
    for i in range(2):
        assert main(["render", str(tmp_path / "seq" / f"shot{i}.roto"), *stages,
                     "--out", str(tmp_path / "seq_out" / f"shot{i}"), "--format", "exr"]) == 0
    capsys.readouterr()
    assert main(["batch", str(tmp_path / "ray"), "--ray", *stages, "--chunk", "5",
                 "--out", str(tmp_path / "ray_out"), "--format", "exr"]) == 0
    table = capsys.readouterr().out
    assert "shot0" in table and "shot1" in table and "2 of 2 shots finished, 24 frames" in table
    for i in range(2):
        want = results(tmp_path / "seq" / f"shot{i}.roto", tmp_path / "seq_out" / f"shot{i}")
        got = results(tmp_path / "ray" / f"shot{i}.roto", tmp_path / "ray_out" / f"shot{i}")
        assert len([k for k in want if k.endswith(".exr")]) == 2 * 12
        assert sorted(want) == sorted(got)
        for name in want:
            assert want[name] == got[name], (i, name)


def test_batch_ray_without_out_exports_into_each_projects_folder(tmp_path, ray_session, capsys):
    """The farm form `batch SHOTS... --ray`: no --out, no --format."""
    make_shot(tmp_path / "ray", "shot0", frames=6, seed=3, keys=(0,))
    reference = make_shot(tmp_path / "seq", "shot0", frames=6, seed=3, keys=(0,))
    assert main(["render", str(reference), "--out", str(tmp_path / "seq_out"), "--format", "exr"]) == 0
    capsys.readouterr()
    assert main(["batch", str(tmp_path / "ray"), "--ray", "--chunk", "3"]) == 0
    folder = tmp_path / "ray" / "shot0.roto" / "export"
    row = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("shot0")]
    assert row and row[0][3:] == ["ok", str(folder)]
    want = results(reference, tmp_path / "seq_out")
    got = results(tmp_path / "ray" / "shot0.roto", folder)
    assert len([k for k in got if k.endswith(".exr")]) == 2 * 6 and sorted(want) == sorted(got)
    for name in want:
        assert want[name] == got[name], name


def _matte_workers():
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::roto matte"):
            out.append((p.info["pid"], cmd))
    return out


def test_killed_worker_is_retried_and_finished_frames_stay(tmp_path, ray_session, capsys):
    shot = make_shot(tmp_path / "ray", "long", frames=24, seed=5)
    reference = make_shot(tmp_path / "seq", "long", frames=24, seed=5)
    assert main(["render", str(reference), "--stages", "track,matte,export",
                 "--out", str(tmp_path / "seq_out" / "long"), "--format", "png16"]) == 0
    mattes = shot / "render" / "matte"
    rc = []
    batch = threading.Thread(target=lambda: rc.append(main(
        ["batch", str(shot), "--ray", "--stages", "track,matte,export", "--chunk", "12", "--retries", "2",
         "--out", str(tmp_path / "ray_out"), "--format", "png16"])))
    batch.start()
    killed = None
    deadline = time.monotonic() + 90
    while killed is None and batch.is_alive() and time.monotonic() < deadline:
        for pid, cmd in _matte_workers():
            a, b = (int(x) for x in cmd.split()[2].split("-"))
            # finished = recorded (a file without its record yet is in flight and may be redone)
            done = [shot / "render" / "matte" / r.parent.name / f"{r.stem}.png"
                    for r in (shot / "render" / "done" / "matte").glob("*/[0-9]*.json") if a <= int(r.stem) <= b]
            before = {p: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in done if p.exists()}
            if 2 <= len(before) < 2 * (b - a + 1):  # mid-chunk: some frames done, not all
                os.kill(pid, signal.SIGKILL)
                killed = (pid, a, b, before)
                break
        time.sleep(0.01)
    batch.join(timeout=180)
    assert killed is not None, "no matte task was caught mid-chunk"
    assert rc == [0]
    assert "1 of 1 shots finished, 24 frames" in capsys.readouterr().out
    pid, a, b, before = killed
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # frames written before the kill were not touched by the retry, and are right
    for p, (ino, mtime, data) in before.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == (ino, mtime), p
        assert p.read_bytes() == data
    # the retried task found them finished and did the rest
    log = (shot / "render" / "batch.log").read_text()
    skipped = [line for line in log.splitlines() if " matte " in line and line.endswith(" skipped")]
    assert len(skipped) >= len(before)
    assert len(list(mattes.glob("*/[0-9]*.png"))) == 2 * 24
    want = results(reference, tmp_path / "seq_out" / "long")
    got = results(shot, tmp_path / "ray_out" / "long")
    assert sorted(want) == sorted(got)
    for name in want:
        assert want[name] == got[name], name
    assert FIRST + 23 in {int(p.stem) for p in mattes.glob("*/[0-9]*.png")}
