"""Quality of the CPU fallback (no weights) on ../shared/data, with same-run baselines.

    python benchmarks/eval_classical.py [--only grabcut|click|davis] [--seq NAME ...]
        [--half tuning|report|all] [--scale S] [--frames N] [--step K] [--jobs J] [--dump DIR]

--scale/--frames/--step make quick DAVIS runs (frames resized by S, only the first N frames, every
K-th frame: K > 1 also makes the motion faster); --half picks a half of the split below; --jobs
runs sequences in parallel processes (s/frame is then per process, sharing the cores); --dump
writes predicted masks as PNGs.

The tuning discipline. The 10 shared DAVIS sequences are split, once and before any tuning, by
alternating over their sorted names: TUNING = blackswan, car-shadow, dog, goat, paragliding-launch;
REPORT = breakdance, cows, drift-straight, libby, soapbox. Changes to the CPU fallback are tried
and tuned on TUNING only; a change is kept only when REPORT does not fall. Every DAVIS run prints
J&F on the tuning half, the report half and all, beside the same-run baselines.

GrabCut photos: mean IoU from the box alone and after 1..3 simulated corrective clicks (each at
the centre of the largest error region: the pixel of the largest connected error component
farthest from its border, include for a miss, exclude for a false hit), against plain
cv2.grabCut (box, 5 iterations).
Single click (GrabCut photos, no box): one include click at the object's most interior point
(the distance-transform maximum of the ground truth), against plain cv2.grabCut initialised
with a box a third of the image's width and height centred on that click (5 iterations).
DAVIS 2016: J, F and J&F per sequence (frames 1..N-2, first-frame mask as the only prompt),
against copying the first mask and plain dense-flow warping.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roto_studio.core.metrics import davis_scores, iou  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.classical import FlowPropagator, GrabCutSegmenter  # noqa: E402


TUNING = ("blackswan", "car-shadow", "dog", "goat", "paragliding-launch")
REPORT = ("breakdance", "cows", "drift-straight", "libby", "soapbox")


def shared_data() -> Path:
    env = os.environ.get("ROTO_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise SystemExit(f"cannot read {path}")
    return m > 127


def corrective_click(pred: np.ndarray, gt: np.ndarray):
    """(x, y, label) at the centre of the largest error region, or None when there is no error."""
    err = (pred != gt).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(err, connectivity=8)
    if n <= 1:
        return None
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = np.pad((lab == big).astype(np.uint8), 1)  # image edge counts as the region's border
    dist = cv2.distanceTransform(comp, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y), int(gt[y, x])


# -- GrabCut photos -------------------------------------------------------------------------------
def eval_grabcut(root: Path, clicks: int = 3) -> dict:
    folder = root / "grabcut"
    names = sorted(p.stem for p in (folder / "imgs").glob("*.jpg"))
    seg = GrabCutSegmenter()
    rows, base, ours = [], [], [[] for _ in range(clicks + 1)]
    t_ours = t_base = 0.0
    for name in names:
        img = read_rgb(folder / "imgs" / f"{name}.jpg")
        gt = read_mask(folder / "seg_GT" / f"{name}.bmp")
        x1, y1, x2, y2 = [int(v) for v in (folder / "bboxes" / f"{name}.txt").read_text().split()]

        t = time.perf_counter()
        m = np.zeros(gt.shape, np.uint8)
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.grabCut(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), m, (x1, y1, x2 - x1, y2 - y1), bgd, fgd,
                    5, cv2.GC_INIT_WITH_RECT)
        t_base += time.perf_counter() - t
        base.append(iou((m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD), gt))

        t = time.perf_counter()
        seg.set_image(img, key=name)
        prompt = Prompt(box=(x1, y1, x2, y2))
        pred = seg.predict(prompt)
        t_ours += time.perf_counter() - t
        scores = [iou(pred.alpha, gt)]
        for _ in range(clicks):
            c = corrective_click(pred.alpha > 0.5, gt)
            if c is not None:
                prompt.points.append((c[0], c[1]))
                prompt.labels.append(c[2])
                pred = seg.predict(prompt, mask_logits=pred.logits)
            scores.append(iou(pred.alpha, gt))
        for k, s in enumerate(scores):
            ours[k].append(s)
        rows.append((name, base[-1], scores))
        print(f"  {name:10s} cv2.grabCut {base[-1]:.3f}   ours box {scores[0]:.3f}   "
              + "  ".join(f"+{k} click{'s' if k > 1 else ''} {s:.3f}" for k, s in enumerate(scores) if k),
              flush=True)
    n = len(names)
    res = {"baseline": float(np.mean(base)), "box": float(np.mean(ours[0])),
           "clicks": [float(np.mean(o)) for o in ours[1:]],
           "time_ours": t_ours / n, "time_base": t_base / n}
    print(f"GrabCut photos ({n}): mean IoU plain cv2.grabCut (box, 5 iter) {res['baseline']:.4f}")
    print(f"  ours box only {res['box']:.4f}  (ratio {res['box'] / res['baseline']:.3f}, target >= 0.88)")
    for k, v in enumerate(res["clicks"], 1):
        print(f"  ours box + {k} click{'s' if k > 1 else ''} {v:.4f}" + ("  (target >= 0.92)" if k == clicks else ""))
    print(f"  time per box: ours {res['time_ours']:.2f} s, cv2.grabCut {res['time_base']:.2f} s")
    return res


# -- one click, no box ------------------------------------------------------------------------------
def interior_point(gt: np.ndarray) -> tuple[float, float]:
    """The object's most interior pixel (x, y): the maximum of its distance transform."""
    dist = cv2.distanceTransform(np.pad(gt.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)


def third_box_grabcut(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Plain cv2.grabCut from a box w/3 x h/3 centred on (x, y) (shifted to stay inside)."""
    h, w = img.shape[:2]
    bw, bh = w // 3, h // 3
    x1 = int(np.clip(round(x - bw / 2), 0, w - bw))
    y1 = int(np.clip(round(y - bh / 2), 0, h - bh))
    m = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), m, (x1, y1, bw, bh), bgd, fgd, 5,
                cv2.GC_INIT_WITH_RECT)
    return (m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD)


def eval_single_click(root: Path) -> dict:
    folder = root / "grabcut"
    names = sorted(p.stem for p in (folder / "imgs").glob("*.jpg"))
    seg = GrabCutSegmenter()
    base, ours, t_base, t_ours, covers = [], [], [], [], []
    for name in names:
        img = read_rgb(folder / "imgs" / f"{name}.jpg")
        gt = read_mask(folder / "seg_GT" / f"{name}.bmp")
        x, y = interior_point(gt)

        t = time.perf_counter()
        base.append(iou(third_box_grabcut(img, x, y), gt))
        t_base.append(time.perf_counter() - t)

        seg.set_image(img, key=("click", name))  # colour features made here, not timed below
        t = time.perf_counter()
        pred = seg.predict(Prompt(points=[(x, y)], labels=[1]))
        t_ours.append(time.perf_counter() - t)
        ours.append(iou(pred.alpha, gt))
        covers.append(float((pred.alpha > 0.5).mean()))
        print(f"  {name:10s} click ({x:.0f}, {y:.0f})  cv2.grabCut third-box {base[-1]:.3f}   "
              f"ours one click {ours[-1]:.3f} (covers {covers[-1]:.0%} of the image, {t_ours[-1]:.2f} s)",
              flush=True)
    res = {"baseline": float(np.mean(base)), "ours": float(np.mean(ours)),
           "time_ours": float(np.mean(t_ours)), "time_base": float(np.mean(t_base))}
    print(f"Single click ({len(names)} GrabCut photos): mean IoU plain cv2.grabCut (box a third of the "
          f"image around the click, 5 iter) {res['baseline']:.4f}")
    print(f"  ours one click {res['ours']:.4f}  (ratio {res['ours'] / max(res['baseline'], 1e-9):.2f})")
    print(f"  time per click: ours {res['time_ours']:.2f} s (max {max(t_ours):.2f} s), "
          f"cv2.grabCut {res['time_base']:.2f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    return res


# -- DAVIS 2016 -------------------------------------------------------------------------------------
def _resize(img: np.ndarray, scale: float, nearest: bool = False) -> np.ndarray:
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    if nearest:
        return cv2.resize(img.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


class FolderFrames:
    """FrameSource over a folder of NNNNN.jpg (plate number = file number)."""

    def __init__(self, folder: Path, scale: float = 1.0, frames: int | None = None, step: int = 1):
        self.scale = scale
        self.reads = 0
        paths = sorted(folder.glob("*.jpg"))[::step][:frames]
        self.paths = {int(p.stem): p for p in paths}
        first = self.read(next(iter(self.paths)))
        self.height, self.width = first.shape[:2]
        self.reads = 0

    @property
    def frame_numbers(self):
        return sorted(self.paths)

    def read(self, frame: int) -> np.ndarray:
        self.reads += 1
        return _resize(read_rgb(self.paths[frame]), self.scale)


def flow_warp_baseline(frames: FolderFrames, first_mask: np.ndarray) -> list[np.ndarray]:
    """Plain dense-flow warping of the previous mask (DIS optical flow, bilinear, > 0.5)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    nums = frames.frame_numbers
    prev_grey = cv2.cvtColor(frames.read(nums[0]), cv2.COLOR_RGB2GRAY)
    mask = first_mask.astype(np.float32)
    out = [first_mask]
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for f in nums[1:]:
        grey = cv2.cvtColor(frames.read(f), cv2.COLOR_RGB2GRAY)
        flow = dis.calc(grey, prev_grey, None)  # current -> previous, for backward warping
        mask = cv2.remap(mask, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR)
        mask = (mask > 0.5).astype(np.float32)
        out.append(mask > 0.5)
        prev_grey = grey
    return out


def eval_sequence(base: Path, seq: str, scale: float = 1.0, frames: int | None = None,
                  dump: str | None = None, step: int = 1) -> dict:
    fr = FolderFrames(base / "JPEGImages" / "480p" / seq, scale, frames, step)
    nums = fr.frame_numbers
    gts = [_resize(read_mask(base / "Annotations" / "480p" / seq / f"{n:05d}.png"), scale, True)
           for n in nums]
    copy = davis_scores([gts[0]] * len(gts), gts)
    flow = davis_scores(flow_warp_baseline(fr, gts[0]), gts)

    prop = FlowPropagator()
    prop.start(fr)
    t = time.perf_counter()
    preds = {nums[0]: prop.add_prompt(nums[0], "obj", Prompt(mask=gts[0]))}
    for f, alphas in prop.propagate(nums[0]):
        preds[f] = alphas["obj"]
    dt = time.perf_counter() - t
    ours = davis_scores([preds[n] for n in nums], gts)
    if dump:
        out = Path(dump) / seq
        out.mkdir(parents=True, exist_ok=True)
        for n in nums:
            cv2.imwrite(str(out / f"{n:05d}.png"), ((preds[n] > 0.5) * 255).astype(np.uint8))
    return {"ours": ours, "flow": flow, "copy": copy, "time": dt, "n": len(nums) - 1}


def _eval_job(args):
    return args[1], eval_sequence(*args)


def eval_davis(root: Path, seqs: list[str] | None = None, scale: float = 1.0,
               frames: int | None = None, jobs: int = 1, dump: str | None = None, step: int = 1) -> dict:
    base = root / "davis2016"
    seqs = seqs or sorted(p.name for p in (base / "JPEGImages" / "480p").iterdir() if p.is_dir())
    per = {}
    if scale != 1.0 or frames or step != 1:
        print(f"quick run: frames scaled by {scale}, every {step} frame(s), first {frames or 'all'} of each sequence")
    print(f"{'sequence':12s} {'ours J':>7s} {'F':>6s} {'J&F':>6s} | {'flow J&F':>8s} | {'copy J&F':>8s} | s/frame")
    tasks = [(base, seq, scale, frames, dump, step) for seq in seqs]
    if jobs > 1:
        import multiprocessing as mp
        pool = mp.get_context("spawn").Pool(jobs)
        results = pool.imap_unordered(_eval_job, tasks)
    else:
        pool = None
        results = map(_eval_job, tasks)
    for seq, r in results:
        per[seq] = r
        ours, flow, copy = r["ours"], r["flow"], r["copy"]
        print(f"{seq:12s} {ours['J']:7.3f} {ours['F']:6.3f} {ours['JF']:6.3f} | {flow['JF']:8.3f} | "
              f"{copy['JF']:8.3f} | {r['time'] / max(1, r['n']):.2f}", flush=True)
    if pool is not None:
        pool.close()
        pool.join()
    t_total = sum(per[s]["time"] for s in seqs)
    n_total = sum(per[s]["n"] for s in seqs)
    mean = {k: float(np.mean([per[s][k]["JF"] for s in seqs])) for k in ("ours", "flow", "copy")}
    mj = float(np.mean([per[s]["ours"]["J"] for s in seqs]))
    mf = float(np.mean([per[s]["ours"]["F"] for s in seqs]))
    print(f"{'mean':12s} {mj:7.3f} {mf:6.3f} {mean['ours']:6.3f} | {mean['flow']:8.3f} | {mean['copy']:8.3f} |"
          f" {t_total / max(1, n_total):.2f}")
    print(f"DAVIS 2016 J&F: ours {mean['ours']:.4f} (target >= 0.70), plain flow warping {mean['flow']:.4f} "
          f"(ratio {mean['ours'] / max(mean['flow'], 1e-9):.2f}), copy first mask {mean['copy']:.4f} "
          f"(ratio {mean['ours'] / max(mean['copy'], 1e-9):.2f})")
    halves = {}
    for label, group in (("tuning", TUNING), ("report", REPORT), ("all", tuple(seqs))):
        group = [g for g in group if g in per]
        if not group:
            continue
        halves[label] = {k: float(np.mean([per[g][k]["JF"] for g in group])) for k in ("ours", "flow", "copy")}
        h = halves[label]
        print(f"J&F {label:6s} ({len(group):2d} seq): ours {h['ours']:.4f}  plain flow warping {h['flow']:.4f}  "
              f"copy first mask {h['copy']:.4f}")
    return {"per": per, "mean": mean, "halves": halves}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["grabcut", "click", "davis"],
                    help="grabcut: box, clicks and single click on the photos; click: single click only")
    ap.add_argument("--seq", nargs="*", help="DAVIS sequences (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="DAVIS: resize frames (quick runs)")
    ap.add_argument("--half", choices=["tuning", "report", "all"], default="all",
                    help="DAVIS: only the tuning or the report half of the fixed split (see the docstring)")
    ap.add_argument("--frames", type=int, default=None, help="DAVIS: only the first N frames")
    ap.add_argument("--step", type=int, default=1, help="DAVIS: every K-th frame (quicker, faster motion)")
    ap.add_argument("--jobs", type=int, default=1, help="DAVIS: sequences in parallel processes")
    ap.add_argument("--dump", default=None, help="DAVIS: write predicted masks under this folder")
    args = ap.parse_args(argv)
    root = shared_data()
    if not root.is_dir():
        print(f"shared data not found at {root} (set ROTO_SHARED_DATA); skipping the evaluation.")
        return 0
    cv2.setNumThreads(max(1, os.cpu_count() or 1))
    if args.only in (None, "grabcut", "click"):
        if (root / "grabcut").is_dir():
            if args.only != "click":
                eval_grabcut(root)
            eval_single_click(root)
        else:
            print(f"{root / 'grabcut'} not found; skipping the GrabCut evaluation.")
    if args.only in (None, "davis"):
        if (root / "davis2016").is_dir():
            seqs = args.seq or ({"tuning": list(TUNING), "report": list(REPORT)}.get(args.half))
            eval_davis(root, seqs, args.scale, args.frames, args.jobs, args.dump, args.step)
        else:
            print(f"{root / 'davis2016'} not found; skipping the DAVIS evaluation.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
