"""Shapes from masks (issue 27) on the shared DAVIS 2016 sequences, each figure beside a same-run
baseline: per-frame contour simplification (OpenCV Douglas-Peucker on each frame's outline, its
epsilon raised while it still matches our fidelity), which redraws the shape on every frame.

    python benchmarks/eval_shapes.py [--seq NAME ...] [--frames N] [--tolerance PX]

The ground-truth masks are the source (alpha 0/1), the plate feeds the optical flow.
- fidelity: mean IoU and boundary F (DAVIS convention, core.metrics) of the shapes rasterised by
  resvg (PyPI resvg-py) from our SVG, against the source mask; the baseline's polygons are
  rasterised by the same renderer from the same kind of SVG;
- economy: points per shape (mean over frames) and key frames per 100 frames (frames where any
  shape has a key; the baseline keys every frame);
- stability: the mean frame-to-frame movement of each point after removing the object's own
  motion at that point (dense DIS flow, medium preset, full size, computed here apart from the
  shapes' own, sampled 3 px inside the mask): ours follows each point (correspondence is kept within a shape); the baseline's
  points have no correspondence, so each is matched to the nearest point of the next frame;
- time per 854x480 frame per object: make_shapes over the sequence / frames, wall and CPU time of
  this process (CPU time is the steadier figure on a shared machine), beside the baseline's
  per-frame simplification (which does much less).
Skips with a line when ../shared/data (or $ROTO_SHARED_DATA) is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.core.metrics import boundary_f, iou  # noqa: E402
from roto_studio.ops.shapes.formats.json_svg import frame_svg  # noqa: E402
from roto_studio.ops.shapes.run import ObjectSource, make_shapes  # noqa: E402

DEFAULT_SEQS = ("blackswan", "car-shadow", "dog")


def shared_data() -> Path:
    env = os.environ.get("ROTO_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def rasterise(svg: str) -> np.ndarray:
    import resvg_py

    png = bytes(resvg_py.svg_to_bytes(svg_string=svg))
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    return img[..., 3] >= 128


def polygon_svg(polys: list[np.ndarray], w: int, h: int) -> str:
    d = " ".join("M" + " L".join(f"{x:.3f},{y:.3f}" for x, y in p) + " Z" for p in polys)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
            f'<path fill="#fff" fill-rule="evenodd" d="{d}"/></svg>')


def dp_polygons(mask: np.ndarray, eps: float) -> list[np.ndarray]:
    found, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    out = []
    for c in found:
        if cv2.contourArea(c) < 12:
            continue
        p = cv2.approxPolyDP(c, eps, True).reshape(-1, 2).astype(np.float64) + 0.5  # corner coordinates
        if len(p) >= 3:
            out.append(p)
    return out


def flows(images: list[np.ndarray]) -> list[np.ndarray]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in images]
    return [dis.calc(grey[t], grey[t + 1], None) for t in range(len(grey) - 1)]


def sample(flow: np.ndarray, pts: np.ndarray, mask: np.ndarray, depth: float = 3.0) -> np.ndarray:
    """The object's own motion at each point: the flow `depth` px inside the mask (on the edge it
    mixes the object's motion with the background's)."""
    p = np.asarray(pts, np.float64)
    d = np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)
    nrm = np.stack([d[:, 1], -d[:, 0]], axis=1)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    h, w = mask.shape
    probe = p + depth * nrm
    sign = np.where(mask[np.clip(probe[:, 1].astype(int), 0, h - 1), np.clip(probe[:, 0].astype(int), 0, w - 1)],
                    1.0, -1.0)
    p = (p + depth * nrm * sign[:, None] - 0.5).astype(np.float32)
    v = cv2.remap(flow, p[:, :1].copy(), p[:, 1:].copy(), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return v.reshape(-1, 2).astype(np.float64)


def evaluate(root: Path, seq: str, n: int | None, tol: float, ktol: float) -> dict:
    frames_dir = root / "davis2016" / "JPEGImages" / "480p" / seq
    masks_dir = root / "davis2016" / "Annotations" / "480p" / seq
    names = sorted(p.stem for p in frames_dir.glob("*.jpg"))[:n]
    images = [cv2.cvtColor(cv2.imread(str(frames_dir / f"{s}.jpg")), cv2.COLOR_BGR2RGB) for s in names]
    masks = [cv2.imread(str(masks_dir / f"{s}.png"), cv2.IMREAD_GRAYSCALE) > 127 for s in names]
    h, w = masks[0].shape
    alphas = [m.astype(np.float32) for m in masks]
    frames = list(range(len(names)))

    t0, c0 = time.perf_counter(), time.process_time()
    doc = make_shapes([ObjectSource(seq, (255, 255, 255), lambda f: alphas[f])], frames, w, h,
                      lambda f: images[f], 24.0, tol, key_tolerance=ktol)
    ours_s = (time.perf_counter() - t0) / len(frames)
    ours_cpu = (time.process_time() - c0) / len(frames)
    obj = doc.objects[0]
    ours_iou, ours_f, ours_pts = [], [], []
    for f in frames:
        drawn = rasterise(frame_svg(doc, f))
        ours_iou.append(iou(drawn, masks[f]))
        ours_f.append(boundary_f(drawn, masks[f]))
        ours_pts.extend(len(k) for _, k in obj.at(f))
    keys = len(obj.key_frames())  # frames holding a key of any shape

    # baseline: the coarsest Douglas-Peucker that still matches our mean IoU
    base = None
    for eps in (4.0, 3.0, 2.5, 2.0, 1.5, 1.25, 1.0, 0.75, 0.5):
        t1, c1 = time.perf_counter(), time.process_time()
        polys = [dp_polygons(m, eps) for m in masks]
        base_s = (time.perf_counter() - t1) / len(frames)
        base_cpu = (time.process_time() - c1) / len(frames)
        drawn = [rasterise(polygon_svg(p, w, h)) for p in polys]
        b_iou = [iou(d, m) for d, m in zip(drawn, masks)]
        base = (eps, polys, drawn, b_iou, base_s, base_cpu)
        if np.mean(b_iou) >= np.mean(ours_iou):
            break
    eps, polys, drawn, b_iou, base_s, base_cpu = base
    b_f = [boundary_f(d, m) for d, m in zip(drawn, masks)]

    fl = flows(images)
    ours_move, base_move = [], []
    for t in range(len(frames) - 1):
        for s in obj.shapes:
            a, b = s.at(t), s.at(t + 1)
            if a is None or b is None:
                continue
            ours_move.extend(np.linalg.norm(b.points - (a.points + sample(fl[t], a.points, masks[t])), axis=1))
        if polys[t] and polys[t + 1]:
            pb = np.concatenate(polys[t + 1])
            for pa in polys[t]:
                d, _ = cKDTree(pb).query(pa + sample(fl[t], pa, masks[t]))
                base_move.extend(d)
    return {"seq": seq, "frames": len(frames), "iou": np.mean(ours_iou), "f": np.mean(ours_f),
            "b_iou": np.mean(b_iou), "b_f": np.mean(b_f), "eps": eps,
            "pts": np.mean(ours_pts) / max(1, np.mean([len(obj.at(f)) for f in frames])),
            "b_pts": np.mean([np.mean([len(p) for p in ps]) for ps in polys if ps]),
            "keys100": 100.0 * keys / len(frames), "shapes": len(obj.shapes),
            "move": float(np.mean(ours_move)) if ours_move else float("nan"),
            "b_move": float(np.mean(base_move)) if base_move else float("nan"),
            "ms": 1000 * ours_s, "b_ms": 1000 * base_s, "cpu": 1000 * ours_cpu, "b_cpu": 1000 * base_cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", nargs="+", default=list(DEFAULT_SEQS))
    ap.add_argument("--frames", type=int, default=40, help="first N frames of each sequence (default 40)")
    ap.add_argument("--tolerance", type=float, default=1.0)
    ap.add_argument("--key-tolerance", type=float, default=2.0)
    args = ap.parse_args()
    root = shared_data()
    if not (root / "davis2016").is_dir():
        print(f"skipped: no DAVIS data at {root / 'davis2016'} (set ROTO_SHARED_DATA)")
        return 0
    try:
        import resvg_py  # noqa: F401
    except ImportError:
        print("skipped: resvg-py is not installed (pip install resvg-py)")
        return 0
    rows = [evaluate(root, s, args.frames, args.tolerance, args.key_tolerance) for s in args.seq]
    print(f"shapes at tolerance {args.tolerance:g} px vs per-frame Douglas-Peucker (same fidelity), "
          f"first {args.frames} frames; ours | baseline")
    for r in rows:
        print(f"{r['seq']:<12} {r['frames']:3d} fr  IoU {r['iou']:.4f} | {r['b_iou']:.4f} (eps {r['eps']:g})  "
              f"F {r['f']:.4f} | {r['b_f']:.4f}  pts/shape {r['pts']:.1f} | {r['b_pts']:.1f}  "
              f"keys/100fr {r['keys100']:.1f} | 100  shapes {r['shapes']}  "
              f"move {r['move']:.3f} | {r['b_move']:.3f} px  ms/frame {r['ms']:.1f} | {r['b_ms']:.1f} "
              f"(CPU {r['cpu']:.1f} | {r['b_cpu']:.1f})")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("iou", "b_iou", "f", "b_f", "pts", "b_pts",
                                                              "keys100", "move", "b_move", "ms", "b_ms", "cpu", "b_cpu")}
    print(f"{'mean':<12}         IoU {mean['iou']:.4f} | {mean['b_iou']:.4f}  F {mean['f']:.4f} | {mean['b_f']:.4f}  "
          f"pts/shape {mean['pts']:.1f} | {mean['b_pts']:.1f}  keys/100fr {mean['keys100']:.1f} | 100  "
          f"move {mean['move']:.3f} | {mean['b_move']:.3f} px  ms/frame {mean['ms']:.1f} | {mean['b_ms']:.1f} "
          f"(CPU {mean['cpu']:.1f} | {mean['b_cpu']:.1f})")
    print("targets: IoU >= 0.97, F >= 0.95, move <= 0.5 px, < 50 ms per frame per object")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
