"""`roto-studio segment` and `roto-studio models` end to end on generated media."""

from __future__ import annotations

import json
import os
import signal

import cv2
import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core.project import load_project

H, W = 64, 80
FIRST = 1001
N = 12


def square_at(i):
    x = 8 + 3 * i
    return x, 20, x + 24, 44


@pytest.fixture
def clip(tmp_path):
    """plate.####.png, frames 1001..1012: a red square moving right over a noisy background."""
    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(3)
    bg = rng.integers(20, 70, (H, W, 3)).astype(np.uint8)
    truth = {}
    for i in range(N):
        img = bg.copy()
        x1, y1, x2, y2 = square_at(i)
        img[y1:y2, x1:x2] = (40, 60, 220)  # BGR: red
        m = np.zeros((H, W), np.float32)
        m[y1:y2, x1:x2] = 1
        truth[FIRST + i] = m
        cv2.imwrite(str(folder / f"plate.{FIRST + i:04d}.png"), img)
    return str(folder / "plate.####.png"), truth


def write_mask(path, m, bits=8):
    scale = 65535 if bits == 16 else 255
    cv2.imwrite(str(path), (m * scale).astype(np.uint16 if bits == 16 else np.uint8))
    return str(path)


def iou(a, b):
    a, b = a > 0.5, b > 0.5
    return (a & b).sum() / max(1, (a | b).sum())


def test_mask_prompt_creates_project(tmp_path, clip, capsys):
    media, truth = clip
    out = tmp_path / "shot.roto"
    png = write_mask(tmp_path / "m.png", truth[1003], bits=16)
    rc = main(["segment", media, "--out", str(out), "--backend", "classical", "--object", "car",
               "--frame", "1003", "--mask", png])
    assert rc == 0
    text = capsys.readouterr().out
    assert "object: car" in text and "frame 1003" in text
    project = load_project(out)
    obj = project.object_by_name("car")
    assert project.prompts[obj.id][1003].has_mask
    np.testing.assert_allclose(project.masks.get(obj.id, 1003), truth[1003], atol=1e-3)
    data = json.loads((out / "project.json").read_text())
    assert data["objects"][0]["name"] == "car"


def test_extending_a_project_and_errors(tmp_path, clip, capsys):
    media, truth = clip
    out = tmp_path / "shot.roto"
    png = write_mask(tmp_path / "m.png", truth[1001])
    assert main(["segment", media, "--out", str(out), "--backend", "classical", "--object", "a",
                 "--frame", "1001", "--mask", png]) == 0
    png2 = write_mask(tmp_path / "m2.png", truth[1005])
    assert main(["segment", media, "--out", str(out), "--backend", "classical", "--object", "b",
                 "--frame", "1005", "--mask", png2]) == 0
    assert main(["segment", media, "--out", str(out), "--backend", "classical", "--object", "a",
                 "--frame", "1006", "--mask", png2]) == 0
    project = load_project(out)
    assert [o.name for o in project.objects] == ["a", "b"]
    a = project.object_by_name("a")
    assert sorted(project.prompts[a.id]) == [1001, 1006]
    capsys.readouterr()

    def fails(argv, words):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err, err

    base = ["segment", media, "--out", str(out), "--backend", "classical"]
    fails(base + ["--frame", "5", "--mask", png], "not in the media")
    fails(base + ["--frame", "1002"], "give a prompt")
    small = write_mask(tmp_path / "small.png", np.ones((10, 10), np.float32))
    fails(base + ["--frame", "1002", "--mask", small], "frame's size")
    fails(base + ["--frame", "1002", "--point", "500,3"], "outside")
    fails(base + ["--frame", "1002", "--point", "1,2,7"], "LABEL")
    fails(base + ["--frame", "1002", "--box", "1,2,3"], "X1,Y1,X2,Y2")
    fails(base + ["--frame", "1002", "--mask", png, "--box", "1,1,9,9"], "--mask alone")
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), np.zeros((H, W, 3), np.uint8))
    fails(["segment", str(other), "--out", str(out), "--frame", "0", "--mask", png], "is a project for")
    fails(base + ["--frame", "1002", "--mask", png, "--weights", str(tmp_path / "nope.pt")], "does not exist")
    # a failed first run leaves no project behind
    fresh = tmp_path / "fresh.roto"
    fails(["segment", media, "--out", str(fresh), "--backend", "classical", "--frame", "1", "--mask", png],
          "not in the media")
    assert not (fresh / "project.json").exists()


def test_ctrl_c_keeps_finished_frames(tmp_path, clip, monkeypatch, capsys):
    from roto_studio.commands import common
    from roto_studio.models import backends
    from tests.models.test_engine import FakeVideo

    monkeypatch.setattr(backends.BackendSet, "video", property(lambda self: FakeVideo()))

    class Interrupting(common.Progress):
        def __call__(self, done, total, text=None):
            super().__call__(done, total, text)
            if done == 3:
                os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C

    monkeypatch.setattr(common, "Progress", Interrupting)
    media, truth = clip
    out = tmp_path / "shot.roto"
    png = write_mask(tmp_path / "m.png", truth[1001])
    rc = main(["segment", media, "--out", str(out), "--backend", "classical", "--frame", "1001",
               "--mask", png, "--propagate", "forward"])
    assert rc == 130
    assert "finished frames were kept" in capsys.readouterr().err
    project = load_project(out)
    obj = project.objects[0]
    assert project.masks.frames(obj.id) == [1001, 1002, 1003, 1004]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_classical_box_and_propagation(tmp_path, clip, capsys):
    from roto_studio.models import classical
    from roto_studio.models.base import VideoPropagator

    assert issubclass(classical.FlowPropagator, VideoPropagator)
    media, truth = clip
    out = tmp_path / "shot.roto"
    rc = main(["segment", media, "--out", str(out), "--backend", "classical", "--object", "square",
               "--frame", "1004", "--box", "15,17,45,47", "--propagate", "both"])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr()
    assert "propagated both: 11 frames written" in text.out
    assert "classical" in text.err
    project = load_project(out)
    obj = project.object_by_name("square")
    assert project.masks.frames(obj.id) == list(range(FIRST, FIRST + N))
    scores = [iou(project.masks.get(obj.id, f), truth[f]) for f in range(FIRST, FIRST + N)]
    assert min(scores) > 0.7, scores
    assert project.prompts[obj.id][1004].box == (15.0, 17.0, 45.0, 47.0)


@pytest.mark.slow
def test_sam2_random_weights_cli(tmp_path, clip, monkeypatch, capsys):
    pytest.importorskip("sam2")
    monkeypatch.setenv("ROTO_SAM2_RANDOM_WEIGHTS", "tiny@128")
    media, truth = clip
    out = tmp_path / "shot.roto"
    rc = main(["segment", media, "--out", str(out), "--backend", "sam2", "--frame", "1010",
               "--point", "50,30", "--point", "5,5,0", "--propagate", "forward"])
    assert rc == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "random weights" in captured.err
    project = load_project(out)
    obj = project.objects[0]
    assert project.masks.frames(obj.id) == [1010, 1011, 1012]
    a = project.masks.get(obj.id, 1012)
    assert a.shape == (H, W) and a.dtype == np.float32
    assert project.prompts[obj.id][1010].clicks == [(50.0, 30.0, 1), (5.0, 5.0, 0)]


def test_models_list_and_verify(tmp_path, monkeypatch, capsys):
    from roto_studio.models.weights import registry

    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    monkeypatch.delenv("ROTO_WEIGHTS_PINS", raising=False)
    spec = registry.WeightSpec("tiny-test", "sam2", "t/t", "a" * 40, (registry.WeightFile("t.pt", None, 4),))
    good = registry.WeightSpec("sha-test", "sam2", "t/s", "a" * 40, (registry.WeightFile(
        "s.pt", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", 3),))  # sha256("foo")
    monkeypatch.setattr(registry, "SPECS", [spec, good])
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny-test" in out and "missing" in out
    assert main(["models", "verify"]) == 0
    assert "no model weights are present" in capsys.readouterr().out
    assert main(["models", "verify", "tiny-test"]) == 2
    assert "roto-studio models download tiny-test" in capsys.readouterr().err
    for name, fn, data in (("sha-test", "s.pt", b"foo"), ("tiny-test", "t.pt", b"bar!")):
        (tmp_path / "w" / name).mkdir(parents=True)
        (tmp_path / "w" / name / fn).write_bytes(data)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert " ok " in out and " unverified " in out
    (tmp_path / "w" / "sha-test" / "s.pt").write_bytes(b"fox")
    assert main(["models", "verify", "sha-test"]) == 1
    captured = capsys.readouterr()
    assert "bad hash" in captured.out
    assert "set aside as s.pt.bad; run `roto-studio models download sha-test`" in captured.err
    assert (tmp_path / "w" / "sha-test" / "s.pt.bad").exists()
    assert main(["models", "download", "nonexistent"]) == 2
    assert "known models" in capsys.readouterr().err
