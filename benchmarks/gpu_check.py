"""CUDA checks in one short run, for a machine with an NVIDIA GPU (no Qt needed).

    python benchmarks/gpu_check.py            # all checks, about 5 minutes on an H100/H200
    python benchmarks/gpu_check.py --quick    # fewer frames and repeats

Each figure is printed beside its baseline from the same run:
1. the device choice (CUDA; bfloat16 autocast on Ampere and newer);
2. SAM 2.1 tiny (seeded random weights, 1024) click-to-mask: GPU fp32 and bf16 autocast beside
   the CPU, and how far the GPU masks are from the CPU ones (IoU of alpha > 0.5);
3. SAM 2.1 tiny video propagation at 854x480 through our propagator: seconds per frame and peak
   GPU memory, fp32 and bf16, beside the CPU, with the IoU against the CPU masks;
4. the diffusers inpainting path (a tiny random SD inpainting pipeline) in fp16 on CUDA: ours
   equals the pipeline called directly with the same seed, and the plate outside the hole is
   untouched, beside the CPU run;
5. a real CUDA out-of-memory (this process capped to a sliver of the card): recognised as one,
   turned into a one-line message with retry options, and the card usable after it;
6. the model server started with --device cuda: /v1/status names the GPU and its free memory, and
   answers 401 without the token;
7. EdgeTAM and SAM 2.1 tiny tracking fps at 1024 (their published input size), fp32 and bf16
   autocast, through our propagators, with the bf16 masks' IoU against fp32 (target >= 0.99) and
   SAM 2.1 tiny's fps against the published figure (target >= 80% of it for that class of GPU);
8. EdgeTAM's image encoder exported to ONNX (models.cpu.runtime) run by ONNX Runtime's CUDA
   provider where installed, beside PyTorch on the GPU, with the largest difference.

    python benchmarks/gpu_check.py --dry-run  # no GPU: checks 2, 3, 7, 8 on the CPU, tiny sizes (a smoke run)
Random weights make the speed real and the masks meaningless: IoU near 1 means the GPU path
computes what the CPU path does, nothing about quality.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

GPU = os.environ.get("GPU_CHECK_DEVICE", "cuda")  # 'cpu' dry-runs the script on a machine without one
DRY = False  # --dry-run: the CPU, test-sized models and a few frames
# SAM 2.1 hiera-tiny, as published by its authors (A100, their video benchmark)
PUBLISHED_SAM21_TINY_FPS = {"A100": 91.2}


def sync():
    if GPU.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def iou(a, b) -> float:
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def timed(fn, sync):
    sync()
    t = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t


def check_device():
    from roto_studio.models.device import choose_device

    import torch

    choice = choose_device()
    print(f"[1] torch {torch.__version__}, {torch.cuda.get_device_name(0)}: choose_device() -> "
          f"{choice.device} {choice.dtype} ({choice.reason})")
    return choice


def image(h=480, w=854, t=0):
    rng = np.random.default_rng(0)
    base = rng.integers(30, 120, size=(h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
    img = np.kron(base, np.ones((16, 16, 1), np.uint8))[:h, :w].copy()
    yy, xx = np.mgrid[:h, :w]
    img[(xx - 200 - 3 * t) ** 2 + (yy - h // 2) ** 2 < 60 ** 2] = (220, 60, 50)
    return img


def check_click(repeats: int):
    import torch

    from roto_studio.core.prompt import Prompt
    from roto_studio.models.device import DeviceChoice, inference_context
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.image import Sam2ImageSegmenter

    img = image()
    prompt = Prompt(points=[(200, 240)], labels=[1])
    rows, masks = {}, {}
    for name, dev, dtype in (("CPU fp32", "cpu", "float32"), ("GPU fp32", GPU, "float32"),
                             ("GPU bf16", GPU, "bfloat16")):
        seg = Sam2ImageSegmenter(from_config("tiny", image_size=1024, device=dev))
        choice = DeviceChoice(dev, dtype, "check")
        times = []
        n = 2 if dev == "cpu" else repeats
        for i in range(n + 1):
            seg.clear_cache()
            with inference_context(choice):
                pred, dt = timed(lambda: (seg.set_image(img, key=i), seg.predict(prompt))[1], sync)
                _, click = timed(lambda: seg.predict(Prompt(points=[(200, 240), (230, 250)], labels=[1, 1])), sync)
            if i:
                times.append((dt, click))
        rows[name] = (np.median([t[0] for t in times]), np.median([t[1] for t in times]))
        masks[name] = pred.alpha
        seg = None
        torch.cuda.empty_cache()
    cpu = rows["CPU fp32"]
    print("[2] SAM 2.1 tiny at 1024, 854x480 frame: new frame (embed + click) / click on an embedded frame")
    for name, (embed, click) in rows.items():
        extra = "" if name.startswith("CPU") else \
            f"  {cpu[0] / embed:6.1f}x faster than CPU; mask IoU vs CPU {iou(masks[name], masks['CPU fp32']):.3f}"
        print(f"    {name}: {embed * 1000:8.1f} ms / {click * 1000:6.1f} ms{extra}")


def check_video(frames: int):
    import torch

    from bench_sam2_memory import Jpegs, write_clip
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.device import DeviceChoice, inference_context
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.video import Sam2VideoPropagator

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip"
        write_clip(clip, frames)
        src = Jpegs(clip, frames)
        h, w = src.height, src.width
        yy, xx = np.mgrid[:h, :w]
        disc = (((xx - 100) ** 2 + (yy - h // 2) ** 2) < 60 ** 2).astype(np.float32)
        results = {}
        for name, dev, dtype, n in (("CPU fp32", "cpu", "float32", min(frames, 4)),
                                    ("GPU fp32", GPU, "float32", frames),
                                    ("GPU bf16", GPU, "bfloat16", frames)):
            prop = Sam2VideoPropagator(from_config("tiny", image_size=1024, device=dev))
            choice = DeviceChoice(dev, dtype, "check")
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            out, times = {}, []
            with inference_context(choice):
                prop.start(src)
                prop.add_prompt(1001, "a", Prompt(mask=disc))
                sync()
                t = time.perf_counter()
                for f, alphas in prop.propagate(1001, stop=1000 + n):
                    sync()
                    now = time.perf_counter()
                    times.append(now - t)
                    t = now
                    out[f] = alphas["a"]
            steady = times[1:] or times
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if dev == "cuda" else 0.0
            results[name] = (float(np.mean(steady)), peak, out)
            prop.close() if hasattr(prop, "close") else None
            del prop
            torch.cuda.empty_cache()
    cpu = results["CPU fp32"]
    print(f"[3] SAM 2.1 tiny propagation at 854x480 ({frames} GPU frames, {min(frames, 4)} CPU frames)")
    for name, (spf, peak, out) in results.items():
        if name.startswith("CPU"):
            print(f"    {name}: {spf:.3f} s/frame")
            continue
        common = sorted(set(out) & set(cpu[2]))
        ious = [iou(out[f], cpu[2][f]) for f in common]
        print(f"    {name}: {spf:.4f} s/frame ({cpu[0] / spf:.1f}x faster than the CPU), peak {peak:.0f} MB; "
              f"IoU vs CPU on frames {common[0]}-{common[-1]}: min {min(ious):.3f}")


def check_inpaint():
    import torch
    from PIL import Image

    from roto_studio.models.cleanplate.diffusion import DEFAULT_PROMPT, NEGATIVE_PROMPT, DiffusionInpainter
    from tests.models.diffusers_fixtures import tiny_pipeline

    rng = np.random.default_rng(0)
    img = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 64x64
    hole = np.zeros(img.shape[:2], bool)
    hole[22:36, 18:40] = True
    core, touched = _grown(hole, 2), _grown(hole, 5)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = tiny_pipeline(Path(tmp))
    print("[4] diffusers inpainting, tiny random SD pipeline, 64x64 plate, 4 steps, seed 7")
    cpu = None
    for name, dev, dtype in (("CPU fp32", "cpu", torch.float32), ("GPU fp16", GPU, torch.float16)):
        pipe = pipe.to(dev, dtype)
        ours = DiffusionInpainter(pipe, prompt="", seed=7, steps=4, native=64, dilate=2, feather=3)
        ours.fill(img, hole)  # warm-up
        out, dt = timed(lambda: ours.fill(img, hole), sync)
        # diffusers' pipeline called as its documentation shows, on the same image, mask and seed
        direct = np.asarray(pipe(prompt=DEFAULT_PROMPT, negative_prompt=NEGATIVE_PROMPT, image=Image.fromarray(img),
                                 mask_image=Image.fromarray(touched.astype(np.uint8) * 255), height=64, width=64,
                                 num_inference_steps=4, guidance_scale=7.5,
                                 generator=torch.Generator("cpu").manual_seed(7)).images[0])
        same = bool((out[core] == direct[core]).all())
        untouched = bool((out[~touched] == img[~touched]).all())
        versus = "" if cpu is None else f"; mean |GPU-CPU| in the hole {np.abs(out[core] - cpu[core].astype(float)).mean():.1f}/255"
        print(f"    {name}: {dt * 1000:.0f} ms; hole equals the pipeline called directly: {same}; "
              f"plate outside the feathered hole untouched: {untouched}{versus}")
        cpu = out.astype(float) if cpu is None else cpu


def _grown(mask, px):
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def check_oom():
    import torch

    from roto_studio.models import device as dev
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.image import Sam2ImageSegmenter

    torch.cuda.empty_cache()
    seg = Sam2ImageSegmenter(from_config("tiny", image_size=1024, device="cuda"))
    total = torch.cuda.get_device_properties(0).total_memory
    used = torch.cuda.memory_allocated()
    torch.cuda.set_per_process_memory_fraction((used + 40 * 2**20) / total)
    err = None
    try:
        seg.set_image(image())
        seg.predict(Prompt(points=[(200, 240)], labels=[1]))
    except Exception as exc:  # noqa: BLE001 - what a real OOM looks like is the point
        err = exc
    print("[5] a real CUDA out-of-memory (process capped at weights + 40 MB, SAM 2.1 tiny at 1024)")
    if err is None:
        print("    no out-of-memory happened: the cap was too loose")
    else:
        print(f"    raised {type(err).__name__}; recognised as out-of-memory: {dev.is_out_of_memory(err)}")
        dev.free_memory("cuda")
        mapped = dev.out_of_memory_error(err, "cuda")
        print(f"    message: {mapped}  retry: {getattr(mapped, 'retry', None)}")
    torch.cuda.set_per_process_memory_fraction(1.0)
    seg.clear_cache()
    seg.set_image(image())
    pred = seg.predict(Prompt(points=[(200, 240)], labels=[1]))
    print(f"    after lifting the cap, the same click works: mask of {int((pred.alpha > 0.5).sum())} px")
    del seg
    torch.cuda.empty_cache()


def check_server():
    import cv2
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        token = secrets.token_urlsafe(16)
        (tmp / "token").write_text(token)
        os.chmod(tmp / "token", 0o600)
        (tmp / "media").mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp / "media" / f"plate.{1001 + i:04d}.png"), image(t=i)[..., ::-1])
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, "-m", "roto_studio", "serve", "--port", "0", "--token-file",
                                 str(tmp / "token"), "--device", GPU, "--media-root", str(tmp / "media")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        url, lines = None, []
        end = time.monotonic() + 120
        while time.monotonic() < end:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line:
                url = line.strip().split()[-1]
                break
        print("[6] model server with --device cuda")
        if url is None:
            print("    the server did not start:\n" + "".join(lines[-20:]))
            proc.kill()
            return
        try:
            h = {"Authorization": f"Bearer {token}"}
            status = httpx.get(f"{url}/v1/status", headers=h, timeout=30).json()
            print(f"    /v1/status: {status}")
            print(f"    without the token: {httpx.get(f'{url}/v1/status', timeout=30).status_code}")
        finally:
            proc.terminate()
            proc.wait(30)


def _track(prop, src, frames: int, choice):
    from roto_studio.core.prompt import Prompt
    from roto_studio.models.device import inference_context

    h, w = src.height, src.width
    yy, xx = np.mgrid[:h, :w]
    disc = (((xx - 100) ** 2 + (yy - h // 2) ** 2) < 60 ** 2).astype(np.float32)
    out, times = {}, []
    with inference_context(choice):
        prop.start(src)
        prop.add_prompt(src.frame_numbers[0], "a", Prompt(mask=disc))
        sync()
        t = time.perf_counter()
        for f, alphas in prop.propagate(src.frame_numbers[0], stop=src.frame_numbers[0] + frames - 1):
            sync()
            now = time.perf_counter()
            times.append(now - t)
            t = now
            out[f] = alphas["a"]
    steady = times[2:] or times
    return float(np.mean(steady)), out


def check_trackers(frames: int):
    import torch

    from bench_sam2_memory import Jpegs, write_clip
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.device import DeviceChoice
    from roto_studio.models.hf.video import HFVideoPropagator
    from roto_studio.models.sam2.common import from_config
    from roto_studio.models.sam2.video import Sam2VideoPropagator

    size = 128 if DRY else 1024

    def build(name):
        if name == "EdgeTAM":
            model, processor = hf_build.random_edgetam(tiny=DRY)
            return HFVideoPropagator(model.to(GPU), processor, device=GPU, cpu_runtime="torch")
        return Sam2VideoPropagator(from_config("tiny", image_size=size, device=GPU))

    w, h = (320, 180) if DRY else (854, 480)
    print(f"[7] tracking fps at {size} ({frames} frames of {w}x{h}, random weights, {GPU})")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip"
        write_clip(clip, frames, w, h)
        src = Jpegs(clip, frames)
        for name in ("EdgeTAM", "SAM 2.1 tiny"):
            res = {}
            for dtype in ("float32", "bfloat16"):
                prop = build(name)
                res[dtype] = _track(prop, src, frames, DeviceChoice(GPU, dtype, "check"))
                prop.close() if hasattr(prop, "close") else None
                del prop
                if GPU.startswith("cuda"):
                    torch.cuda.empty_cache()
            (t32, m32), (t16, m16) = res["float32"], res["bfloat16"]
            common = sorted(set(m32) & set(m16))
            worst = min(iou(m32[f], m16[f]) for f in common)
            line = (f"    {name}: fp32 {1 / t32:7.1f} fps, bf16 {1 / t16:7.1f} fps ({t32 / t16:.2f}x); "
                    f"bf16 masks vs fp32: min IoU {worst:.3f} (target >= 0.99)")
            if name.startswith("SAM") and not DRY:
                ref = PUBLISHED_SAM21_TINY_FPS["A100"]
                best = max(1 / t32, 1 / t16)
                line += f"; best {best / ref:.0%} of the published {ref} fps (A100; target >= 80% on that class)"
            print(line, flush=True)


def check_onnx_cuda():
    import torch

    from roto_studio.models.cpu import runtime as cpu_runtime
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.cpu.export import EdgeTamEncoder

    have = cpu_runtime.installed()
    if have["onnx"] is None:
        print("[8] ONNX Runtime is not installed (extra cpu-runtime): skipped.")
        return
    import onnxruntime as ort

    providers = ort.get_available_providers()
    want = "CPUExecutionProvider" if DRY else "CUDAExecutionProvider"
    if want not in providers:
        print(f"[8] ONNX Runtime {have['onnx']} has no CUDA provider here ({', '.join(providers)}); "
              "install onnxruntime-gpu to check it: skipped.")
        return
    model, _ = hf_build.random_edgetam(tiny=DRY)
    size = int(model.config.image_size)
    module = EdgeTamEncoder(model).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = cpu_runtime.export(module, size, Path(tmp) / "edgetam.onnx")
        enc = cpu_runtime.OnnxEncoder(path, providers=list(dict.fromkeys([want, "CPUExecutionProvider"])))
        x = torch.randn(1, 3, size, size)
        gpu_module = module.to(GPU)
        with torch.inference_mode():
            ref = [r.cpu() for r in gpu_module(x.to(GPU))]
            times_t = [timed(lambda: gpu_module(x.to(GPU)), sync)[1] for _ in range(3 if DRY else 10)]
        got = enc(x)
        times_o = [timed(lambda: enc(x), sync)[1] for _ in range(3 if DRY else 10)]
    diff = max(float((a - b).abs().max()) for a, b in zip(ref, got))
    print(f"[8] EdgeTAM image encoder at {size}: ONNX Runtime {want} {np.median(times_o) * 1000:.1f} ms "
          f"(host arrays in and out) vs PyTorch on {GPU} {np.median(times_t) * 1000:.1f} ms; "
          f"largest difference {diff:.1e} (target <= 1e-3)")


def main() -> int:
    global GPU, DRY
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", type=int, help="run only these checks (2-8)")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU needed: checks 2, 3, 7, 8 on the CPU with tiny sizes (smoke run)")
    args = ap.parse_args()
    if args.dry_run:
        GPU, DRY = "cpu", True
        args.quick = True
        args.only = args.only or [7, 8]
    import torch

    if GPU.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to check.")
        return 2
    if GPU.startswith("cuda"):
        check_device()
    checks = {2: lambda: check_click(5 if args.quick else 20), 3: lambda: check_video(8 if args.quick else 30),
              4: check_inpaint, 5: check_oom, 6: check_server,
              7: lambda: check_trackers(4 if DRY else (12 if args.quick else 40)), 8: check_onnx_cuda}
    failed = False
    for n, fn in checks.items():
        if args.only and n not in args.only or (n == 5 and not GPU.startswith("cuda")) \
                or (DRY and n not in (2, 3, 7, 8)):
            continue
        t = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report and go on to the next check
            import traceback

            print(f"[{n}] FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=6)
            failed = True
        print(f"    ({time.perf_counter() - t:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
