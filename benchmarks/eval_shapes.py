"""Shapes from masks (issue 27) on the shared DAVIS 2016 sequences, each figure three times from
one run: ours at the key tolerance | ours keyed wherever the carried shape misses the tolerance
(key tolerance = tolerance: the figures before key reduction) | per-frame contour simplification
(OpenCV Douglas-Peucker on each frame's outline, its epsilon raised while it still matches our
IoU), which redraws the shape on every frame. By default the tuning half (TUNE_SEQS, the only ones
to tune on) and the report half (REPORT_SEQS), each with its mean.

    python benchmarks/eval_shapes.py [--seq NAME ...] [--frames N] [--tolerance PX] [--key-tolerance PX]

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
from roto_studio.ops.shapes import DEFAULT_KEY_TOLERANCE  # noqa: E402
from roto_studio.ops.shapes.formats.json_svg import frame_svg  # noqa: E402
from roto_studio.ops.shapes.run import ObjectSource, make_shapes  # noqa: E402

TUNE_SEQS = ("blackswan", "car-shadow", "dog", "goat", "paragliding-launch")  # tune on these only
REPORT_SEQS = ("breakdance", "cows", "drift-straight", "libby", "soapbox")  # reported, never tuned on


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


def _measure(doc, frames, masks, fl) -> dict:
    """Fidelity, economy and stability of one ShapeDoc's first object against the masks."""
    obj = doc.objects[0]
    ious, fs, pts = [], [], []
    for f in frames:
        drawn = rasterise(frame_svg(doc, f))
        ious.append(iou(drawn, masks[f]))
        fs.append(boundary_f(drawn, masks[f]))
        pts.extend(len(k) for _, k in obj.at(f))
    move = []
    for t in range(len(frames) - 1):
        for s in obj.shapes:
            a, b = s.at(t), s.at(t + 1)
            if a is not None and b is not None:
                move.extend(np.linalg.norm(b.points - (a.points + sample(fl[t], a.points, masks[t])), axis=1))
    return {"iou": float(np.mean(ious)), "f": float(np.mean(fs)),
            "pts": np.mean(pts) / max(1, np.mean([len(obj.at(f)) for f in frames])),
            "keys100": 100.0 * len(obj.key_frames()) / len(frames), "shapes": len(obj.shapes),
            "move": float(np.mean(move)) if move else float("nan")}


def evaluate(root: Path, seq: str, n: int | None, tol: float, ktol: float) -> dict:
    """Ours at key tolerance `ktol`, ours keyed wherever the carried shape misses `tol` (the
    figures before the key tolerance: "carried"), and the per-frame Douglas-Peucker baseline."""
    frames_dir = root / "davis2016" / "JPEGImages" / "480p" / seq
    masks_dir = root / "davis2016" / "Annotations" / "480p" / seq
    names = sorted(p.stem for p in frames_dir.glob("*.jpg"))[:n]
    images = [cv2.cvtColor(cv2.imread(str(frames_dir / f"{s}.jpg")), cv2.COLOR_BGR2RGB) for s in names]
    masks = [cv2.imread(str(masks_dir / f"{s}.png"), cv2.IMREAD_GRAYSCALE) > 127 for s in names]
    h, w = masks[0].shape
    alphas = [m.astype(np.float32) for m in masks]
    frames = list(range(len(names)))
    fl = flows(images)
    row = {"seq": seq, "frames": len(frames)}
    for tag, k in (("", ktol), ("c_", tol)):
        t0, c0 = time.perf_counter(), time.process_time()
        doc = make_shapes([ObjectSource(seq, (255, 255, 255), lambda f: alphas[f])], frames, w, h,
                          lambda f: images[f], 24.0, tol, key_tolerance=k)
        row[tag + "ms"] = 1000 * (time.perf_counter() - t0) / len(frames)
        row[tag + "cpu"] = 1000 * (time.process_time() - c0) / len(frames)
        row.update({tag + name: v for name, v in _measure(doc, frames, masks, fl).items()})

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
        if np.mean(b_iou) >= row["iou"]:
            break
    eps, polys, drawn, b_iou, base_s, base_cpu = base
    b_f = [boundary_f(d, m) for d, m in zip(drawn, masks)]
    base_move = []
    for t in range(len(frames) - 1):
        if polys[t] and polys[t + 1]:
            pb = np.concatenate(polys[t + 1])
            for pa in polys[t]:
                d, _ = cKDTree(pb).query(pa + sample(fl[t], pa, masks[t]))
                base_move.extend(d)
    row.update({"b_iou": np.mean(b_iou), "b_f": np.mean(b_f), "eps": eps, "b_keys100": 100.0,
                "b_pts": np.mean([np.mean([len(p) for p in ps]) for ps in polys if ps]),
                "b_move": float(np.mean(base_move)) if base_move else float("nan"),
                "b_ms": 1000 * base_s, "b_cpu": 1000 * base_cpu})
    return row


FIGURES = (("IoU", "iou", "{:.4f}"), ("F", "f", "{:.4f}"), ("pts/shape", "pts", "{:.1f}"),
           ("keys/100fr", "keys100", "{:.1f}"), ("move px", "move", "{:.3f}"), ("CPU ms/fr", "cpu", "{:.1f}"))


def _line(label: str, r: dict) -> str:
    cells = [f"{name} " + " | ".join(fmt.format(r[p + key]) for p in ("", "c_", "b_")) for name, key, fmt in FIGURES]
    return f"{label:<19} " + "  ".join(cells)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", nargs="+", help="only these sequences (default: the tuning and the report half)")
    ap.add_argument("--frames", type=int, default=40, help="first N frames of each sequence (default 40)")
    ap.add_argument("--tolerance", type=float, default=1.0)
    ap.add_argument("--key-tolerance", type=float, default=DEFAULT_KEY_TOLERANCE)
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
    print(f"shapes at tolerance {args.tolerance:g} px, key tolerance {args.key_tolerance:g} px, first "
          f"{args.frames} frames; each figure: ours | ours keyed wherever carried (before the key "
          f"tolerance) | per-frame Douglas-Peucker at our IoU")
    halves = [("tuning", args.seq)] if args.seq else [("tuning", TUNE_SEQS), ("report", REPORT_SEQS)]
    for half, seqs in halves:
        rows = [evaluate(root, s, args.frames, args.tolerance, args.key_tolerance) for s in seqs]
        print(f"-- {half} half")
        for r in rows:
            print(_line(r["seq"], r) + f"  (shapes {r['shapes']} | {r['c_shapes']}, DP eps {r['eps']:g})")
        keys = [p + k for p in ("", "c_", "b_") for _, k, _ in FIGURES]
        print(_line(f"mean {half}", {k: float(np.mean([r[k] for r in rows])) for k in keys}))
    print("targets: IoU >= 0.97, F >= 0.95, move <= 0.5 px, < 50 ms per frame per object")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
