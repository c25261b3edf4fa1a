"""Provenance of exports: `roto-studio info FILE` on an exported EXR (header attributes, also read
with OpenEXR), a PNG frame (its iTXt chunk, also read with PIL) and a ProRes movie's sidecar
JSON prints the plate, frames, project file and digest, objects, models and version."""

from __future__ import annotations

import hashlib
import json

import OpenEXR
import pytest

from roto_studio import __version__
from roto_studio.cli import main
from tests.render_shots import FIRST, make_shot


def _expect(text: str, shot, frames: str, objects: str) -> None:
    digest = hashlib.sha256((shot / "project.json").read_bytes()).hexdigest()
    assert f"Roto Studio {__version__}" in text
    assert f"plate:         {shot.parent / 'shot_plate' / 'plate.####.png'} (frames {FIRST}-{FIRST + 3})" in text
    assert f"frames:        {frames}" in text
    assert f"project:       {shot / 'project.json'}" in text and digest in text
    assert f"objects:       {objects}" in text
    assert "model:         tracking: classical" in text


def test_info_shows_provenance_of_exr_png_and_movie(tmp_path, capsys):
    shot = make_shot(tmp_path, "shot", frames=4, keys=(1, 2))
    for fmt in ("exr", "png16"):
        assert main(["export", str(shot), "--out", str(tmp_path / fmt), "--format", fmt, "--quiet"]) == 0
    capsys.readouterr()

    exr = tmp_path / "exr" / f"car.{FIRST + 2}.exr"
    assert main(["info", str(exr)]) == 0
    _expect(capsys.readouterr().out, shot, f"{FIRST + 2}-{FIRST + 2}", "car")
    with OpenEXR.File(str(exr), header_only=True) as f:
        header = dict(f.header())
    assert header["rotoStudio/frames"] == f"{FIRST + 2}-{FIRST + 2}"
    assert json.loads(header["rotoStudio/provenance"])["objects"] == [{"id": "obj1", "name": "car"}]

    png = tmp_path / "png16" / f"ball.{FIRST + 1}.png"
    assert main(["info", str(png)]) == 0
    text = capsys.readouterr().out
    assert "bit depth:     16" in text  # the media part is still there
    _expect(text, shot, f"{FIRST + 1}-{FIRST + 1}", "ball")
    from PIL import Image

    with Image.open(png) as im:
        im.load()
        record = json.loads(im.text["rotoStudio/provenance"])
    assert record["frames"] == [FIRST + 1, FIRST + 1] and record["export"] == {"format": "png16"}

    assert main(["info", str(png), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["project"]["file"] == str(shot / "project.json")


def test_prores_movie_has_a_sidecar(tmp_path, capsys):
    pytest.importorskip("av")
    shot = make_shot(tmp_path, "shot", frames=4, keys=(1, 2))
    assert main(["export", str(shot), "--out", str(tmp_path / "mov"), "--format", "prores", "--object", "car",
                 "--quiet"]) == 0
    capsys.readouterr()
    side = tmp_path / "mov" / "car.mov.json"
    assert json.loads(side.read_text())["frames"] == [FIRST, FIRST + 3]
    for target in (tmp_path / "mov" / "car.mov", side):
        assert main(["info", str(target)]) == 0
        _expect(capsys.readouterr().out, shot, f"{FIRST}-{FIRST + 3}", "car")
