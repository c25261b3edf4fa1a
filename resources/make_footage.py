"""Make the sample shot `roto-studio` opens when no file is given: something that looks like
footage, so the first click shows what the tool does. Everything is drawn here (nothing is
downloaded): a sky with drifting clouds, far hills and a textured ground that move at different
speeds as the camera pans (parallax), and a walking figure with swinging arms and legs, a red
jacket and soft, hair-like strands round the head, crossing the frame with motion blur.

    python resources/make_footage.py [OUT.mp4]

(resources/make_sample.py makes the plain clip of a disc and a square the tests use.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

FRAMES = 48
WIDTH = 640
HEIGHT = 360
FPS = 24
BLUR_STEPS = 7  # instants of the walker averaged for motion blur
PAN = 0.55  # how far the camera pans over the shot, in frame widths


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("roto-studio")) / "sample" / "footage-v1" / "sample_shot.mp4"


def _noise(rng, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth value noise in 0..1: random cells blown up with cubic interpolation."""
    small = rng.random((max(2, int(h / scale)) + 2, max(2, int(w / scale)) + 2)).astype(np.float32)
    big = cv2.resize(small, (w + int(2 * scale), h + int(2 * scale)), interpolation=cv2.INTER_CUBIC)
    return big[int(scale):int(scale) + h, int(scale):int(scale) + w]


class Scene:
    """The layers, drawn once wider than the frame; each frame crops them at its own offset."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, seed: int = 11):
        rng = np.random.default_rng(seed)
        self.w, self.h = width, height
        self.horizon = int(height * 0.52)
        wide = int(width * (1 + PAN)) + 8
        self.wide = wide
        yy = np.linspace(0, 1, self.horizon, dtype=np.float32)[:, None]
        top, low = np.array([52, 98, 170], np.float32), np.array([178, 200, 222], np.float32)
        sky = top + (low - top) * yy[..., None] ** 0.8
        clouds = _noise(rng, self.horizon, wide, 40) * 0.6 + _noise(rng, self.horizon, wide, 12) * 0.4
        clouds = np.clip((clouds - 0.5) * 2.2, 0, 1) * (1 - yy) ** 0.5
        self.sky = np.clip(sky * (1 - clouds[..., None]) + 245 * clouds[..., None], 0, 255)
        # far hills: a ridge line over a hazy green-blue
        ridge = (self.horizon - height * 0.06 - height * 0.09 * _noise(rng, 1, wide, 60)[0]
                 - height * 0.03 * _noise(rng, 1, wide, 15)[0])
        rows = np.arange(self.horizon, dtype=np.float32)[:, None]
        self.hills_alpha = np.clip(rows - ridge[None, :] + 0.5, 0, 1)
        hill_tex = _noise(rng, self.horizon, wide, 8)[..., None]
        self.hills = np.array([92, 118, 120], np.float32) + 25 * (hill_tex - 0.5)
        # ground: grass and gravel, darker and coarser towards the camera
        gh = height - self.horizon
        depth = np.linspace(0, 1, gh, dtype=np.float32)[:, None, None]
        fine = _noise(rng, gh, wide, 2)[..., None]
        coarse = _noise(rng, gh, wide, 14)[..., None]
        grass = np.array([96, 126, 58], np.float32) * (0.75 + 0.35 * coarse) + 40 * (fine - 0.5)
        path = np.array([150, 134, 108], np.float32) + 30 * (fine - 0.5)
        lane = np.abs(np.linspace(-1, 1, gh)[:, None] * 0.9 + 0.35 * (coarse[..., 0] - 0.5)) < 0.28
        ground = np.where(lane[..., None], path, grass) * (1.05 - 0.25 * depth)
        streaks = np.sin(np.arange(wide, dtype=np.float32)[None, :] / 3.0 + 9 * coarse[..., 0]) > 0.93
        ground[streaks] *= 0.8
        self.ground = np.clip(ground, 0, 255)
        rng2 = np.random.default_rng(seed + 1)
        self.strands = (rng2.uniform(-2.6, -0.5, 90), rng2.uniform(0.55, 1.05, 90), rng2.uniform(-0.25, 0.25, 90))

    def background(self, t: float) -> np.ndarray:
        """The three layers at time t (0..1): the ground moves with the camera, hills at 0.35,
        clouds at 0.12 of its speed."""
        h, w = self.h, self.w
        cam = t * PAN * w
        out = np.empty((h, w, 3), np.float32)
        sky = _crop(self.sky, cam * 0.12, w)
        hills = _crop(self.hills, cam * 0.35, w)
        ha = _crop(self.hills_alpha[..., None], cam * 0.35, w)
        out[: self.horizon] = sky * (1 - ha) + hills * ha
        out[self.horizon:] = _crop(self.ground, cam, w)
        return out

    def figure(self, t: float, size: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """The walker at time t as (RGB float, alpha 0..1, top-left in the frame)."""
        h, w = self.h, self.w
        s = size / 220.0
        cx_frame = w * (0.16 + 0.7 * t)  # walks across the frame, against the panning ground
        feet_y = h * 0.9
        phase = t * 2 * np.pi * 4.5
        box_w, box_h = int(150 * s) + 8, size + 10
        x0, y0 = int(cx_frame - box_w / 2), int(feet_y - size)
        rgb = np.zeros((box_h, box_w, 3), np.float32)
        alpha = np.zeros((box_h, box_w), np.float32)
        cx = box_w / 2
        hip = (cx, size * 0.52)
        shoulder = (cx, size * 0.24)
        swing = np.sin(phase)

        def limb(origin, angle, length, width, color, bend=0.0):
            ox, oy = origin
            kx, ky = ox + np.sin(angle) * length / 2, oy + np.cos(angle) * length / 2
            ex, ey = kx + np.sin(angle + bend) * length / 2, ky + np.cos(angle + bend) * length / 2
            for a, b in (((ox, oy), (kx, ky)), ((kx, ky), (ex, ey))):
                pa, pb = tuple(int(round(v * 4)) for v in a), tuple(int(round(v * 4)) for v in b)
                cv2.line(rgb, pa, pb, color, int(width), cv2.LINE_AA, shift=2)
                cv2.line(alpha, pa, pb, 1.0, int(width), cv2.LINE_AA, shift=2)

        leg, arm = size * 0.47, size * 0.36
        limb(hip, 0.45 * swing, leg, 22 * s, (48, 52, 70), bend=-0.35 * max(0, swing))  # far leg
        limb(shoulder, -0.55 * swing, arm, 14 * s, (150, 36, 30), bend=0.4)  # far arm
        torso = np.array([[cx - 20 * s, shoulder[1]], [cx + 20 * s, shoulder[1]],
                          [cx + 16 * s, hip[1] + 6 * s], [cx - 16 * s, hip[1] + 6 * s]], np.int32)
        cv2.fillConvexPoly(rgb, torso, (196, 50, 38), cv2.LINE_AA)
        cv2.fillConvexPoly(alpha, torso, 1.0, cv2.LINE_AA)
        limb(hip, -0.45 * swing, leg, 22 * s, (58, 62, 84), bend=-0.35 * max(0, -swing))  # near leg
        limb(shoulder, 0.55 * swing, arm, 14 * s, (176, 44, 34), bend=0.4)  # near arm
        head_c, head_r = (cx, size * 0.13), 15 * s
        cv2.circle(rgb, (int(head_c[0]), int(head_c[1])), int(head_r), (214, 170, 138), -1, cv2.LINE_AA)
        cv2.circle(alpha, (int(head_c[0]), int(head_c[1])), int(head_r), 1.0, -1, cv2.LINE_AA)
        # hair: a cap and fine strands blown back, thin enough to be partly transparent
        hair = np.zeros_like(alpha)
        cv2.ellipse(hair, (int(head_c[0]), int(head_c[1] - head_r * 0.25)), (int(head_r * 1.05), int(head_r * 0.8)),
                    0, 180, 360, 1.0, -1, cv2.LINE_AA)
        ang, length, curl = self.strands
        a = ang + 0.12 * np.sin(phase * 0.5 + curl * 10)
        r0 = head_r * 0.8
        u = np.linspace(0, 1, 6, dtype=np.float32)[None, :]
        ra = a[:, None] - 0.9 * u + curl[:, None] * u  # blown back, away from the walking direction
        px = head_c[0] + np.cos(a)[:, None] * r0 + np.cos(ra) * length[:, None] * head_r * u * 1.3
        py = head_c[1] + np.sin(a)[:, None] * r0 + np.sin(ra) * length[:, None] * head_r * u
        lines = np.int32(np.round(np.stack([px, py], axis=-1) * 4))
        cv2.polylines(hair, list(lines), False, 0.55, 1, cv2.LINE_AA, shift=2)
        hair = cv2.GaussianBlur(hair, (0, 0), 0.6)
        hc = np.array([70, 44, 26], np.float32)
        rgb = rgb * (1 - hair[..., None]) + hc * hair[..., None]
        alpha = np.maximum(alpha, hair)
        return rgb, np.clip(alpha, 0, 1), (x0, y0)


def _crop(layer: np.ndarray, offset: float, width: int) -> np.ndarray:
    """Columns offset..offset+width of a layer, with sub-pixel offsets interpolated."""
    i = int(offset)
    f = offset - i
    a = layer[:, i:i + width]
    b = layer[:, i + 1:i + 1 + width]
    return a * (1 - f) + b * f


def frame_image(i: int, frames: int = FRAMES, scene: Scene | None = None) -> np.ndarray:
    """Frame i: HxWx3 uint8 RGB. Motion blur (a 180-degree shutter): each background layer moves
    sideways only, so it is blurred along x by how far it moves while the shutter is open; the
    walker is drawn at BLUR_STEPS instants and averaged (premultiplied) over the background."""
    scene = scene or Scene()
    h, w = scene.h, scene.w
    size = int(h * 0.62)
    t0 = i / max(frames - 1, 1)
    shutter = 0.5 / max(frames - 1, 1)
    img = scene.background(t0)
    smear = max(1, int(round(shutter * PAN * w)))  # the ground's travel while the shutter is open
    if smear > 1:
        img[scene.horizon:] = cv2.blur(img[scene.horizon:], (smear, 1))
    parts = [scene.figure(t0 + shutter * (k / (BLUR_STEPS - 1) - 0.5), size) for k in range(BLUR_STEPS)]
    x_lo = min(x for _, _, (x, _) in parts)
    y_lo = min(y for _, _, (_, y) in parts)
    x_hi = max(x + a.shape[1] for _, a, (x, _) in parts)
    y_hi = max(y + a.shape[0] for _, a, (_, y) in parts)
    colour = np.zeros((y_hi - y_lo, x_hi - x_lo, 3), np.float32)
    cover = np.zeros((y_hi - y_lo, x_hi - x_lo), np.float32)
    for rgb, a, (x0, y0) in parts:
        ys, xs = slice(y0 - y_lo, y0 - y_lo + a.shape[0]), slice(x0 - x_lo, x0 - x_lo + a.shape[1])
        colour[ys, xs] += rgb * a[..., None]
        cover[ys, xs] += a
    colour /= BLUR_STEPS
    cover /= BLUR_STEPS
    xa, ya, xb, yb = max(x_lo, 0), max(y_lo, 0), min(x_hi, w), min(y_hi, h)
    if xb > xa and yb > ya:
        c = cover[ya - y_lo:yb - y_lo, xa - x_lo:xb - x_lo, None]
        img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - c) + colour[ya - y_lo:yb - y_lo, xa - x_lo:xb - x_lo]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def make_footage(path: Path | str | None = None, frames: int = FRAMES, width: int = WIDTH,
                 height: int = HEIGHT, fps: int = FPS, force: bool = False) -> Path:
    """Write the sample shot (H.264 mp4) and return it; an existing one is reused unless `force`."""
    path = Path(path) if path is not None else default_path()
    if path.exists() and path.stat().st_size > 0 and not force:
        return path
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    scene = Scene(width, height)
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "17", "preset": "veryfast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, frames, scene), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)
    return path


if __name__ == "__main__":
    print(make_footage(sys.argv[1] if len(sys.argv) > 1 else None, force=True))
