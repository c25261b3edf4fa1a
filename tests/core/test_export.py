"""Export: EXR / PNG / ProRes writers, naming templates, atomic and cancellable project export."""

import errno
import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from roto_studio.core import export as ex
from roto_studio.core.errors import Cancelled, ExportError
from roto_studio.core.export import writers
from roto_studio.core.export import ExportOptions, export_alphas, export_project
from roto_studio.core.exr import read_exr, write_exr
from roto_studio.core.project import create_project, load_project

W, H = 64, 48
FRAMES = list(range(1001, 1007))


def soft_alpha(seed: int, w=W, h=H) -> np.ndarray:
    """A soft-edged disc plus noise: values all over 0..1."""
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - w * (0.3 + 0.05 * (seed % 5)), yy - h / 2)
    a = np.clip((h / 3 - d) / 6 + 0.5, 0, 1)
    rng = np.random.default_rng(seed)
    return np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)


class FakeMedia:
    """A 16-bit plate whose values are not multiples of 257 (so 8-bit rounding would show)."""

    def __init__(self, frames=FRAMES, w=W, h=H, fps=Fraction(24000, 1001)):
        self.width, self.height, self.frame_numbers, self.fps = w, h, list(frames), fps
        self.closed = False

    def read_full(self, frame):
        img = np.empty((self.height, self.width, 3), np.uint16)
        img[..., 0] = 1000 + 37 * (frame % 100)
        img[..., 1] = np.arange(self.width, dtype=np.uint16)[None, :] * 1001
        img[..., 2] = 60001
        return img

    def read(self, frame):
        return np.rint(self.read_full(frame) / 257.0).astype(np.uint8)

    def close(self):
        self.closed = True


def make_project(tmp_path, names=("hero", "2", "my car!"), media=True):
    p = create_project(tmp_path / "shot.roto", tmp_path / "plate.####.png")
    for i, name in enumerate(names):
        obj = p.add_object(name)
        for f in FRAMES:
            p.masks.set(obj.id, f, soft_alpha(100 * i + f))
    p.save()
    if media:
        p.open_media = lambda **kw: FakeMedia()
    return p


def no_temps(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name]


# ---------------------------------------------------------------- pure writers

def test_exr_half_and_float_round_trip(tmp_path):
    a = soft_alpha(1)
    write_exr(tmp_path / "h.exr", {"A": a})
    header, ch = read_exr(tmp_path / "h.exr")
    assert list(ch) == ["A"] and ch["A"].dtype == np.float16
    assert np.allclose(ch["A"].astype(np.float32), a, rtol=2 ** -11, atol=2 ** -24)
    assert np.array_equal(ch["A"], a.astype(np.float16))
    assert header["compression"].name == "ZIP_COMPRESSION"
    for win in ("dataWindow", "displayWindow"):
        lo, hi = header[win]
        assert tuple(lo) == (0, 0) and tuple(hi) == (W - 1, H - 1)

    rng = np.random.default_rng(0)
    f = rng.random((H, W), dtype=np.float32)
    write_exr(tmp_path / "f.exr", {"A": f}, precision="float")
    _, ch = read_exr(tmp_path / "f.exr")
    assert ch["A"].dtype == np.float32 and np.array_equal(ch["A"], f)


@pytest.mark.parametrize("comp, name", [("piz", "PIZ_COMPRESSION"), ("rle", "RLE_COMPRESSION"),
                                        ("none", "NO_COMPRESSION")])
def test_exr_compressions(tmp_path, comp, name):
    a = soft_alpha(2)
    write_exr(tmp_path / "c.exr", {"A": a}, compression=comp)
    header, ch = read_exr(tmp_path / "c.exr")
    assert header["compression"].name == name
    assert np.array_equal(ch["A"], a.astype(np.float16))


def test_png16_and_png8_round_trip(tmp_path):
    a = soft_alpha(3)
    ex.write_png_file(tmp_path / "a16.png", ex.alpha_to_uint16(a))
    got = cv2.imread(str(tmp_path / "a16.png"), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16 and got.ndim == 2
    assert np.array_equal(got, ex.alpha_to_uint16(a))
    assert np.abs(got / 65535.0 - a).max() <= 0.5 / 65535 + 1e-7
    ex.write_png_file(tmp_path / "a8.png", ex.alpha_to_uint8(a))
    got8 = cv2.imread(str(tmp_path / "a8.png"), cv2.IMREAD_UNCHANGED)
    assert got8.dtype == np.uint8 and np.abs(got8 / 255.0 - a).max() <= 0.5 / 255 + 1e-6


def test_cutout_straight_vs_premultiplied():
    rgb = np.full((2, 2, 3), 40000, np.uint16)
    rgb[..., 0] = 1234
    a = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    s = ex.cutout(rgb, a, "straight")
    p = ex.cutout(rgb, a, "premultiplied")
    assert s.dtype == np.uint16 and np.array_equal(s[..., :3], rgb)
    assert np.array_equal(s[..., 3], np.rint(a * 65535).astype(np.uint16))
    assert np.array_equal(p[..., 3], s[..., 3])
    assert np.array_equal(p[..., 0], np.rint(1234 * a).astype(np.uint16))
    assert p[0, 0, 1] == 0 and p[1, 1, 1] == 40000 and p[1, 0, 1] == 20000
    f = ex.cutout(np.full((2, 2, 3), 2.5, np.float32), a, "premultiplied")  # HDR stays HDR
    assert f.dtype == np.float32 and f[1, 1, 0] == 2.5 and f[1, 0, 0] == 1.25


# ---------------------------------------------------------------- project export

def test_exr_per_object_channel_a(tmp_path):
    p = make_project(tmp_path)
    out = export_project(p, tmp_path / "out", ExportOptions(format="exr", objects=["hero"]))
    assert [x.name for x in out] == [f"hero.{f}.exr" for f in FRAMES]
    hero = p.object_by_name("hero")
    for f, path in zip(FRAMES, out):
        header, ch = read_exr(path)
        assert list(ch) == ["A"]
        want = p.final_alpha(hero.id, f)
        assert np.abs(ch["A"].astype(np.float32) - want).max() <= 2 ** -11
        assert tuple(header["displayWindow"][1]) == (W - 1, H - 1)
        assert tuple(header["dataWindow"][1]) == (W - 1, H - 1)
    assert no_temps(tmp_path / "out")


def test_exr_combined_layers_float(tmp_path):
    p = make_project(tmp_path)
    out = export_project(p, tmp_path / "out", ExportOptions(format="exr", combine=True, exr_precision="float"))
    assert [x.name for x in out] == [f"shot.{f}.exr" for f in FRAMES]
    _, ch = read_exr(out[2])
    assert sorted(ch) == ["hero.A", "my_car.A", "obj_2.A"]
    for name, layer in (("hero", "hero.A"), ("2", "obj_2.A"), ("my car!", "my_car.A")):
        want = p.final_alpha(p.object_by_name(name).id, FRAMES[2])
        assert ch[layer].dtype == np.float32 and np.array_equal(ch[layer], want)


def test_exr_combined_single_object_writes_its_layer(tmp_path, capsys):
    """--combine with one object: the layer <object>.A, as with several (README), through the CLI."""
    from roto_studio.cli import main

    make_project(tmp_path, names=("hero", "tree"), media=False)
    code = main(["export", str(tmp_path / "shot.roto"), "--out", str(tmp_path / "c"), "--format", "exr",
                 "--combine", "--object", "hero", "--range", "1001-1001", "--quiet"])
    assert code == 0, capsys.readouterr().err
    header, ch = read_exr(tmp_path / "c" / "shot.1001.exr")
    assert list(ch) == ["hero.A"]
    assert header["framesPerSecond"] == Fraction(24) and header["timeCode"].seconds == 41  # 1001 at 24


def test_exr_extra_header_attributes_are_added_never_replacing_ours(tmp_path):
    p = make_project(tmp_path, names=("hero",))
    extra = {"provenance": "roto studio test", "framesPerSecond": Fraction(1), "cryptomatte/abc/name": "hero"}
    for comp in ("zip", "piz"):  # our ZIP encoder and OpenEXR's writer
        out = export_project(p, tmp_path / comp, ExportOptions(format="exr", frame_range=(1002, 1002),
                                                               exr_compression=comp, exr_attributes=extra))
        header, _ = read_exr(out[0])
        assert header["provenance"] == "roto studio test" and header["cryptomatte/abc/name"] == "hero"
        assert header["framesPerSecond"] == Fraction(24000, 1001)  # the shot's rate (FakeMedia)
        tc = header["timeCode"]
        assert (tc.hours, tc.minutes, tc.seconds, tc.frame) == (0, 0, 41, 18)


def test_exr_rgba_cutout(tmp_path):
    p = make_project(tmp_path, names=("hero",))
    media = FakeMedia()
    for mode in ("straight", "premultiplied"):
        out = export_project(p, tmp_path / mode, ExportOptions(format="exr", rgba=mode, exr_precision="float", edge_colour=False))
        _, ch = read_exr(out[0])
        assert sorted(ch) == ["A", "B", "G", "R"]
        plate = media.read_full(FRAMES[0]).astype(np.float32) / 65535
        a = p.final_alpha("obj1", FRAMES[0])
        k = a if mode == "premultiplied" else 1.0
        assert np.allclose(ch["R"], plate[..., 0] * k, atol=1e-6)
        assert np.allclose(ch["G"], plate[..., 1] * k, atol=1e-6)
        assert np.array_equal(ch["A"], a)


def test_png_exports_naming_range_start_frame(tmp_path):
    p = make_project(tmp_path)
    opts = ExportOptions(format="png16", objects=["2", "hero"], pattern="{object}_{frame:06d}",
                         start_frame=1, frame_range=(1003, 1005))
    seen = []
    out = export_project(p, tmp_path / "out", opts, progress=lambda d, t: seen.append((d, t)))
    assert [x.name for x in out] == ["2_000001.png", "hero_000001.png", "2_000002.png", "hero_000002.png",
                                     "2_000003.png", "hero_000003.png"]
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    got = cv2.imread(str(tmp_path / "out" / "hero_000002.png"), cv2.IMREAD_UNCHANGED)
    want = p.final_alpha(p.object_by_name("hero").id, 1004)  # frame 1004 -> 2
    assert got.dtype == np.uint16 and np.array_equal(got, ex.alpha_to_uint16(want))

    out8 = export_project(p, tmp_path / "c8", ExportOptions(format="png8", combine=True, pattern="m.%05d.png"))
    assert out8[0].name == "m.01001.png"
    got8 = cv2.imread(str(out8[0]), cv2.IMREAD_UNCHANGED)
    union = np.maximum.reduce([p.final_alpha(o.id, 1001) for o in p.objects])
    assert got8.dtype == np.uint8 and np.array_equal(got8, ex.alpha_to_uint8(union))


def test_png_rgba_keeps_16bit_and_colour_order(tmp_path):
    p = make_project(tmp_path, names=("hero",))
    media = FakeMedia()
    out = export_project(p, tmp_path / "s", ExportOptions(format="png16", rgba="straight", frame_range=(1001, 1001), edge_colour=False))
    bgra = cv2.imread(str(out[0]), cv2.IMREAD_UNCHANGED)
    plate = media.read_full(1001)
    assert bgra.shape == (H, W, 4) and bgra.dtype == np.uint16
    assert np.array_equal(bgra[..., 2], plate[..., 0])  # red stays red, 16-bit values intact
    assert np.array_equal(bgra[..., 0], plate[..., 2])
    a = p.final_alpha("obj1", 1001)
    assert np.array_equal(bgra[..., 3], ex.alpha_to_uint16(a))
    out = export_project(p, tmp_path / "p", ExportOptions(format="png8", rgba="auto", frame_range=(1001, 1001), edge_colour=False))
    bgra8 = cv2.imread(str(out[0]), cv2.IMREAD_UNCHANGED)  # a PNG cut-out is straight
    assert bgra8.dtype == np.uint8 and np.array_equal(bgra8[..., 2], media.read(1001)[..., 0])
    assert np.array_equal(bgra8[..., 3], ex.alpha_to_uint8(a))


def test_prores_4444_alpha_round_trip(tmp_path):
    import av

    p = make_project(tmp_path, names=("hero", "tree"))
    out = export_project(p, tmp_path / "mov", ExportOptions(format="prores"))
    assert [x.name for x in out] == ["hero.mov", "tree.mov"]
    with av.open(str(out[0])) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "prores"
        assert s.average_rate == Fraction(24000, 1001)
        assert (s.width, s.height) == (W, H)
        frames = list(c.decode(video=0))
    assert len(frames) == len(FRAMES)
    assert frames[0].format.name.startswith("yuva444p1")
    hero = p.object_by_name("hero").id
    plate = FakeMedia().read_full(FRAMES[3])
    rgba = frames[3].to_ndarray(format="rgba64le").astype(np.float32) / 65535
    want = p.final_alpha(hero, FRAMES[3])
    assert np.abs(rgba[..., 3] - want).max() <= 0.5 / 1023 + 1.5 / 4095  # 10 bits in, 12 bits out
    assert np.abs(rgba[..., 2] - plate[..., 2] / 65535).mean() < 0.02  # colour = the plate


def test_cancel_midway_leaves_only_whole_files(tmp_path):
    p = make_project(tmp_path)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled) as err:
        export_project(p, tmp_path / "out", ExportOptions(format="exr", workers=2), cancel=cancel)
    files = sorted((tmp_path / "out").iterdir())
    assert 0 < len(files) < len(FRAMES) * 3
    assert sorted(err.value.written) == files
    for f in files:  # every file under a final name is complete and readable
        _, ch = read_exr(f)
        assert list(ch) == ["A"]
    assert no_temps(tmp_path / "out")

    frames_done = []
    with pytest.raises(Cancelled):  # cancelled after 3 of 6 movie frames: no movie at all
        export_project(p, tmp_path / "mov", ExportOptions(format="prores", objects=["hero"]),
                       progress=lambda d, t: frames_done.append(d), cancel=lambda: len(frames_done) > 3)
    assert frames_done[-1] == 3
    assert list((tmp_path / "mov").iterdir()) == []


def test_failed_write_leaves_no_partial_files(tmp_path, monkeypatch):
    p = make_project(tmp_path)
    real = ex.encode_png
    count = []

    def flaky(image):
        count.append(1)
        if len(count) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(image)

    monkeypatch.setattr(writers, "encode_png", flaky)
    with pytest.raises(ExportError, match="disk is full"):
        export_project(p, tmp_path / "out", ExportOptions(format="png16", workers=1))
    assert no_temps(tmp_path / "out")
    for f in (tmp_path / "out").iterdir():
        assert cv2.imread(str(f), cv2.IMREAD_UNCHANGED).shape == (H, W)


def test_unwritable_folder_gives_export_error(tmp_path, monkeypatch):
    p = make_project(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="not a folder|choose"):
        export_project(p, tmp_path / "file", ExportOptions(format="exr"))
    with pytest.raises(ExportError, match="choose"):
        export_project(p, tmp_path / "file" / "sub", ExportOptions(format="exr"))
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(ExportError, match="permission denied"):
                export_project(p, ro, ExportOptions(format="png8"))
        finally:
            ro.chmod(0o700)
    else:  # root may write anywhere: make the write check fail as a read-only folder would

        def denied(*a, **k):
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro"))

        monkeypatch.setattr(writers.tempfile, "NamedTemporaryFile", denied)
        with pytest.raises(ExportError, match=r"\(permission denied\); choose a folder you can write to"):
            export_project(p, tmp_path / "ro", ExportOptions(format="png8"))


def test_bad_requests_are_clear(tmp_path):
    p = make_project(tmp_path)
    with pytest.raises(ExportError, match="no object named 'ghost'"):
        export_project(p, tmp_path / "o", ExportOptions(format="exr", objects=["ghost"]))
    with pytest.raises(ExportError, match="holds no frames"):
        export_project(p, tmp_path / "o", ExportOptions(format="exr", frame_range=(1, 5)))
    with pytest.raises(ExportError, match="overwrite"):
        export_project(p, tmp_path / "o", ExportOptions(format="exr", pattern="matte.####"))
    with pytest.raises(ExportError, match="unknown export format"):
        export_project(p, tmp_path / "o", ExportOptions(format="tiff"))


def test_alpha_export_without_media_uses_masks(tmp_path):
    p = make_project(tmp_path, names=("hero",), media=False)  # plate.####.png does not exist
    out = export_project(p, tmp_path / "o", ExportOptions(format="png8"))
    assert [x.name for x in out] == [f"hero.{f}.png" for f in FRAMES]
    with pytest.raises(ExportError, match="cut-outs need the plate"):
        export_project(p, tmp_path / "o2", ExportOptions(format="png8", rgba="straight"))


# ---------------------------------------------------------------- CLI

def test_cli_export_end_to_end(tmp_path, capsys):
    from roto_studio.cli import main

    make_project(tmp_path, names=("hero", "42"), media=False)
    code = main(["export", str(tmp_path / "shot.roto"), "--out", str(tmp_path / "cli"), "--format", "exr",
                 "--combine", "--start-frame", "1", "--range", "1002-1004", "--pattern", "comp.%03d"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert sorted(x.name for x in (tmp_path / "cli").iterdir()) == ["comp.001.exr", "comp.002.exr", "comp.003.exr"]
    assert "export: 3/3" in cap.err and "wrote 3 files" in cap.out
    _, ch = read_exr(tmp_path / "cli" / "comp.002.exr")
    q = load_project(tmp_path / "shot.roto")
    assert sorted(ch) == ["hero.A", "obj_42.A"]
    assert np.abs(ch["obj_42.A"].astype(np.float32) - q.final_alpha(q.object_by_name("42").id, 1003)).max() <= 2 ** -11

    code = main(["export", str(tmp_path / "shot.roto"), "--out", str(tmp_path / "cli2"), "--format", "png16",
                 "--object", "42", "--quiet"])
    assert code == 0 and len(list((tmp_path / "cli2").iterdir())) == len(FRAMES)

    code = main(["export", str(tmp_path / "shot.roto"), "--out", str(tmp_path / "x"), "--format", "png8",
                 "--object", "nobody"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no object named 'nobody'" in err


def test_out_of_range_and_nan_alpha_are_clamped(tmp_path):
    """NaN -> 0 (transparent), below 0 -> 0, above 1 -> 1 in every format and depth (OpenCV 5
    saturates NaN to the maximum: the clamping must not depend on it)."""
    p = make_project(tmp_path, names=("hero",))
    bad = np.full((H, W), 0.5, np.float32)
    bad[0, :3] = (np.nan, -0.5, 1.5)

    class Store:  # an alpha source holding what no mask file can: NaN and values outside 0..1
        def get(self, obj_id, frame):
            return bad

        def has(self, obj_id, frame):
            return True

        def frames(self, obj_id):
            return list(FRAMES)

        def path(self, obj_id, frame):
            return tmp_path / "none"

    def export_project(project, out, options):
        return export_alphas(project.alphas(Store()), project.open_media(), out, options)

    one = dict(frame_range=(1001, 1001))
    for precision in ("half", "float"):
        out = export_project(p, tmp_path / f"e{precision}", ExportOptions(format="exr", exr_precision=precision, **one))
        _, ch = read_exr(out[0])
        assert ch["A"][0, :4].tolist() == [0.0, 0.0, 1.0, 0.5]
    out = export_project(p, tmp_path / "p", ExportOptions(format="png16", **one))
    assert cv2.imread(str(out[0]), cv2.IMREAD_UNCHANGED)[0, :4].tolist() == [0, 0, 65535, 32768]
    out = export_project(p, tmp_path / "p8", ExportOptions(format="png8", **one))
    assert cv2.imread(str(out[0]), cv2.IMREAD_UNCHANGED)[0, :4].tolist() == [0, 0, 255, 128]
    out = export_project(p, tmp_path / "c16", ExportOptions(format="png16", rgba="straight", **one))
    assert cv2.imread(str(out[0]), cv2.IMREAD_UNCHANGED)[0, :4, 3].tolist() == [0, 0, 65535, 32768]
    assert ex.alpha_to_uint16(np.array([[np.nan]], np.float32)).tolist() == [[0]]  # a 1x1 image stays 1x1
    assert ex.alpha_to_uint8(np.array([[np.nan]], np.float64)).tolist() == [[0]]


def write_plate(folder: Path, kind: str) -> Path:
    """A real plate sequence on disk: 16-bit PNG or float EXR (with HDR values), frames 1001..1006."""
    folder.mkdir()
    for f in FRAMES:
        img = FakeMedia().read_full(f)
        if kind == "png16":
            cv2.imwrite(str(folder / f"plate.{f}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        else:
            lin = img.astype(np.float32) / 65535 * 3.0  # up to 3.0: scene-linear highlights
            write_exr(folder / f"plate.{f}.exr", {"R": lin[..., 0], "G": lin[..., 1], "B": lin[..., 2]},
                      precision="float")
    return folder / ("plate.####." + ("png" if kind == "png16" else "exr"))


def test_cli_rgba_from_real_16bit_plate(tmp_path, capsys):
    from roto_studio.cli import main

    plate = write_plate(tmp_path / "plate", "png16")
    p = create_project(tmp_path / "shot.roto", plate)
    hero = p.add_object("hero")
    for f in FRAMES:
        p.masks.set(hero.id, f, soft_alpha(f))
    p.save()
    shot = str(tmp_path / "shot.roto")
    code = main(["export", shot, "--out", str(tmp_path / "o"), "--format", "png16", "--plate-edges",
                 "--rgba", "--range", "1002-1003", "--pattern", "{object}.%05d.png"])
    assert code == 0, capsys.readouterr().err
    bgra = cv2.imread(str(tmp_path / "o" / "hero.01003.png"), cv2.IMREAD_UNCHANGED)
    a = p.final_alpha(hero.id, 1003)
    assert bgra.dtype == np.uint16 and np.array_equal(bgra[..., 2], FakeMedia().read_full(1003)[..., 0])  # straight, 16-bit kept
    assert np.array_equal(bgra[..., 3], ex.alpha_to_uint16(a))
    assert sorted(x.name for x in (tmp_path / "o").iterdir()) == ["hero.01002.png", "hero.01003.png"]
    capsys.readouterr()
    for fmt, why in (("png16", "PNG stores straight alpha by its specification"), ("png8", "PNG stores"),
                     ("prores", "ProRes movies carry no premultiplied flag")):
        code = main(["export", shot, "--out", str(tmp_path / fmt), "--format", fmt, "--rgba", "premultiplied"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and why in err and "--rgba straight" in err, err
        assert not (tmp_path / fmt).exists() or not list((tmp_path / fmt).iterdir())


def test_float_plate_cutouts_exr_linear_png_display(tmp_path):
    plate = write_plate(tmp_path / "plate", "exr")
    p = create_project(tmp_path / "shot.roto", plate)
    hero = p.add_object("hero")
    p.masks.set(hero.id, 1001, soft_alpha(1))
    out = export_project(p, tmp_path / "e", ExportOptions(format="exr", rgba="straight", exr_precision="float", edge_colour=False,
                                                          frame_range=(1001, 1001)))
    _, ch = read_exr(out[0])
    lin = FakeMedia().read_full(1001).astype(np.float32) / 65535 * 3.0
    assert np.allclose(ch["B"], lin[..., 2], rtol=1e-6) and ch["B"].max() > 2.5  # HDR kept in EXR
    out = export_project(p, tmp_path / "p", ExportOptions(format="png16", rgba="straight", frame_range=(1001, 1001), edge_colour=False))
    bgra = cv2.imread(str(out[0]), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(bgra[..., 2], np.rint(ex.linear_to_srgb(lin[..., 0]) * 65535).astype(np.uint16))


# ---------------------------------------------------------------- own ZIP encoder and errors

def header_attributes(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """An EXR file's header attributes in file order: (name, type, value bytes)."""
    at, out = 8, []
    while data[at] != 0:
        name_end = data.index(b"\0", at)
        type_end = data.index(b"\0", name_end + 1)
        size = int.from_bytes(data[type_end + 1:type_end + 5], "little")
        out.append((data[at:name_end], data[name_end + 1:type_end], data[type_end + 5:type_end + 5 + size]))
        at = type_end + 5 + size
    return out


@pytest.mark.parametrize("precision", ["half", "float"])
@pytest.mark.parametrize("comp", ["zip", "zips"])
@pytest.mark.parametrize("h, w", [(1, 1), (17, 5), (48, 64), (33, 2)])
def test_own_zip_encoder_matches_openexr(tmp_path, monkeypatch, precision, comp, h, w):
    """Same header bytes as OpenEXR writes, same pixels read back, through OpenEXR's reader."""
    from roto_studio.core import exr

    rng = np.random.default_rng(h * w)
    long_layer = "a_very_long_object_name_for_the_long_names_flag.A"  # > 31 bytes
    chans = {"hero.A": soft_alpha(3, w, h), "A": rng.random((h, w), dtype=np.float32),
             "R": np.zeros((h, w), np.float32), "B": np.ones((h, w), np.float32),
             long_layer: np.full((h, w), 0.5, np.float32)}
    attrs = {"framesPerSecond": Fraction(24000, 1001), "timeCode": exr.TimeCode(1, 2, 41, 17, user_data=7),
             "alphaMode": "straight", "whiteLuminance": 100.0, "count": -3}
    monkeypatch.setattr(exr, "OWN_ZIP_ENCODER", False)
    write_exr(tmp_path / "ref.exr", chans, precision, comp, attributes=attrs)
    monkeypatch.setattr(exr, "OWN_ZIP_ENCODER", True)
    write_exr(tmp_path / "own.exr", chans, precision, comp, attributes=attrs)
    ref, own = (tmp_path / "ref.exr").read_bytes(), (tmp_path / "own.exr").read_bytes()
    assert own[:8] == ref[:8]
    ref_attrs = [a for a in header_attributes(ref) if a != (b"name", b"string", b"Part0")]  # OpenEXR 3.3 adds it
    assert header_attributes(own) == ref_attrs  # every attribute, byte for byte and in order
    assert int.from_bytes(own[4:8], "little") == 2 | 0x400  # version 2, long names flag
    h_ref, c_ref = read_exr(tmp_path / "ref.exr")
    h_own, c_own = read_exr(tmp_path / "own.exr")
    assert h_own["compression"] == h_ref["compression"]
    assert h_own["framesPerSecond"] == Fraction(24000, 1001) and h_own["count"] == -3
    tc = h_own["timeCode"]
    assert (tc.hours, tc.minutes, tc.seconds, tc.frame, tc.userData) == (1, 2, 41, 17, 7)
    assert sorted(c_own) == sorted(c_ref) == sorted(chans)
    want = np.float16 if precision == "half" else np.float32
    for name, data in chans.items():
        assert c_own[name].dtype == want and np.array_equal(c_own[name], data.astype(want)), name


@pytest.mark.parametrize("lines", [16, 1])
def test_own_zip_encoder_batches_do_not_change_the_file(tmp_path, monkeypatch, lines):
    from roto_studio.core import exr

    chans = {"A": soft_alpha(5, 40, 83).astype(np.float16), "B": soft_alpha(6, 40, 83).astype(np.float16)}
    whole = exr.encode_zip_exr(chans, lines)  # one batch
    for batch in (1, 40 * 4 * lines * 2 + 7):  # a chunk per batch; two chunks and a bit
        monkeypatch.setattr(exr, "_BATCH_BYTES", batch)
        assert exr.encode_zip_exr(chans, lines) == whole
    (tmp_path / "b.exr").write_bytes(whole)
    _, ch = read_exr(tmp_path / "b.exr")
    assert all(np.array_equal(ch[k], chans[k]) for k in chans)


def test_own_zip_encoder_keeps_incompressible_chunks_raw(tmp_path):
    from roto_studio.core import exr

    noise = np.random.default_rng(1).random((20, 40), dtype=np.float32)
    data = exr.encode_zip_exr({"A": noise}, 16)
    assert len(data) > noise.nbytes  # nothing to gain: both chunks stored raw
    (tmp_path / "n.exr").write_bytes(data)
    _, ch = read_exr(tmp_path / "n.exr")
    assert np.array_equal(ch["A"], noise)


def test_write_failure_names_the_final_file(tmp_path):
    p = make_project(tmp_path, names=("hero",))
    out = tmp_path / "out"
    (out / "hero.1003.exr").mkdir(parents=True)  # a folder where the file must go: the rename fails
    with pytest.raises(ExportError) as err:
        export_project(p, out, ExportOptions(format="exr", workers=2))
    msg = str(err.value)
    assert "hero.1003.exr" in msg and ".tmp" not in msg
    assert no_temps(out)


def test_openexr_failure_names_the_final_file(tmp_path, monkeypatch):
    p = make_project(tmp_path, names=("hero",))

    def broken(path, *a, **k):
        raise RuntimeError(f'Cannot open image file "{path}". Disk quota exceeded')

    monkeypatch.setattr(writers, "write_exr", broken)
    with pytest.raises(ExportError) as err:
        export_project(p, tmp_path / "out", ExportOptions(format="exr", workers=1))
    msg = str(err.value)
    assert "hero.1001.exr" in msg and ".tmp" not in msg and "OpenEXR could not write" in msg
    assert no_temps(tmp_path / "out")
