"""`roto-studio render` end to end on generated shots (CPU fallback backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core.project import load_project
from tests.render_shots import FIRST, make_shot, results

ALL = ["--stages", "track,matte,cleanplate,export"]


def render(project, out, *extra):
    return main(["render", str(project), "--out", str(out), "--format", "exr", *extra])


def smoothed_shot(folder):
    """A shot whose 'car' has temporal smoothing, so an exported frame reads its neighbours."""
    shot = make_shot(folder, "s", frames=12)
    project = load_project(shot)
    project.object_by_name("car").refine = {"temporal": 1, "feather": 1.0}
    project.save()
    return shot


def test_chunks_in_any_order_equal_one_run(tmp_path, capsys):
    one = smoothed_shot(tmp_path / "one")
    assert render(one, tmp_path / "one_out", *ALL) == 0
    capsys.readouterr()
    chunked = smoothed_shot(tmp_path / "chunked")
    for chunk in ("1009-1012", "1001-1004", "1005-1008"):
        assert render(chunked, tmp_path / "chunked_out", *ALL, "--frames", chunk) == 0
    want = results(one, tmp_path / "one_out")
    got = results(chunked, tmp_path / "chunked_out")
    assert sorted(want) == sorted(got)
    assert len([k for k in want if k.startswith("out/") and k.endswith(".exr")]) == 2 * 12
    assert len([k for k in want if "_clean." in k]) == 2 * 12
    assert len([k for k in want if k.startswith("matte/")]) == 2 * 12
    for name in want:
        assert want[name] == got[name], name


def test_render_clean_plate_is_the_cleanplate_command(tmp_path, capsys):
    """render's clean plate stage is `roto-studio cleanplate` (temporal shot fill, saved settings)."""
    shot = make_shot(tmp_path, "c", frames=12)
    assert main(["render", str(shot), "--stages", "track"]) == 0
    assert main(["render", str(shot), "--stages", "cleanplate", "--out", str(tmp_path / "render"),
                 "--frames", "1004-1007"]) == 0
    assert main(["cleanplate", str(shot), "--object", "car", "--out", str(tmp_path / "cli")]) == 0
    rendered = sorted((tmp_path / "render").glob("car_clean.*.png"))
    assert [p.name for p in rendered] == [f"car_clean.{f}.png" for f in range(1004, 1008)]
    for p in rendered:
        assert p.read_bytes() == (tmp_path / "cli" / p.name).read_bytes(), p.name


def test_rerun_skips_finished_frames_and_a_changed_prompt_reruns(tmp_path, capsys):
    shot = make_shot(tmp_path, "r", frames=12)
    out = tmp_path / "out"
    assert render(shot, out, "--json-log") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    statuses = {(r["stage"], r["status"]) for r in lines}
    assert statuses == {("track", "written"), ("matte", "written"), ("export", "written")}
    # keyframes 1003 and 1011: track writes 12 - 2 frames per object, matte and export every frame
    assert sum(r["stage"] == "track" for r in lines) == 2 * 10
    assert sum(r["stage"] == "export" for r in lines) == 12
    before = results(shot, out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.exr")}

    assert render(shot, out, "--json-log") == 0
    again = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {r["status"] for r in again} == {"skipped"}
    assert results(shot, out) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.exr")} == mtimes

    # a replaced output file is noticed and rewritten
    victim = sorted(out.glob("car.*.exr"))[4]
    victim.write_bytes(b"not an exr")
    assert render(shot, out, "--stages", "export", "--json-log") == 0
    redo = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["frame"] for r in redo if r["status"] == "written"] == [FIRST + 4]
    assert results(shot, out) == before

    # the artist moves the ball's second keyframe: only the ball's spans next to it re-run
    project = load_project(shot)
    ball = project.object_by_name("ball")
    alpha = project.masks.get(ball.id, FIRST + 10)
    project.masks.set(ball.id, FIRST + 10, np.roll(alpha, 2, axis=1))
    assert render(shot, out, "--json-log") == 0
    third = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    tracked = sorted(r["frame"] for r in third if r["stage"] == "track" and r["status"] == "written")
    assert all(r["object"] == "ball" for r in third if r["stage"] == "track" and r["status"] == "written")
    # the span up to it (1004-1010) and the span from it (1012); not the span before 1003
    assert tracked == [*range(FIRST + 3, FIRST + 10), FIRST + 11]
    assert not [r for r in third if r["stage"] == "track" and r["object"] == "car" and r["status"] != "skipped"]


def test_render_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ROTO_SERVER_TOKEN", raising=False)
    shot = make_shot(tmp_path, "e", frames=4, keys=(1,))

    def fails(argv, words):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err

    fails(["render", str(shot)], "needs --out DIR")
    fails(["render", str(shot), "--out", str(tmp_path / "o")], "needs --format")
    fails(["render", str(shot), "--stages", "track,paint"], "unknown stage 'paint'")
    fails(["render", str(shot), "--stages", "track", "--server", "http://127.0.0.1:9"], "ROTO_SERVER_TOKEN")
    fails(["render", str(shot), "--stages", "track", "--frames", "5-9"], "holds no frames")
    fails(["render", str(shot), "--out", str(tmp_path / "o"), "--format", "prores", "--frames", "1001-1002"],
          "whole shot")
    # export alone after mattes went stale: says what to run instead of exporting old mattes
    assert main(["render", str(shot), "--stages", "track,matte"]) == 0
    project = load_project(shot)
    car = project.object_by_name("car")
    project.masks.set(car.id, FIRST + 3, np.zeros_like(project.masks.get(car.id, FIRST + 3)))
    capsys.readouterr()
    fails(["render", str(shot), "--stages", "export", "--out", str(tmp_path / "o"), "--format", "png8"],
          "out of date")


@pytest.mark.parametrize("fmt", ["prores"])
def test_prores_movie_is_one_step(tmp_path, capsys, fmt):
    shot = make_shot(tmp_path, "m", frames=6, keys=(0,))
    out = tmp_path / "out"
    assert main(["render", str(shot), "--stages", "track,export", "--out", str(out), "--format", fmt]) == 0
    assert sorted(p.name for p in out.glob("*.mov")) == ["ball.mov", "car.mov"]
    capsys.readouterr()
    assert main(["render", str(shot), "--stages", "track,export", "--out", str(out), "--format", fmt]) == 0
    assert all(" skipped" in line for line in capsys.readouterr().out.splitlines())


def test_batch_without_ray_runs_each_shot_and_reports_failures(tmp_path, capsys):
    shots = tmp_path / "shots"
    make_shot(shots, "a", frames=6, keys=(0,))
    make_shot(shots, "b", frames=6, keys=(0,), seed=1)
    broken = shots / "c.roto"
    broken.mkdir()
    (broken / "project.json").write_text("{ not json")
    out = tmp_path / "out"
    assert main(["batch", str(shots), "--stages", "track,export", "--out", str(out), "--format", "png8"]) == 1
    table = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in table[1:-1]}
    assert table[0].split() == ["shot", "frames", "time", "status", "output"]
    assert rows["a"].split()[1] == "6" and rows["a"].split()[3:] == ["ok", str(out / "a")]
    assert rows["b"].split()[3:] == ["ok", str(out / "b")] and "failed" in rows["c"] and "damaged" in rows["c"]
    assert table[-1] == "2 of 3 shots finished, 12 frames"
    assert len(list((out / "a").glob("car.*.png"))) == 6 and len(list((out / "b").glob("ball.*.png"))) == 6
    log = (shots / "a.roto" / "render" / "batch.log").read_text().splitlines()
    assert sum(" export " in line for line in log) == 6
    # the same frames as a render of the shot on its own
    solo = make_shot(tmp_path / "solo", "a", frames=6, keys=(0,))
    assert main(["render", str(solo), "--stages", "track,export", "--out", str(tmp_path / "solo_out"),
                 "--format", "png8"]) == 0
    assert results(solo, tmp_path / "solo_out") == results(shots / "a.roto", out / "a")


def test_batch_without_out_exports_into_each_projects_folder(tmp_path, capsys):
    shots = tmp_path / "shots"
    make_shot(shots, "a", frames=4, keys=(0,))
    make_shot(shots, "b", frames=4, keys=(0,), seed=1)
    assert main(["batch", str(shots), "--stages", "track,export"]) == 0  # no --out, no --format
    table = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in table[1:-1]}
    for name, obj in (("a", "car"), ("b", "ball")):
        folder = shots / f"{name}.roto" / "export"
        assert rows[name][3:] == ["ok", str(folder)]
        assert len(list(folder.glob(f"{obj}.*.exr"))) == 4  # EXR, the window's default format
    # the same files as a render with --out
    solo = make_shot(tmp_path / "solo", "a", frames=4, keys=(0,))
    assert render(solo, tmp_path / "solo_out", "--stages", "track,export") == 0
    assert results(solo, tmp_path / "solo_out") == results(shots / "a.roto", shots / "a.roto" / "export")


def test_batch_ray_without_the_extra_says_how_to_install(tmp_path):
    import subprocess
    import sys

    shot = make_shot(tmp_path, "x", frames=3, keys=(0,))
    code = ("import sys, importlib.abc\n"
            "class B(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'ray': raise ImportError('blocked')\n"
            "sys.meta_path.insert(0, B())\n"
            "from roto_studio.cli import main\n"
            f"sys.exit(main(['batch', {str(shot)!r}, '--ray', '--stages', 'track']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "pip install 'roto-studio[ray]'" in r.stderr and r.stderr.count("\n") == 1


def test_render_through_the_model_server_equals_in_process(tmp_path, capsys):
    from tests.server.helpers import start_server

    local = make_shot(tmp_path / "local", "v", frames=8, keys=(1, 6))
    remote = make_shot(tmp_path / "remote", "v", frames=8, keys=(1, 6))
    args = ["--stages", "track,matte,cleanplate,export", "--matte-backend", "classical", "--format", "png16"]
    assert main(["render", str(local), "--out", str(tmp_path / "local_out"), *args]) == 0
    server = start_server(tmp_path / "server", "--media-root", str(tmp_path / "remote"))
    try:
        capsys.readouterr()
        assert main(["render", str(remote), "--out", str(tmp_path / "remote_out"), *args,
                     "--server", server.url, "--token-file", str(server.token_file)]) == 0
        assert "server" in capsys.readouterr().err
        assert server.alive()
    finally:
        server.stop()
    want = results(local, tmp_path / "local_out")
    got = results(remote, tmp_path / "remote_out")
    assert sorted(want) == sorted(got) and len([k for k in want if k.startswith("out/")]) == 4 * 8
    for name in want:
        assert want[name] == got[name], name
