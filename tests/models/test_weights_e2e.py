"""End to end, for each downloadable family (SAM 2, ViTMatte, Cutie): random weights built from the
package's own config, saved in the real file layout, served by the local hub-like server
(tests/hub_server.py), fetched with `roto-studio models download NAME` (HF_ENDPOINT, and test pins
through ROTO_WEIGHTS_PINS since random files cannot match the published ones), then used by the
real command: `segment`, `matte --backend auto`, `segment --backend cutie`. Everything runs through
`python -m roto_studio` in a subprocess, as a user would."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.hub_server import HubServer, write_pins

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "c0ffee" + "0" * 34
H, W, FIRST = 96, 128, 1001

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]


def cli(*args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "roto_studio", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def user_env(tmp_path, srv=None, pins=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTO_", "HF_"))}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", ROTO_DEVICE="cpu",
               ROTO_WEIGHTS_DIR=str(tmp_path / "weights"), HF_HOME=str(tmp_path / "hf"),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="0")
    if srv is not None:
        env["HF_ENDPOINT"] = srv.url
    if pins is not None:
        env["ROTO_WEIGHTS_PINS"] = str(pins)
    return env


def plate(tmp_path, n=3) -> tuple[str, Path]:
    """A PNG sequence with a square moving over texture, and the square's mask on the first frame."""
    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(0)
    bg = rng.integers(30, 90, (H, W, 3)).astype(np.uint8)
    for i in range(n):
        img = bg.copy()
        img[30:60, 30 + 4 * i:60 + 4 * i] = (40, 200, 230)
        cv2.imwrite(str(folder / f"plate.{FIRST + i:04d}.png"), img)
    mask = np.zeros((H, W), np.uint8)
    mask[30:60, 30:60] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    return str(folder / "plate.####.png"), tmp_path / "mask.png"


def download(name, env, srv, path):
    """`models download NAME`: fetched from the server at the pinned revision into weights/NAME/."""
    r = cli("models", "download", name, env=env)
    assert r.returncode == 0, r.stderr
    folder = Path(env["ROTO_WEIGHTS_DIR"]) / name
    assert r.stdout.strip() == f"{name}: ok {folder}"
    assert ("GET", path) in srv.requests
    return folder


def test_sam2_download_then_segment(tmp_path):
    pytest.importorskip("sam2")
    from roto_studio.models.weights import registry
    from roto_studio.models.sam2 import common as sam2_common

    commit = registry.get("sam2.1-tiny").revision  # served at the published revision

    model = sam2_common.from_config("tiny", image_size=128, seed=3)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict()}, buf)  # Meta's checkpoint layout
    files = {"sam2.1_hiera_tiny.pt": buf.getvalue()}
    pins = write_pins(tmp_path / "pins.json", {"sam2.1-tiny": (commit, files)})
    media, _ = plate(tmp_path, n=2)
    with HubServer({"facebook/sam2.1-hiera-tiny": (commit, files)}) as srv:
        # the published pins apply unless told otherwise: random weights are refused and set aside
        r = cli("models", "download", "sam2.1-tiny", env=user_env(tmp_path, srv))
        assert r.returncode == 2
        assert "sam2.1_hiera_tiny.pt of sam2.1-tiny has the wrong size" in r.stderr
        assert "roto-studio models download sam2.1-tiny" in r.stderr
        env = user_env(tmp_path, srv, pins)
        folder = download("sam2.1-tiny", env, srv, f"/facebook/sam2.1-hiera-tiny/resolve/{commit}/sam2.1_hiera_tiny.pt")
    assert (folder / "sam2.1_hiera_tiny.pt").read_bytes() == files["sam2.1_hiera_tiny.pt"]
    assert (folder / "sam2.1_hiera_tiny.pt.bad").exists()  # the refused copy, kept aside
    r = cli("segment", media, "--out", tmp_path / "p.roto", "--backend", "sam2", "--frame", FIRST,
            "--point", "45,45", "--propagate", "forward", env=env)
    assert r.returncode == 0, r.stderr
    assert f"backend: sam2 (sam2.1-tiny): SAM 2 weights found ({folder / 'sam2.1_hiera_tiny.pt'})" in r.stderr
    from roto_studio.core.project import load_project

    project = load_project(tmp_path / "p.roto")
    assert project.masks.frames(project.objects[0].id) == [FIRST, FIRST + 1]


def test_vitmatte_download_then_matte_auto(tmp_path):
    pytest.importorskip("transformers")
    from transformers import VitMatteForImageMatting

    from roto_studio.models.matting.vitmatte import ViTMatteMatter

    torch.manual_seed(0)
    saved = tmp_path / "saved"
    VitMatteForImageMatting(ViTMatteMatter.tiny_config()).save_pretrained(saved)
    files = {f: (saved / f).read_bytes() for f in ("model.safetensors", "config.json")}
    pins = write_pins(tmp_path / "pins.json", {"vitmatte-small": (COMMIT, files)})
    media, mask = plate(tmp_path, n=1)
    repo = "hustvl/vitmatte-small-composition-1k"
    env = user_env(tmp_path, None, pins)
    r = cli("segment", media, "--out", tmp_path / "p.roto", "--backend", "classical", "--frame", FIRST,
            "--mask", mask, env=env)
    assert r.returncode == 0, r.stderr
    # a truncated copy: auto mattes with classical and says what is wrong with which file, never "missing"
    folder = tmp_path / "weights" / "vitmatte-small"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(files["model.safetensors"][:1000])
    (folder / "config.json").write_bytes(files["config.json"])
    r = cli("matte", tmp_path / "p.roto", "--backend", "auto", env=env)
    assert r.returncode == 0, r.stderr
    assert (f"matting with classical (ViTMatte not used: {folder / 'model.safetensors'} has the wrong size "
            f"(1000 bytes, the pin says {len(files['model.safetensors'])})") in r.stderr
    assert "roto-studio models download vitmatte-small" in r.stderr and "missing" not in r.stderr
    with HubServer({repo: (COMMIT, files)}) as srv:
        env = user_env(tmp_path, srv, pins)
        folder = download("vitmatte-small", env, srv, f"/{repo}/resolve/{COMMIT}/model.safetensors")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "config.json", "model.safetensors", "model.safetensors.bad", "model.safetensors.bad.why"]
    r = cli("models", "list", env=env)
    rows = {ln.split()[0]: re.split(r"\s{2,}", ln)[2] for ln in r.stdout.splitlines()[1:]}
    assert rows["vitmatte-small"] == "ok" and rows["vitmatte-base"] == "missing"  # one never stands in for the other
    assert "pins from ROTO_WEIGHTS_PINS" in r.stderr
    r = cli("matte", tmp_path / "p.roto", "--backend", "auto", env=env)
    assert r.returncode == 0, r.stderr
    assert "matting with vitmatte" in r.stderr and "1 frames written" in r.stderr


def test_cutie_download_then_segment_cutie(tmp_path):
    pytest.importorskip("cutie.inference.inference_core")
    from roto_studio.models.cutie import video as cutie_video

    net = cutie_video.build_network(cutie_video.cutie_config("small"), seed=1)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    name = "cutie-small-mega.pth"
    data = buf.getvalue()
    media, mask = plate(tmp_path, n=3)
    with HubServer(files={name: data}) as srv:
        pins = write_pins(tmp_path / "pins.json", {"cutie-small": ("v1.0", {name: data})},
                          urls={name: f"{srv.url}/redirect/{name}"})  # release links redirect
        env = user_env(tmp_path, None, pins)
        folder = download("cutie-small", env, srv, f"/files/{name}")
    assert (folder / name).read_bytes() == data
    r = cli("segment", media, "--out", tmp_path / "p.roto", "--backend", "cutie", "--frame", FIRST,
            "--mask", mask, "--propagate", "forward", env=env)
    assert r.returncode == 0, r.stderr
    assert f"weights {name}" in r.stderr
    from roto_studio.core.project import load_project

    project = load_project(tmp_path / "p.roto")
    assert project.masks.frames(project.objects[0].id) == [FIRST, FIRST + 1, FIRST + 2]
