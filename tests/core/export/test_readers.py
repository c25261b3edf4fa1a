"""Exports checked by readers we did not write: ffmpeg/ffprobe decode the ProRes movies, exrheader
(OpenEXR's tool) and OpenImageIO's oiiotool read the EXR headers and pixels. Each test skips with
one line when its tool is absent (Debian: ffmpeg, openexr, openimageio-tools; .ci/run installs them)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from roto_studio.core.export import ExportOptions, export_project
from roto_studio.core.project import create_project


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None and name == "ffmpeg":
        try:
            import imageio_ffmpeg

            path = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            path = None
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package: "
                    f"{ {'ffmpeg': 'ffmpeg', 'ffprobe': 'ffmpeg', 'exrheader': 'openexr'}.get(name, 'openimageio-tools') })")
    return path


def run(*args) -> str:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


class Plate:
    """A plate in memory: 16-bit RGB, values varying across the frame and in time."""

    def __init__(self, w, h, frames, fps):
        self.width, self.height, self.frame_numbers, self.fps = w, h, list(frames), fps

    def read_full(self, frame):
        yy, xx = np.mgrid[0:self.height, 0:self.width]
        img = np.empty((self.height, self.width, 3), np.uint16)
        img[..., 0] = (xx * 65535 // max(1, self.width - 1)).astype(np.uint16)
        img[..., 1] = (yy * 65535 // max(1, self.height - 1)).astype(np.uint16)
        img[..., 2] = 1000 + 997 * (frame % 50)
        return img

    def read(self, frame):
        return np.rint(self.read_full(frame) / 257.0).astype(np.uint8)

    def close(self):
        pass


def gradient_matte(i: int, w: int, h: int) -> np.ndarray:
    """Soft edges everywhere: a moving disc with a wide soft rim, a ramp across the right third,
    fully transparent and opaque areas (the left edge is transparent, as where the corruption hit).
    On 10-bit steps, the precision ProRes' encoder (prores_ks, 10-bit input) takes the alpha in."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(xx - (w * 0.35 + 4 * i), yy - h / 2)
    a = np.clip((h * 0.3 - d) / (h * 0.1) + 0.5, 0, 1)
    ramp = xx > w * 2 / 3
    a[ramp] = ((xx[ramp] - w * 2 / 3) / (w / 3) + 0.01 * i) % 1.0
    return (np.rint(a * 1023) / 1023).astype(np.float32)


def project_with(tmp_path, w, h, frames, fps, matte):
    p = create_project(tmp_path / "shot.roto", tmp_path / "plate.####.png")
    hero = p.add_object("hero")
    for i, f in enumerate(frames):
        p.masks.set(hero.id, f, matte(i, w, h))
    p.save()
    p.open_media = lambda **kw: Plate(w, h, frames, fps)
    return p, hero


def decode_yuva12(ffmpeg: str, path, w: int, h: int) -> np.ndarray:
    """Every frame of a ProRes 4444 movie as ffmpeg decodes it (yuva444p12le, its native output):
    N x 4 x H x W uint16."""
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuva444p12le", "-"],
                         capture_output=True, timeout=120, check=True).stdout
    return np.frombuffer(raw, np.uint16).reshape(-1, 4, h, w)


def test_prores_alpha_matches_matte_every_pixel_and_exports_are_identical(tmp_path):
    """854x480, 24 frames: every decoded alpha value is the matte within one 12-bit code, in every
    frame; two exports of the project are byte-identical; the start timecode is the plate's first
    frame (1001 at 23.976, counted at 24: 00:00:41:17)."""
    ffmpeg = tool("ffmpeg")
    w, h, frames = 854, 480, list(range(1001, 1025))
    p, hero = project_with(tmp_path, w, h, frames, Fraction(24000, 1001), gradient_matte)
    opts = ExportOptions(format="prores", edge_colour=False)
    first = export_project(p, tmp_path / "a", opts)
    assert [x.name for x in first] == ["hero.mov"]
    planes = decode_yuva12(ffmpeg, first[0], w, h)
    assert len(planes) == len(frames)
    for i, f in enumerate(frames):
        want = p.final_alpha(hero.id, f).astype(np.float64) * 4095
        err = np.abs(planes[i, 3] - want)
        assert err.max() <= 1.0, (f, err.max(), np.argwhere(err > 1.0)[:8].tolist())
    second = export_project(p, tmp_path / "b", opts)
    assert first[0].read_bytes() == second[0].read_bytes()

    ffprobe = tool("ffprobe")
    info = json.loads(run(ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", first[0]))
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "prores" and video["pix_fmt"] == "yuva444p12le"
    assert video["r_frame_rate"] == "24000/1001"
    assert video["tags"]["timecode"] == "00:00:41:17"
    assert "creation_time" not in json.dumps(info)  # nothing time-dependent
    assert "encoder" not in info["format"].get("tags", {})  # nor the library's version


def test_prores_timecode_follows_the_rate(tmp_path):
    """The start timecode counts the plate's first frame at the shot's rate (--fps overrides it)."""
    tool("ffmpeg")
    ffprobe = tool("ffprobe")
    w, h, frames = 32, 16, [86400 * 25 + 90000 + 26, 86400 * 25 + 90000 + 27]  # a day wraps: 01:00:01:01 at 25
    p, _ = project_with(tmp_path, w, h, frames, Fraction(25), gradient_matte)
    for fps, want in ((None, "01:00:01:01"), (Fraction(50), "12:30:00:26")):
        out = export_project(p, tmp_path / str(fps), ExportOptions(format="prores", fps=fps, edge_colour=False))
        tags = run(ffprobe, "-v", "error", "-show_entries", "stream_tags=timecode", "-of", "csv=p=0", out[0])
        assert tags.split() == [want, want], tags  # the video stream and the tmcd track


def exr_project(tmp_path):
    w, h, frames = 40, 24, [1001, 1002]
    soft = lambda i, w, h: np.clip(np.mgrid[0:h, 0:w][1] / (w - 1) + 0.1 * i, 0, 1).astype(np.float32)  # noqa: E731
    return project_with(tmp_path, w, h, frames, Fraction(24000, 1001), soft) + (w, h)


def test_exr_header_rate_timecode_and_alpha_mode_by_exrheader_and_oiiotool(tmp_path):
    exrheader = tool("exrheader")
    p, _, _, _ = exr_project(tmp_path)
    cut = export_project(p, tmp_path / "cut", ExportOptions(format="exr", rgba="auto", edge_colour=False))
    straight = export_project(p, tmp_path / "st", ExportOptions(format="exr", rgba="straight", edge_colour=False))
    alpha = export_project(p, tmp_path / "al", ExportOptions(format="exr", exr_compression="piz"))  # OpenEXR's writer
    text = run(exrheader, cut[1])
    assert "framesPerSecond (type rational): 24000/1001" in text
    assert re.search(r"timeCode \(type timecode\):\s+time 00:00:41:18\b", text)  # frame 1002
    assert 'alphaMode (type string): "premultiplied"' in text
    assert 'alphaMode (type string): "straight"' in run(exrheader, straight[0])
    text = run(exrheader, alpha[0])
    assert "framesPerSecond (type rational): 24000/1001" in text and "time 00:00:41:17" in text
    assert "alphaMode" not in text  # alpha only: no colour to be straight or premultiplied

    oiiotool = tool("oiiotool")
    info = run(oiiotool, "--info", "-v", cut[0])
    assert re.search(r"framesPerSecond: 24000/1001", info, re.I)
    assert "smpte:TimeCode: 00:00:41:17" in info and 'alphaMode: "premultiplied"' in info
    assert "smpte:TimeCode: 00:00:41:17" in run(oiiotool, "--info", "-v", alpha[0])


def oiio_pixels(oiiotool: str, path, w: int, h: int) -> np.ndarray:
    """HxWx4 RGBA as oiiotool prints it (--dumpdata)."""
    rows = re.findall(r"Pixel \((\d+), (\d+)\):((?: \S+){4})", run(oiiotool, "--dumpdata", path))
    out = np.zeros((h, w, 4), np.float64)
    for x, y, values in rows:
        out[int(y), int(x)] = [float(v) for v in values.split()]
    assert len(rows) == w * h
    return out


def test_exr_cutout_premultiplied_by_default_as_oiio_reads_it(tmp_path):
    oiiotool = tool("oiiotool")
    p, hero, w, h = exr_project(tmp_path)
    plate = Plate(w, h, [1001], 24).read_full(1001).astype(np.float64) / 65535
    a = p.final_alpha(hero.id, 1001).astype(np.float64)
    opts = dict(format="exr", exr_precision="float", edge_colour=False, frame_range=(1001, 1001))
    pre = oiio_pixels(oiiotool, export_project(p, tmp_path / "pre", ExportOptions(rgba="auto", **opts))[0], w, h)
    assert np.abs(pre[..., 3] - a).max() < 1e-6
    assert np.abs(pre[..., :3] - plate * a[..., None]).max() < 1e-6  # colour = plate x alpha
    st = oiio_pixels(oiiotool, export_project(p, tmp_path / "st", ExportOptions(rgba="straight", **opts))[0], w, h)
    assert np.abs(st[..., :3] - plate).max() < 1e-6 and np.abs(st[..., 3] - a).max() < 1e-6
