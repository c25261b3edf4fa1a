"""Every error from the CLI is one line: bad input to several commands, each run through
`roto_studio.cli.main` as a user types it, leaves exactly one line on stderr (the error, saying
what to do) and exits 2, with no notes printed before it and no traceback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roto_studio.cli import main


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plate")
    for i in range(3):
        cv2.imwrite(str(folder / f"plate.{1001 + i:04d}.png"), np.full((48, 64, 3), 60 + 20 * i, np.uint8))
    return str(folder / "plate.####.png")


def bad_calls(plate, tmp):
    out = str(tmp / "shot.roto")
    seg = ["segment", plate, "--out", out, "--frame", "1001", "--backend", "classical"]
    empty = tmp / "empty.roto"
    return [
        [*seg, "--box", "100,100,200,200"],  # outside the 64x48 frame
        [*seg, "--box", "1,2,3"],
        [*seg, "--point", "5,5,7"],
        [*seg, "--box", "nan,1,30,30"],  # not a number: was taken as a box
        [*seg, "--point", "inf,5"],
        [*seg],  # no prompt
        ["segment", plate, "--out", out, "--frame", "999", "--box", "1,1,20,20", "--backend", "classical"],
        ["segment", str(tmp / "missing.####.png"), "--out", out, "--frame", "1", "--box", "1,1,9,9"],
        ["segment", plate, "--out", out, "--frame", "1001", "--backend", "sam3", "--box", "1,1,9,9"],
        ["segment", plate, "--out", out, "--frame", "1001", "--box", "1,1,9,9", "--fps", "fast"],
        ["export", str(empty), "--out", str(tmp / "x"), "--format", "exr"],
        ["render", str(empty), "--out", str(tmp / "x"), "--format", "exr"],
        ["batch", str(tmp), "--chunk", "0"],
        ["batch", str(tmp / "nothing-here")],
        ["serve", "--port", "70000"],
        ["serve", "--session-idle", "-1"],
        ["segment", plate, "--out", out],  # argparse: --frame missing
        ["export", "--no-such-option"],
    ]


def run(argv) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse's own refusals
        return exc.code


def test_bad_input_is_one_line_on_stderr(plate, tmp_path, capsys):
    calls = bad_calls(plate, tmp_path)
    for argv in calls:
        code = run(argv)
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 2, (argv, captured.err)
        assert len(lines) == 1, (argv, captured.err)
        assert lines[0].startswith("roto-studio") and "Traceback" not in captured.err, (argv, captured.err)
    assert len(calls) >= 15


def test_a_good_run_still_says_the_frame_rate(plate, tmp_path, capsys):
    assert main(["segment", plate, "--out", str(tmp_path / "s.roto"), "--frame", "1001", "--backend",
                 "classical", "--box", "10,10,40,30"]) == 0
    assert "frame rate: " in capsys.readouterr().err
