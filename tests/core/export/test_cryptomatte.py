"""`roto-studio export --format cryptomatte`, decoded by an independent reader (cryptomatte-api,
as its documentation shows: `Cryptomatte.load(file)` then `.masks()`): every object's matte comes
back as exported, soft edges and overlaps of three objects included; the header is checked with
OpenEXR and `exrheader`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core.project import create_project, load_project

cryptomatte_api = pytest.importorskip("cryptomatte_api")
mmh3 = pytest.importorskip("mmh3")

NAMES = ("car", "ball", "hero tree")


def _shot(tmp_path: Path) -> Path:
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in (1001, 1002):
        cv2.imwrite(str(plate / f"plate.{f}.png"), np.full((40, 64, 3), 90, np.uint8))
    project = create_project(tmp_path / "shot.roto", str(plate / "plate.####.png"))
    yy, xx = np.mgrid[0:40, 0:64].astype(np.float32)
    for k, name in enumerate(NAMES):
        obj = project.add_object(name)
        for f in (1001, 1002):
            # soft ramps that overlap each other: up to three objects share a pixel
            ramp = np.clip((xx - (8 + 12 * k + f - 1001)) / 14.0, 0, 1) * np.clip((34 - yy) / 9.0, 0, 1)
            ramp[:, 40 + 6 * k:] *= 0.5
            project.masks.set(obj.id, f, ramp)
    project.save()
    return project.folder


def _all_channels(path):
    import OpenEXR

    with OpenEXR.File(str(path), header_only=True) as f:
        return [c.name for c in f.header()["channels"]]


def test_cryptomatte_decodes_to_every_matte(tmp_path, capsys):
    folder = _shot(tmp_path)
    out = tmp_path / "out"
    assert main(["export", str(folder), "--out", str(out), "--format", "cryptomatte", "--crypto-layers",
                 "--quiet"]) == 0
    project = load_project(folder)
    files = sorted(out.glob("*.exr"))
    assert [p.name for p in files] == ["shot.1001.exr", "shot.1002.exr"]
    for path, frame in zip(files, (1001, 1002)):
        (matte,) = cryptomatte_api.Cryptomatte.load(str(path))
        decoded = matte.masks()
        assert sorted(decoded) == sorted(NAMES)  # names from our manifest
        assert {"car.A", "ball.A", "hero_tree.A"} <= set(_all_channels(path))  # --crypto-layers
        ours = {o.name: project.final_alpha(o.id, frame) for o in project.objects}
        soft = [(a > 0.02) & (a < 0.98) for a in ours.values()]
        assert (np.sum(soft, axis=0) >= 2).sum() > 20  # soft edges really overlap here
        for name, alpha in ours.items():
            np.testing.assert_allclose(decoded[name], alpha, atol=1e-3)  # half-float precision
        # the same mattes by hash, which a decoder must find without the manifest
        for name in NAMES:
            h = mmh3.hash(name.encode(), signed=False)
            np.testing.assert_allclose(matte.mask(h), ours[name], atol=1e-3)


def test_cryptomatte_header_follows_the_specification(tmp_path):
    import OpenEXR

    folder = _shot(tmp_path)
    out = tmp_path / "out"
    assert main(["export", str(folder), "--out", str(out), "--format", "cryptomatte", "--quiet"]) == 0
    path = out / "shot.1001.exr"
    with OpenEXR.File(str(path), separate_channels=True) as f:
        header = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.header().items()}
        chans = {name: np.array(c.pixels) for name, c in f.channels().items()}
    key = f"{mmh3.hash('CryptoObject', signed=False):08x}"[:7]
    assert header[f"cryptomatte/{key}/name"] == "CryptoObject"
    assert header[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert header[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    manifest = json.loads(header[f"cryptomatte/{key}/manifest"])
    assert sorted(manifest) == sorted(NAMES)
    # 3 objects: 4 ranks in two layers of r,g,b,a, all 32-bit float; no per-object layers asked for
    assert sorted(chans) == [f"CryptoObject0{i}.{c}" for i in (0, 1) for c in "abgr"]
    assert all(a.dtype == np.float32 for a in chans.values())
    ids = chans["CryptoObject00.r"]
    for name, hexid in manifest.items():
        value = np.frombuffer(bytes.fromhex(hexid)[::-1], "<f4")[0]
        assert np.isfinite(value) and value != 0
        assert (ids == value).any(), name
    # rank 0 holds the highest coverage
    assert (chans["CryptoObject00.g"] >= chans["CryptoObject00.a"]).all()
    assert (chans["CryptoObject00.a"] >= chans["CryptoObject01.g"]).all()
    if shutil.which("exrheader") is None:
        pytest.skip("exrheader not installed (Debian package openexr)")
    text = subprocess.run(["exrheader", str(path)], capture_output=True, text=True, check=True).stdout
    assert f"cryptomatte/{key}/conversion (type string): \"uint32_to_float32\"" in text
    assert "CryptoObject00.r, 32-bit floating-point" in text


def test_cryptomatte_refuses_cut_outs(tmp_path, capsys):
    folder = _shot(tmp_path)
    assert main(["export", str(folder), "--out", str(tmp_path / "o"), "--format", "cryptomatte",
                 "--rgba", "straight"]) == 2
    assert "holds mattes only" in capsys.readouterr().err
