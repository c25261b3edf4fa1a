"""Choosing and building the segmentation backends: auto | sam2 | classical | cutie | edgetam.

Nothing heavy is imported here at import time (no torch, no sam2): `choose` looks at what is
installed and which weights are on disk and says what it picked and why; `BackendSet` builds the
image segmenter and the video propagator on first use.

Test / benchmark mode: env ROTO_SAM2_RANDOM_WEIGHTS=SIZE (or CONFIG@SIZE, e.g. tiny@256) builds
SAM 2 from its shipped config with seeded random weights instead of loading a checkpoint;
ROTO_EDGETAM_RANDOM_WEIGHTS=tiny (or =full) does the same for EdgeTAM.
ROTO_EDGETAM_FUSE=1 folds EdgeTAM's backbone batch norms into its convolutions (faster on CPUs;
masks differ from the stock model in the last float bits, so it is off by default).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roto_studio.core.errors import ModelError

if TYPE_CHECKING:
    from roto_studio.models.base import ImageSegmenter, VideoPropagator
    from roto_studio.models.device import DeviceChoice

NAMES = ("auto", "sam2", "classical", "cutie", "edgetam")
SAM2_BY_SPEED = ["sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large"]
SAM2_BY_QUALITY_GPU = ["sam2.1-base-plus", "sam2.1-large", "sam2.1-small", "sam2.1-tiny"]
DEFAULT_SAM2 = "sam2.1-tiny"
SMALLER_SIZES = (768, 512)  # SAM 2 input sizes tried after running out of GPU memory


@dataclass
class BackendPlan:
    name: str  # 'sam2' | 'classical' | 'cutie' | 'edgetam'
    reason: str  # one line for the user: why this backend
    model: str | None = None  # registry name (e.g. sam2.1-tiny)
    weights: Path | None = None  # checkpoint file (EdgeTAM: its weights folder)
    random: tuple[str, int] | None = None  # (config, image size): random weights, tests only
    device: str | None = None  # None = models.device.choose_device(); 'cpu' forces the CPU
    image_size: int | None = None  # SAM 2 input size override (smaller after OOM)
    offload: bool = False  # SAM 2 video state kept on the CPU (after OOM)
    notes: list[str] = field(default_factory=list)

    @property
    def uses_torch(self) -> bool:
        return self.name in ("sam2", "cutie", "edgetam")

    def describe(self) -> str:
        what = self.name
        if self.name == "sam2":
            what += f" ({self.model or 'random weights'})" if not self.random else " (random weights, test mode)"
        return f"{what}: {self.reason}"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def random_mode(value: str | None = None) -> tuple[str, int] | None:
    text = (value if value is not None else os.environ.get("ROTO_SAM2_RANDOM_WEIGHTS", "")).strip()
    if not text:
        return None
    config, _, size = text.rpartition("@")
    try:
        return (config or "tiny", int(size))
    except ValueError:
        raise ModelError(f"ROTO_SAM2_RANDOM_WEIGHTS={text!r} is not SIZE or CONFIG@SIZE (e.g. tiny@256).") from None


def sam2_weights(model: str | None) -> tuple[str | None, Path | None, str]:
    """(registry name, file, why-not) of the SAM 2 weights to use."""
    from roto_studio.models.weights import store as weights

    if model:
        name, path, why = weights.pick([model], auto=False)  # named by the user
        return model, path, why
    from roto_studio.models.weights import registry

    from roto_studio.models.weights import licences

    names = [spec.name for spec in registry.by_kind("sam2") if licences.auto_may_use(spec.name)]
    barred = [spec.name for spec in registry.by_kind("sam2") if spec.name not in names]
    names.sort(key=lambda n: SAM2_BY_SPEED.index(n) if n in SAM2_BY_SPEED else len(SAM2_BY_SPEED))
    found = [(n, weights.find(n)) for n in names]
    found = [(n, p) for n, p in found if p is not None]
    barred = [n for n in barred if weights.find(n) is not None]
    if not found and barred:  # present, but its licence keeps it from Auto
        return None, None, licences.skipped_line(barred)
    if not found:
        _, _, why = weights.pick([DEFAULT_SAM2] + [n for n in names if n != DEFAULT_SAM2])
        return None, None, f"{why.rstrip('.')} (for better masks)"
    if len(found) > 1:
        from roto_studio.models.device import choose_device

        try:
            gpu = choose_device().kind != "cpu"
        except ModelError:
            gpu = False
        order = SAM2_BY_QUALITY_GPU if gpu else SAM2_BY_SPEED
        found.sort(key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    return found[0][0], found[0][1], ""


def choose(name: str = "auto", weights: str | os.PathLike | None = None, model: str | None = None,
           device: str | None = None) -> BackendPlan:
    """Pick a backend. name: auto | sam2 | classical | cutie. weights: a checkpoint file, or a
    folder to search (an offline weights folder). model: a SAM 2 registry name."""
    name = (name or "auto").lower()
    if name not in NAMES:
        raise ModelError(f"unknown backend {name!r}; use one of {', '.join(NAMES)}.")
    model = model or os.environ.get("ROTO_SAM2_MODEL") or None
    wfile = None
    if weights:
        wpath = Path(weights).expanduser()
        if wpath.is_dir():
            from roto_studio.models.weights import store as wmod

            wmod.add_offline_folder(wpath)
        elif wpath.is_file():
            wfile = wpath
        else:
            raise ModelError(f"--weights {wpath} does not exist; give a checkpoint file or a folder of weights.")

    if name == "classical":
        return BackendPlan("classical", "requested (CPU, no weights needed)", device="cpu")

    if name == "cutie":
        if not _installed("cutie"):
            raise ModelError("the Cutie backend needs rf-cutie; pip install -e .[cutie] (see README).")
        if wfile is None:
            from roto_studio.models.cutie import video as cutie_video

            wfile = cutie_video.find_weights()
            if wfile is None:
                raise ModelError(cutie_video.missing_message())
        return BackendPlan("cutie", f"requested, weights {wfile.name}", weights=wfile, device=device)

    if name == "edgetam":
        return _edgetam_plan(wfile, weights, device)

    random = random_mode()
    sam2_ok = _installed("sam2") and _installed("torch")
    if name == "sam2" or (name == "auto" and sam2_ok):
        if not sam2_ok:
            raise ModelError("SAM 2 is not installed; install it with `pip install -e .[sam2]` (see README) "
                             "or use --backend classical.")
        if random:
            return BackendPlan("sam2", "SAM 2 from its config with random weights (ROTO_SAM2_RANDOM_WEIGHTS)",
                               random=random, device=device)
        if wfile is not None:
            return BackendPlan("sam2", f"weights {wfile.name}", model=model, weights=wfile, device=device)
        reg, path, why = sam2_weights(model)
        if path is not None:
            return BackendPlan("sam2", f"SAM 2 weights found ({path})", model=reg, weights=path, device=device)
        if name == "sam2":
            raise ModelError(f"cannot use SAM 2: {why}.")
        return BackendPlan("classical", f"{why}; using the CPU fallback", device="cpu")
    return BackendPlan("classical", "SAM 2 is not installed; using the CPU fallback", device="cpu")


def _edgetam_plan(wfile, weights, device) -> BackendPlan:
    if not (_installed("transformers") and _installed("timm")):
        raise ModelError("EdgeTAM needs transformers and timm; pip install -e .[edgetam] (see README).")
    size = os.environ.get("ROTO_EDGETAM_RANDOM_WEIGHTS", "").strip().lower()
    if size:
        if size not in ("tiny", "full"):
            raise ModelError(f"ROTO_EDGETAM_RANDOM_WEIGHTS={size!r} is not tiny or full.")
        return BackendPlan("edgetam", "EdgeTAM from its config with random weights (ROTO_EDGETAM_RANDOM_WEIGHTS)",
                           random=(size, 128 if size == "tiny" else 1024), device=device)
    folder = None
    if weights and Path(weights).is_dir() and (Path(weights) / "config.json").is_file():
        folder = Path(weights)
    elif wfile is not None and wfile.name == "config.json":
        folder = wfile.parent
    else:
        from roto_studio.models.weights import store as wmod

        path = wmod.find("edgetam")
        folder = path.parent if path is not None else None
    if folder is None:
        raise ModelError("the EdgeTAM weights are missing; run `roto-studio models download edgetam`.")
    return BackendPlan("edgetam", f"requested, weights in {folder}", model="edgetam", weights=folder, device=device)


class BackendSet:
    """The image segmenter and video propagator of a plan, built on first use (in the thread that
    uses them). For SAM 2 both share one model. models.base.Backends in this process."""

    reads_own_frames = False
    retries_by_itself: tuple[str, ...] = ()
    session = None

    def __init__(self, plan: BackendPlan, spill_dir: Path | None = None):
        self.plan = plan
        self.spill_dir = spill_dir  # where SAM 2 spills memory (core.spill.spill_root)
        self._image: ImageSegmenter | None = None
        self._video: VideoPropagator | None = None
        self._sam2_model: Any = None  # a sam2 SAM2Base (sam2 ships no type hints)
        self._device: DeviceChoice | None = None
        self._clicks_model: str | None = None

    @property
    def built_video(self):
        """The video propagator when it has been built, else None (nothing is built to ask)."""
        return self._video

    @property
    def device(self):
        """models.device.DeviceChoice for torch backends, None for the classical one."""
        if self._device is None and self.plan.uses_torch:
            from roto_studio.models.device import choose_device, cpu

            self._device = cpu() if self.plan.device == "cpu" else choose_device(self.plan.device)
        return self._device

    def _sam2(self):
        if self._sam2_model is None:
            from roto_studio.models.sam2 import common as sam2_common

            dev = self.device.device
            if self.plan.random and self.plan.name == "sam2":
                config, size = self.plan.random
                self._sam2_model = sam2_common.from_config(config, image_size=self.plan.image_size or size,
                                                           seed=0, device=dev)
            elif self.plan.name in ("cutie", "edgetam"):  # SAM 2 only answers the clicks
                random = random_mode()
                if random:
                    self._sam2_model = sam2_common.from_config(random[0], image_size=random[1], seed=0, device=dev)
                else:
                    self._sam2_model = sam2_common.load(self._clicks_model, device=dev)
            else:
                target = self.plan.weights or self.plan.model or DEFAULT_SAM2
                config = None
                if self.plan.weights is not None and self.plan.model:
                    config = sam2_common.config_for(self.plan.model)
                self._sam2_model = sam2_common.load(target, device=dev, config=config,
                                                    image_size=self.plan.image_size)
        return self._sam2_model

    @property
    def image(self):
        if self._image is None:
            if self.plan.name == "sam2" or (self.plan.name in ("cutie", "edgetam") and self._sam2_for_clicks()):
                from roto_studio.models.sam2.image import Sam2ImageSegmenter

                self._image = Sam2ImageSegmenter(self._sam2())
            else:
                from roto_studio.models.classical import GrabCutSegmenter

                self._image = GrabCutSegmenter()
        return self._image

    def _sam2_for_clicks(self) -> bool:
        if not (_installed("sam2") and _installed("torch")):
            return False
        if random_mode():
            return True
        reg, path, _ = sam2_weights(None)
        self._clicks_model = reg
        return path is not None

    @property
    def video(self):
        if self._video is None:
            if self.plan.name == "sam2":
                from roto_studio.models.sam2.video import Sam2VideoPropagator

                self._video = Sam2VideoPropagator(self._sam2(), offload_state_to_cpu=self.plan.offload,
                                                  spill_dir=self.spill_dir)
            elif self.plan.name == "cutie":
                from roto_studio.models.cutie.video import CutieVideoPropagator

                self._video = CutieVideoPropagator.load(self.plan.weights, device=self.device.device)
            elif self.plan.name == "edgetam":
                self._video = self._edgetam()
            else:
                from roto_studio.models.classical import FlowPropagator

                self._video = FlowPropagator()
        return self._video

    def _edgetam(self):
        from roto_studio.models.hf import build as hf_build
        from roto_studio.models.hf.video import HFVideoPropagator

        dev = self.device.device
        if self.plan.random:
            model, processor = hf_build.random_edgetam(tiny=self.plan.random[0] == "tiny")
        else:
            model, processor = hf_build.load("edgetam", self.plan.weights, device=dev)
        fuse = os.environ.get("ROTO_EDGETAM_FUSE", "").strip() not in ("", "0")
        weights = None
        if self.plan.weights is not None:  # the export to the CPU runtime is cached per weights file hash
            found = sorted(Path(self.plan.weights).glob("*.safetensors")) if Path(self.plan.weights).is_dir() else []
            weights = found[0] if found else self.plan.weights
        return HFVideoPropagator(model.to(dev), processor, device=dev, name="edgetam", spill_dir=self.spill_dir,
                                 fuse=fuse, weights_path=weights)

    @property
    def built(self) -> bool:
        return self._image is not None or self._video is not None

    def out_of_memory(self, exc: BaseException):
        where = self.device.device if self.device is not None else "cpu"
        return local_out_of_memory(exc, where, retry_options(self.plan, where))

    def retry_options(self, where: str) -> tuple[str, ...]:
        return retry_options(self.plan, where)

    def retried(self, option: str) -> "BackendSet":
        plan = retry_plan(self.plan, option)
        self.close()
        return BackendSet(plan, self.spill_dir)

    def close(self) -> None:
        self._image = self._video = self._sam2_model = None
        if self.plan.uses_torch:
            from roto_studio.models.device import free_memory

            free_memory()


class GivenBackends:
    """Models built by the caller (tests, benchmarks, a custom segmenter): models.base.Backends
    over an image segmenter and/or video propagator that cannot be rebuilt."""

    reads_own_frames = False
    retries_by_itself: tuple[str, ...] = ()
    session = None
    device = None

    def __init__(self, image=None, video=None, plan: BackendPlan | None = None):
        self._image, self._video = image, video
        self.plan = plan or BackendPlan(getattr(video or image, "name", "custom"), "given by the caller",
                                        device="cpu")

    @property
    def image(self):
        if self._image is None:
            raise ModelError("no image segmenter was given to this engine; make it with one.")
        return self._image

    @property
    def video(self):
        if self._video is None:
            raise ModelError("no video propagator was given to this engine; make it with one.")
        return self._video

    def out_of_memory(self, exc: BaseException):
        return local_out_of_memory(exc, "cpu")

    def retry_options(self, where: str) -> tuple[str, ...]:
        return ()

    def retried(self, option: str) -> "GivenBackends":
        raise ModelError("these backends were given by the caller and cannot be rebuilt.")

    def close(self) -> None:
        pass


def retry_plan(plan: BackendPlan, option: str) -> BackendPlan:
    """The plan to use after running out of memory: 'offload', 'smaller' or 'cpu'."""
    if option == "cpu":
        return replace(plan, device="cpu", notes=plan.notes + ["moved to the CPU after running out of GPU memory"])
    if option == "offload" and plan.name == "sam2":
        return replace(plan, offload=True, notes=plan.notes + ["video state kept on the CPU"])
    if option == "smaller" and plan.name == "sam2":
        current = plan.image_size or (plan.random[1] if plan.random else 1024)
        smaller = [s for s in SMALLER_SIZES if s < current]
        if smaller:
            return replace(plan, image_size=smaller[0], notes=plan.notes + [f"SAM 2 input size {smaller[0]}"])
    raise ModelError(f"no '{option}' retry for the {plan.name} backend; retry on the CPU instead.")


def retry_options(plan: BackendPlan, device: str) -> tuple[str, ...]:
    out = []
    if plan.name == "sam2" and not plan.offload and not device.startswith("cpu"):
        out.append("offload")
    if plan.name == "sam2":
        current = plan.image_size or (plan.random[1] if plan.random else 1024)
        if any(s < current for s in SMALLER_SIZES):
            out.append("smaller")
    if not device.startswith("cpu"):
        out.append("cpu")
    return tuple(out)


def local_out_of_memory(exc: BaseException, where: str, retry: tuple[str, ...] = ()):
    """DeviceOutOfMemory (after freeing what the device caches) when `exc` is an out-of-memory
    error of torch on `where`, else None."""
    from roto_studio.models import device as dev

    if not dev.is_out_of_memory(exc):
        return None
    dev.free_memory(where)
    err = dev.out_of_memory_error(exc, where)
    err.retry = retry
    return err

