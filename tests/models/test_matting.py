"""Matting: classical (pymatting) on generated images with known alpha; ViTMatte with random
weights from a small VitMatteConfig through our real pipeline (trimap, tiles, resize, storage)."""

import cv2
import numpy as np
import pytest

from roto_studio.core.trimap import BACKGROUND, FOREGROUND, UNKNOWN, make_trimap
from roto_studio.models.matting.classical import ClassicalMatter, solve_in_tiles


def smooth_noise(h, w, seed, cells=6):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (cells, cells, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)


def known_alpha_image(h=96, w=128, seed=0):
    """image = fg*alpha + bg*(1-alpha) with smooth fg/bg colours and a soft, wavy edge."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = w * 0.5 + 8 * np.sin(yy / 9.0)
    alpha = np.clip((edge - xx) / 6.0 + 0.5, 0, 1).astype(np.float32)  # ~6 px soft ramp
    fg = 0.5 * smooth_noise(h, w, seed, 3) + np.array([200, 60, 40], np.float32) * 0.5
    bg = 0.5 * smooth_noise(h, w, seed + 1, 3) + np.array([20, 90, 210], np.float32) * 0.5
    img = fg * alpha[..., None] + bg * (1 - alpha[..., None])
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), alpha


def test_classical_recovers_a_known_alpha():
    img, alpha = known_alpha_image()
    trimap = make_trimap(alpha > 0.5, 6, 6, adaptive=False)
    unk = trimap == UNKNOWN
    assert unk.sum() > 500
    out = ClassicalMatter().refine(img, trimap)
    assert out.shape == alpha.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    err = np.abs(out - alpha)[unk].mean()
    binary_err = np.abs((alpha > 0.5) - alpha)[unk].mean()
    assert err < 0.05
    assert err < 0.3 * binary_err
    # known regions come straight from the trimap
    assert (out[trimap == FOREGROUND] == 1).all() and (out[trimap == BACKGROUND] == 0).all()


def test_tiles_agree_with_one_piece_and_skip_empty_tiles():
    img, alpha = known_alpha_image(120, 200)
    trimap = make_trimap(alpha > 0.5, 6, 6, adaptive=False)
    m = ClassicalMatter()
    whole = m.refine(img, trimap)
    calls = []

    def solve(i, t):
        calls.append(t.shape)
        return m._solve(i, t)

    tiled = solve_in_tiles(img, trimap, solve, tile=48, overlap=12, context=16)
    unk = trimap == UNKNOWN
    assert np.abs(tiled - whole)[unk].mean() < 0.02
    # the band is a vertical strip: tiles left and right of it are never solved
    assert len(calls) < (120 // 36 + 1) * (200 // 36 + 1) / 2
    lbdm = ClassicalMatter("lbdm").refine(img, trimap)
    assert np.abs(lbdm - alpha)[unk].mean() < 0.08


def test_classical_tile_with_one_side_known_and_no_band():
    img, alpha = known_alpha_image()
    trimap = np.full(alpha.shape, FOREGROUND, np.uint8)
    trimap[40:50, 40:50] = UNKNOWN  # nothing but foreground anywhere
    out = ClassicalMatter(tile=64).refine(img, trimap)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    empty = np.zeros(alpha.shape, np.uint8)
    assert (ClassicalMatter().refine(img, empty) == 0).all()
    with pytest.raises(Exception, match="trimap"):
        ClassicalMatter().refine(img, empty[:10])


# -- ViTMatte with random weights

@pytest.fixture(scope="module")
def tiny_vitmatte():
    pytest.importorskip("transformers")
    from roto_studio.models.matting.vitmatte import ViTMatteMatter

    return ViTMatteMatter.from_config(seed=0, device="cpu", tile=96, overlap=16, context=8)


def test_vitmatte_tiles_right_size_and_range(tiny_vitmatte):
    img, alpha = known_alpha_image(150, 260)
    trimap = make_trimap(alpha > 0.5, 8, 8)
    out = tiny_vitmatte.refine(img, trimap)
    assert out.shape == (150, 260) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert (out[trimap == FOREGROUND] == 1).all() and (out[trimap == BACKGROUND] == 0).all()
    unk = trimap == UNKNOWN
    assert 0 < out[unk].mean() < 1


def test_vitmatte_resize_mode_upsamples_inside_the_band_only(tiny_vitmatte):
    from roto_studio.models.matting.vitmatte import ViTMatteMatter

    img, alpha = known_alpha_image(200, 300)
    trimap = make_trimap(alpha > 0.5, 10, 10)
    m = ViTMatteMatter(tiny_vitmatte.model, device="cpu", mode="resize", working_size=64, context=8)
    seen = []
    real_run = m._run
    m._run = lambda i, t: (seen.append(t.shape), real_run(i, t))[1]
    out = m.refine(img, trimap)
    assert max(seen[0]) <= 64  # the model saw the working size, not the frame
    assert out.shape == (200, 300) and out.min() >= 0 and out.max() <= 1
    assert (out[trimap == FOREGROUND] == 1).all() and (out[trimap == BACKGROUND] == 0).all()


def test_vitmatte_saved_and_loaded_gives_same_alpha(tiny_vitmatte, tmp_path, monkeypatch):
    from roto_studio.models.matting import vitmatte

    tiny_vitmatte.model.save_pretrained(tmp_path / "vm")
    tiny_vitmatte.processor.save_pretrained(tmp_path / "vm")
    loaded = vitmatte.ViTMatteMatter.from_pretrained(tmp_path / "vm" / "model.safetensors", device="cpu",
                                                     tile=96, overlap=16, context=8)
    img, alpha = known_alpha_image()
    trimap = make_trimap(alpha > 0.5, 6, 6)
    np.testing.assert_allclose(loaded.refine(img, trimap), tiny_vitmatte.refine(img, trimap), atol=1e-5)
    # auto picks ViTMatte once checked weights are in their folder, classical otherwise
    from tests.hub_server import write_pins

    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    monkeypatch.delenv("ROTO_WEIGHTS_PINS", raising=False)
    assert vitmatte.make_matter("auto").name == "classical"
    with pytest.raises(Exception, match="vitmatte-small weights are missing"):
        vitmatte.make_matter("vitmatte")
    folder = tmp_path / "w" / "vitmatte-small"
    tiny_vitmatte.model.save_pretrained(folder)
    assert vitmatte.make_matter("auto").name == "classical"  # random weights fail the published pins
    with pytest.raises(Exception, match=r"model.safetensors has the wrong size \(.*\), so it was set aside as "
                                        "model.safetensors.bad; run `roto-studio models download vitmatte-small`"):
        vitmatte.make_matter("vitmatte")
    (folder / "model.safetensors.bad").unlink()
    tiny_vitmatte.model.save_pretrained(folder)
    with pytest.raises(Exception, match="model.safetensors has the wrong size"):
        vitmatte.make_matter("vitmatte")
    tiny_vitmatte.model.save_pretrained(folder)  # (the failing file was set aside)
    files = {f: (folder / f).read_bytes() for f in ("model.safetensors", "config.json")}
    monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(write_pins(tmp_path / "pins.json", {"vitmatte-small": ("a" * 40, files)})))
    assert vitmatte.make_matter("auto", device="cpu").name == "vitmatte"
    assert vitmatte.available_backends() == ["vitmatte", "classical"]
    with pytest.raises(Exception, match="config.json"):
        vitmatte.ViTMatteMatter.from_pretrained(tmp_path / "nothing", device="cpu")


def write_sequence(folder, n=3, h=96, w=128):
    folder.mkdir()
    alphas = {}
    for i in range(n):
        img, alpha = known_alpha_image(h, w, seed=i)
        cv2.imwrite(str(folder / f"plate.{1001 + i:04d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        alphas[1001 + i] = alpha
    return folder / "plate.####.png", alphas


def make_project(tmp_path, n=3):
    from roto_studio.core.project import create_project

    pattern, alphas = write_sequence(tmp_path / "plates", n)
    p = create_project(tmp_path / "shot.roto", pattern)
    obj = p.add_object("wall")
    for f, a in alphas.items():
        p.masks.set(obj.id, f, a > 0.5)
    p.save()
    return p, obj, alphas


def test_vitmatte_through_matte_object_into_the_mask_store(tiny_vitmatte, tmp_path):
    from roto_studio.ops.matte import matte_object

    p, obj, alphas = make_project(tmp_path, 2)
    steps = []
    done = matte_object(p, obj.id, tiny_vitmatte, band=6, progress=lambda d, n: steps.append((d, n)))
    assert done == [1001, 1002] and steps[-1] == (2, 2)
    for f in done:
        stored = p.masks.get(obj.id, f)
        assert stored.shape == (96, 128) and stored.min() >= 0 and stored.max() <= 1
        soft = (stored > 0.01) & (stored < 0.99)
        assert soft.sum() > 50  # no longer a binary mask


def test_matte_cli_classical_writes_soft_alpha_and_honours_locks(tmp_path, capsys):
    from roto_studio.cli import main

    p, obj, alphas = make_project(tmp_path, 3)
    p.lock_range(obj.id, 1003, 1003)
    p.save()
    before = p.masks.get(obj.id, 1003).copy()
    rc = main(["matte", str(p.folder), "--object", "wall", "--backend", "classical", "--band", "6"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "classical" in err and "2 frames" in err
    from roto_studio.core.project import load_project

    q = load_project(p.folder)
    for f in (1001, 1002):
        a = q.masks.get(obj.id, f)
        unk = make_trimap(alphas[f] > 0.5, 6, 6) == UNKNOWN
        assert np.abs(a - alphas[f])[unk].mean() < 0.5 * np.abs((alphas[f] > 0.5) - alphas[f])[unk].mean()
    np.testing.assert_array_equal(q.masks.get(obj.id, 1003), before)
    assert main(["matte", str(p.folder), "--object", "nobody"]) == 2
    assert "no object named" in capsys.readouterr().err


def test_vitmatte_at_4k_sees_only_bounded_tiles(tiny_vitmatte):
    """A 4K frame: the model only ever sees tiles (tile + context), only along the band, and the
    numpy side stays within a few frame-sized buffers."""
    import tracemalloc

    from roto_studio.models.matting.vitmatte import ViTMatteMatter

    h, w = 2160, 3840
    yy, xx = np.ogrid[0:h, 0:w]
    mask = ((yy - 1080) ** 2 + (xx - 1900) ** 2) <= 250 ** 2
    image = np.zeros((h, w, 3), np.uint8)
    image[mask] = (200, 120, 40)
    trimap = make_trimap(mask)
    m = ViTMatteMatter(tiny_vitmatte.model, device="cpu", tile=384, overlap=32, context=16)
    shapes = []
    real_run = m._run
    m._run = lambda i, t: (shapes.append(t.shape), real_run(i, t))[1]
    tracemalloc.start()
    out = m.refine(image, trimap)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (h, w) and out.min() >= 0 and out.max() <= 1
    assert max(max(s) for s in shapes) <= 384 + 2 * 16
    # the ring (radius 250) crosses a handful of tiles, not the ~66 the frame holds
    assert 2 <= len(shapes) <= 9
    frame_bytes = h * w * 4
    assert peak < 8 * frame_bytes, peak / 2**20
