"""A corpus of bad inputs, generated (never committed), each run through the real CLI in a child
process. Every case must end with exit status 2 and one plain line on stderr (or, for inputs that
are odd but valid, succeed), never a traceback or a hang, and must leave existing work untouched.

Used by tests/safety/test_hostile_inputs.py and benchmarks/hostile_inputs.py (prints handled / tried)."""

from __future__ import annotations

import hashlib
import os
import resource
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
W, H = 128, 96


@dataclass
class Case:
    name: str
    make: Callable[[Path], list]  # builds the input in a folder, returns CLI argv
    expect: str = "error"  # 'error' (exit 2 + one line) or 'ok' (exit 0)
    guard: str | None = None  # a folder whose contents must not change
    limit_fsize: int | None = None
    needs: str | None = None  # a command module that must exist


@dataclass
class Outcome:
    case: Case
    rc: int | None
    stderr: str
    handled: bool
    why: str = ""
    skipped: str = ""


# ---------------------------------------------------------------- media makers
def frame(i, w=W, h=H):
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(w) * 2 + i * 5) % 256
    img[..., 1] = (np.arange(h)[:, None] * 2) % 256
    cv2.circle(img, (20 + 4 * i % max(1, w - 40), h // 2), min(w, h) // 5, (250, 250, 250), -1)
    return img


def write_video(path: Path, n=12, w=W, h=H, codec="libx264", container_fmt=None):
    import av

    with av.open(str(path), "w", format=container_fmt) as out:
        s = out.add_stream(codec, rate=24)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(frame(i, w, h), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def write_sequence(folder: Path, frames, w=W, h=H, depth=8, name="plate"):
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        img = frame(f, w, h)[..., ::-1]
        if depth == 16:
            img = img.astype(np.uint16) * 257
        cv2.imwrite(str(folder / f"{name}.{f:04d}.png"), img)
    return folder


def png_header(path: Path, w: int, h: int):
    """A PNG whose header claims w x h, with a tiny (wrong) body."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def make_project(base: Path, frames=range(1001, 1009), masks=True, noisy_from=None) -> Path:
    """A plate + project; masks from frame `noisy_from` on are noise (files that don't compress)."""
    from roto_studio.core.project import create_project

    plate = write_sequence(base / "plate", frames)
    p = create_project(base / "shot.roto", plate / "plate.####.png")
    obj = p.add_object("hero")
    if masks:
        for f in frames:
            m = np.zeros((H, W), np.float32)
            m[20:70, 30 + (f - 1001) * 2:80] = 1.0
            if noisy_from is not None and f >= noisy_from:
                m = np.random.default_rng(f).random((H, W), dtype=np.float32)
            p.masks.set(obj.id, f, m)
    p.save()
    return p.folder


def _project_with(content: bytes):
    def make(d: Path):
        folder = make_project(d)
        (folder / "project.json").write_bytes(content)
        return ["export", str(folder), "--out", str(d / "out"), "--format", "png8"]
    return make


# ---------------------------------------------------------------- the corpus
def _info(make_media):
    return lambda d: ["info", str(make_media(d))]


def _truncated(d):
    v = write_video(d / "clip.mp4", n=24)
    data = v.read_bytes()
    v.write_bytes(data[: len(data) // 3])
    return v


def _garbage_middle(d):
    v = write_video(d / "clip.mkv", n=24, container_fmt="matroska")
    data = bytearray(v.read_bytes())
    data[200:] = os.urandom(len(data) - 200)
    v.write_bytes(bytes(data))
    return v


def _audio_only(d):
    import av

    path = d / "sound.mov"
    with av.open(str(path), "w") as out:
        s = out.add_stream("pcm_s16le", rate=48000)
        samples = np.zeros((1, 4800), np.int16)
        fr = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        fr.sample_rate = 48000
        for p in s.encode(fr):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def _unknown_codec(d):
    v = write_video(d / "clip.mkv", n=6, container_fmt="matroska")
    data = v.read_bytes()
    assert b"V_MPEG4/ISO/AVC" in data
    v.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_XYZZ/ISO/ABCD"))
    return v


def _symlink_loop(d):
    (d / "a.mp4").symlink_to(d / "b.mp4")
    (d / "b.mp4").symlink_to(d / "a.mp4")
    return d / "a.mp4"


def _text_as_png(d):
    p = d / "frame.png"
    p.write_text("this is not an image\n" * 20)
    return p


def _mixed_sizes(d):
    folder = write_sequence(d / "seq", range(1, 5))
    cv2.imwrite(str(folder / "plate.0005.png"), frame(5, W * 2, H * 2))
    write_sequence(folder, range(6, 8))
    return folder / "plate.####.png"


def _mixed_depths(d):
    folder = write_sequence(d / "seq", range(1, 4))
    write_sequence(folder, range(4, 7), depth=16)
    return folder / "plate.####.png"


def _segment(make_media, *prompt, frame="1"):
    def make(d):
        media = make_media(d)
        return ["segment", str(media), "--out", str(d / "new.roto"), "--backend", "classical",
                "--frame", str(frame), *prompt]
    return make


def _seq(d):
    return write_sequence(d / "seq", range(1, 7)) / "plate.####.png"


def _gappy(d):
    return write_sequence(d / "seq", [1, 2, 3, 6, 7]) / "plate.####.png"


def _existing(d, *rest, cmd="export"):
    folder = make_project(d)
    if cmd == "export":
        return ["export", str(folder), "--out", str(d / "out"), *rest]
    return ["segment", str(folder / ".." / "plate" / "plate.####.png"), "--out", str(folder),
            "--backend", "classical", *rest]


def _wrong_size_mask_in_store(d):
    folder = make_project(d)
    cv2.imwrite(str(folder / "masks" / "obj1" / "1003.png"), np.zeros((10, 10), np.uint16))
    return ["export", str(folder), "--out", str(d / "out"), "--format", "exr"]


def _readonly_out(d):
    folder = make_project(d)
    ro = d / "readonly"
    ro.mkdir()
    if os.geteuid() == 0:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True)
        if r.returncode != 0:
            raise _Skip("cannot mount a read-only folder here")
    else:
        ro.chmod(0o555)
    return ["export", str(folder), "--out", str(ro / "alpha"), "--format", "exr"]


def _full_disk(d):
    folder = make_project(d, noisy_from=1004)
    if os.geteuid() != 0:
        raise _Skip("needs root to mount a small disk")
    small = d / "small"
    small.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True)
    if r.returncode != 0:
        raise _Skip("cannot mount a small disk here")
    return ["export", str(folder), "--out", str(small / "alpha"), "--format", "png16"]


def _fsize_limited(d):
    folder = make_project(d, noisy_from=1005)
    return ["export", str(folder), "--out", str(d / "out"), "--format", "exr", "--exr-float"]


def _non_ascii_path(d):
    folder = write_sequence(d / "Plätze und Räume 東京" / "shot 01", range(1001, 1004))
    return ["info", str(folder / "plate.####.png"), "--json"]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class _Skip(Exception):
    pass


def corpus() -> list[Case]:
    c = [
        # media
        Case("zero-byte video", _info(lambda d: _write(d / "empty.mp4", b""))),
        Case("truncated video", _info(_truncated)),
        Case("garbage after the header", _info(_garbage_middle)),
        Case("random bytes named .mov", _info(lambda d: _write(d / "x.mov", os.urandom(5000)))),
        Case("audio only, no video stream", _info(_audio_only)),
        Case("unknown codec", _info(_unknown_codec)),
        Case("missing file", _info(lambda d: d / "nope.mp4")),
        Case("pattern matching nothing", _info(lambda d: d / "none.####.exr")),
        Case("empty folder", _info(lambda d: (d / "empty").mkdir() or d / "empty")),
        Case("symlink loop", _info(_symlink_loop)),
        Case("text file named .png", _info(_text_as_png)),
        Case("16k x 16k frame header", _info(lambda d: png_header(d / "huge.png", 16384, 16384))),
        Case("100k x 100k frame header", _info(lambda d: png_header(d / "huger.png", 100000, 100000))),
        Case("1x1 frame", _info(lambda d: cv2.imwrite(str(d / "dot.png"), np.zeros((1, 1, 3), np.uint8)) and d / "dot.png")),
        Case("path with spaces and non-ASCII", _non_ascii_path, expect="ok"),
        Case("sequence with gaps: info reports them", _info(_gappy), expect="ok"),
        Case("sequence with gaps: prompt on a missing frame",
             _segment(_gappy, "--box", "10,10,60,60", frame="4"), needs="segment"),
        Case("sequence with mixed frame sizes", _segment(_mixed_sizes, "--box", "10,10,60,60", "--propagate", "forward"), needs="segment"),
        Case("sequence with mixed bit depths", _segment(_mixed_depths, "--box", "10,10,60,60", "--propagate", "forward"), expect="ok", needs="segment"),
        # projects
        Case("empty project file", _project_with(b"")),
        Case("truncated project file", _project_with(b'{"format": "roto-studio-project", "version": 1, "obje')),
        Case("binary garbage project", _project_with(os.urandom(300))),
        Case("project of the wrong type", _project_with(b'[1, 2, 3]')),
        Case("project from a future version", _project_with(b'{"format": "roto-studio-project", "version": 7}')),
        Case("project with wrong field types", _project_with(b'{"format": "roto-studio-project", "version": 1, "objects": {"a": 1}}')),
        Case("project path is a plain file", lambda d: ["export", str(_text_as_png(d)), "--out", str(d / "o"), "--format", "exr"]),
        # masks and prompts
        Case("stored mask of the wrong size", _wrong_size_mask_in_store),
        Case("mask PNG of the wrong size", lambda d: _segment(_seq, "--mask", str(d / "m.png"))(d)
             if cv2.imwrite(str(d / "m.png"), np.zeros((7, 9), np.uint8)) else [], needs="segment"),
        Case("mask that is not an image", lambda d: _segment(_seq, "--mask", str(_text_as_png(d)))(d), needs="segment"),
        Case("click outside the frame", _segment(_seq, "--point", "5000,20"), needs="segment"),
        Case("box outside the frame", _segment(_seq, "--box=-500,-500,-400,-400"), needs="segment"),
        Case("malformed click", _segment(_seq, "--point", "abc"), needs="segment"),
        Case("frame outside the shot", _segment(_seq, "--box", "10,10,60,60", frame="99"), needs="segment"),
        Case("sam2 with missing weights file", _segment(_seq, "--box", "10,10,60,60", "--weights", "/nonexistent/sam2.pt"), needs="segment"),
        Case("unknown model name", lambda d: ["models", "download", "no-such-model"], needs="models"),
        # export
        Case("unknown export format", lambda d: _existing(d, "--format", "tiff")),
        Case("malformed range", lambda d: _existing(d, "--format", "png8", "--range", "abc")),
        Case("range outside the shot", lambda d: _existing(d, "--format", "png8", "--range", "5000-6000")),
        Case("unknown object", lambda d: _existing(d, "--format", "png8", "--object", "villain")),
        Case("bad naming pattern", lambda d: _existing(d, "--format", "png8", "--pattern", "{object}.{nope}.png")),
        Case("export folder is a file", lambda d: _existing(d, "--format", "png8")[:3] + [str(_text_as_png(d))] + ["--format", "png8"]),
        Case("read-only export folder", _readonly_out),
        Case("disk fills up midway", _full_disk),
        Case("file size limit hit midway (RLIMIT_FSIZE)", _fsize_limited, limit_fsize=30_000),
    ]
    return c


def _digest(folder: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)} {st.st_size} {st.st_mtime_ns}".encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_case(case: Case, base: Path, timeout: float = 120) -> Outcome:
    d = base / case.name.replace(" ", "_").replace("/", "_").replace(":", "")
    d.mkdir(parents=True)
    mounts = []
    try:
        try:
            argv = case.make(d)
        except _Skip as exc:
            return Outcome(case, None, "", True, skipped=str(exc))
        mounts = [m for m in (d / "readonly", d / "small") if m.exists()]
        guard = d / "shot.roto"
        before = _digest(guard) if guard.exists() else None

        def limit():
            if case.limit_fsize:
                resource.setrlimit(resource.RLIMIT_FSIZE, (case.limit_fsize, case.limit_fsize))

        env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
        try:
            r = subprocess.run([sys.executable, "-m", "roto_studio", *argv], capture_output=True,
                               text=True, timeout=timeout, env=env, preexec_fn=limit)
        except subprocess.TimeoutExpired:
            return Outcome(case, None, "", False, "hung (timed out)")
        err = r.stderr.strip()
        # progress lines may come first; the error is one line of its own, last
        lines = [line for line in err.splitlines() if line.startswith("roto-studio")]
        why = ""
        if "Traceback" in r.stderr:
            why = "printed a traceback"
        elif case.expect == "ok":
            if r.returncode != 0:
                why = f"exit {r.returncode}: {err[-300:]}"
        else:
            if r.returncode != 2:
                why = f"exit {r.returncode} (want 2): {err[-300:]}"
            elif len(lines) != 1 or not err.splitlines()[-1].startswith("roto-studio"):
                why = f"want one error line, last: {err[-300:]}"
            elif len(lines[0]) < 20:
                why = f"message too short to say what to do: {lines[0]!r}"
        if before is not None and _digest(guard) != before:
            why = why or "changed the existing project"
        return Outcome(case, r.returncode, err, not why, why)
    finally:
        for m in mounts:
            subprocess.run(["umount", str(m)], capture_output=True)


def run_all(base: Path, cases=None, workers: int = 2) -> list[Outcome]:
    cases = cases if cases is not None else corpus()
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda c: run_case(c, base), cases))


def summary(outcomes) -> str:
    tried = [o for o in outcomes if not o.skipped]
    lines = [f"hostile inputs handled / tried: {sum(o.handled for o in tried)} / {len(tried)}"
             + (f" ({len(outcomes) - len(tried)} skipped)" if len(tried) != len(outcomes) else "")]
    for o in outcomes:
        mark = "skip" if o.skipped else ("ok  " if o.handled else "FAIL")
        detail = o.skipped or o.why or (o.stderr.splitlines()[-1] if o.stderr else "exit 0")
        lines.append(f"  {mark} {o.case.name}: {detail[:160]}")
    return "\n".join(lines)
