"""Cutie video propagation (rf-cutie, MIT) behind the VideoPropagator interface.

Cutie carries masks from frames that have one (clicks turned into a mask by the image segmenter,
a brush stroke, an imported matte) through the shot with a bounded memory, at a reduced internal
size (default 480 on the short side). Every propagate() call runs a fresh rf-cutie InferenceCore:

- frames are fed one at a time from the FrameSource in the walking order (backward = reversed);
- masks given on frames behind the start (up to `max_seed_frames`, nearest last) are stepped
  first as permanent memory, so a correction at frame N can be re-propagated from N alone;
- a frame with masks inside the walk is stepped with those masks (an index mask) as permanent
  memory through InferenceCore.step only: new objects are added and the others predicted by
  Cutie itself; a correction of some objects is committed whole, as Cutie's GUI does (see
  `_commit`);
- probabilities come back at the internal size and are upsampled to plate size: bilinear
  everywhere, then a guided filter on the plate image refines the soft edge band only.

torch and rf-cutie are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.core.guided import guided_filter
from roto_studio.core.masks import to_alpha
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import FrameSource, PropagationSteps, VideoPropagator

DEFAULT_SIZE = 480
MIN_SIZE = 96  # below this Cutie's memory has fewer tokens than its top-k read (30) and fails
VARIANTS = ("base", "small")
WEIGHT_NAMES = {"base": "cutie-base", "small": "cutie-small"}  # registry names
WEIGHT_FILES = {"base": "cutie-base-mega.pth", "small": "cutie-small-mega.pth"}
INSTALL_HINT = "install it with: pip install 'rf-cutie[inference]'"

_build_lock = threading.Lock()


# ---------------------------------------------------------------- availability and weights

def _import_cutie():
    try:
        import torch  # noqa: F401
        from cutie.inference.inference_core import InferenceCore  # noqa: F401
        from cutie.model.cutie import CUTIE  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        raise ModelError(f"the Cutie backend needs rf-cutie, which cannot be imported ({exc}); {INSTALL_HINT}.") from exc


def find_weights(variant: str | None = None) -> Path | None:
    """A Cutie checkpoint on disk, or None: env ROTO_CUTIE_WEIGHTS (a file, used as given), else the
    checked registry entries 'cutie-base' / 'cutie-small' (models.weights.store)."""
    env = os.environ.get("ROTO_CUTIE_WEIGHTS")
    if env and Path(env).is_file():
        return Path(env)
    from roto_studio.models.weights import store as weights

    _, path, _ = weights.pick([WEIGHT_NAMES[v] for v in ([variant] if variant else VARIANTS)])
    return path


def missing_message(variant: str | None = None) -> str:
    """Why no Cutie weights can be used: the state of the file at fault and the command that fixes it."""
    from roto_studio.models.weights import store as weights

    _, _, why = weights.pick([WEIGHT_NAMES[v] for v in ([variant] if variant else VARIANTS)])
    return f"{why.rstrip('.')} (or set ROTO_CUTIE_WEIGHTS to a cutie-*.pth file)."


def available() -> tuple[bool, str]:
    """(True, what will be used) when rf-cutie imports and weights are present, else (False, why)."""
    try:
        _import_cutie()
    except ModelError as exc:
        return False, str(exc)
    path = find_weights()
    if path is None:
        return False, missing_message()
    return True, f"Cutie with {path.name}"


# ---------------------------------------------------------------- config and network

def cutie_config(variant: str = "base", **overrides):
    """rf-cutie's packaged inference config (gui_config.yaml + model/<variant>.yaml) as a DictConfig.

    Read with OmegaConf directly (no global Hydra state). Long-term memory is on, so memory stays
    bounded on long shots. max_internal_size is -1: this backend resizes frames itself.
    """
    _import_cutie()
    import cutie
    from omegaconf import DictConfig, OmegaConf, open_dict

    if variant not in VARIANTS:
        raise ModelError(f"unknown Cutie variant {variant!r}; use one of: {', '.join(VARIANTS)}.")
    root = Path(cutie.__path__[0]) / "config"
    cfg = OmegaConf.load(root / "gui_config.yaml")
    assert isinstance(cfg, DictConfig)  # a YAML mapping, as every Cutie config is
    model = OmegaConf.load(root / "model" / "base.yaml")
    if variant != "base":
        extra = OmegaConf.load(root / "model" / f"{variant}.yaml")
        assert isinstance(extra, DictConfig)
        extra.pop("defaults", None)
        model = OmegaConf.merge(model, extra)
    with open_dict(cfg):
        cfg.pop("defaults", None)
        cfg.model = model
        cfg.max_internal_size = -1
        cfg.amp = False
        for key, value in overrides.items():
            OmegaConf.update(cfg, key, value, merge=True)
    return cfg


@contextlib.contextmanager
def _no_imagenet_download():
    """Build Cutie's ResNets without their ImageNet weights (a checkpoint replaces them anyway).

    rf-cutie hard-codes pretrained=True, which downloads from the network; we swap the ResNet
    factory module that big_modules looks up for one that forces pretrained=False.
    """
    from types import SimpleNamespace

    from cutie.model import big_modules
    from cutie.model.utils import resnet

    def make(fn):
        def build(pretrained=True, extra_dim=0, model_dir=None):
            return fn(pretrained=False, extra_dim=extra_dim, model_dir=model_dir)
        return build

    offline = SimpleNamespace(resnet18=make(resnet.resnet18), resnet50=make(resnet.resnet50))
    with _build_lock:
        saved = big_modules.resnet
        big_modules.resnet = offline
        try:
            yield
        finally:
            big_modules.resnet = saved


def build_network(cfg, seed: int | None = 0, device: str = "cpu"):
    """An eval-mode CUTIE network from `cfg`, with random weights drawn from `seed` (offline)."""
    _import_cutie()
    import torch
    from cutie.model.cutie import CUTIE

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        with _no_imagenet_download():
            net = CUTIE(cfg)
    return net.to(device).eval()


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A Cutie state dict from a .pth file (torch.load with weights_only=True)."""
    _import_cutie()
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Cutie weights not found at {path}; download them with `roto-studio models download cutie-base`.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path.name} cannot be read as Cutie weights ({exc.__class__.__name__}); download it again.") from exc
    if isinstance(state, dict) and "weights" in state and isinstance(state["weights"], dict):
        state = state["weights"]  # training checkpoints wrap the network weights
    if not isinstance(state, dict) or "pix_feat_proj.weight" not in state:
        raise ModelError(f"{path.name} is not a Cutie checkpoint; use cutie-base-mega.pth or cutie-small-mega.pth.")
    return state


def variant_of(state: dict) -> str:
    """'base' (ResNet-50 pixel encoder) or 'small' (ResNet-18), from a Cutie state dict."""
    channels = int(state["pix_feat_proj.weight"].shape[1])
    if channels == 1024:
        return "base"
    if channels == 256:
        return "small"
    raise ModelError(f"unknown Cutie checkpoint layout (pixel features {channels}); use a base or small checkpoint.")


# ---------------------------------------------------------------- image helpers

def internal_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) Cutie works at: the short side brought down to `size` (never up), as rf-cutie does."""
    short = min(height, width)
    if size <= 0 or short <= size:
        return height, width
    return int(height / short * size), int(width / short * size)


def _resize(img: np.ndarray, hw: tuple[int, int], linear: bool = False) -> np.ndarray:
    import cv2

    h, w = hw
    if img.shape[:2] == (h, w):
        return img
    down = h < img.shape[0]
    interp = cv2.INTER_AREA if (down and not linear) else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp)


def upsample_alpha(prob: np.ndarray, shape: tuple[int, int], image: np.ndarray | None = None,
                   refine: bool = True, eps: float = 1e-3) -> np.ndarray:
    """Probability at the internal size -> float32 alpha at plate size `shape` (h, w).

    Bilinear everywhere; with `image` (the plate, HxWx3 uint8) and `refine`, the soft edge band
    (0.01 < alpha < 0.99 after bilinear) is replaced by a guided-filter result that follows the
    plate's own edges. Pixels outside the band are the bilinear values untouched.
    """
    h, w = shape
    prob = np.ascontiguousarray(prob, dtype=np.float32)
    if prob.shape == (h, w):
        return np.clip(prob, 0.0, 1.0)
    up = np.clip(_resize(prob, (h, w), linear=True), 0.0, 1.0)
    scale = h / prob.shape[0]
    if not refine or image is None or scale < 1.5:
        return up
    band = (up > 0.01) & (up < 0.99)
    if not band.any():
        return up
    radius = 2 * int(np.ceil(scale))  # windows must straddle the whole bilinear ramp
    ys, xs = np.nonzero(band)
    y0, y1 = max(0, ys.min() - 2 * radius), min(h, ys.max() + 2 * radius + 1)
    x0, x1 = max(0, xs.min() - 2 * radius), min(w, xs.max() + 2 * radius + 1)
    crop = image[y0:y1, x0:x1].astype(np.float32)
    guide = (crop[..., 0] * 0.299 + crop[..., 1] * 0.587 + crop[..., 2] * 0.114) / 255.0
    fine = np.clip(guided_filter(guide, up[y0:y1, x0:x1], radius, eps), 0.0, 1.0)
    sub = band[y0:y1, x0:x1]
    up[y0:y1, x0:x1][sub] = fine[sub]
    return up


def _as_alpha(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    if m.ndim != 2:
        raise ModelError(f"a mask must be a single-channel image, got shape {m.shape}; pass HxW alpha.")
    m = to_alpha(m)
    if m.shape != tuple(shape):
        m = _resize(m, shape, linear=True)
    return np.clip(m, 0.0, 1.0)


# ---------------------------------------------------------------- the backend

class CutieVideoPropagator(VideoPropagator):
    """Cutie behind VideoPropagator. Build with `load()` (checkpoint) or `from_config()` (random)."""

    name = "cutie"

    def __init__(self, network, cfg, device=None, size: int = DEFAULT_SIZE, refine_edges: bool = True,
                 max_seed_frames: int = 8):
        from roto_studio.models.device import DeviceChoice

        self.network = network
        self.cfg = cfg
        if device is None or isinstance(device, str):
            import torch

            dev = str(device or network.device)
            dtype = "float32"
            if dev.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
                dtype = "bfloat16"
            device = DeviceChoice(dev, dtype, "given")
        self.device = device
        if 0 < int(size) < MIN_SIZE:
            raise ModelError(f"Cutie's internal size must be at least {MIN_SIZE} pixels (got {size}); use 480, or more for hair.")
        self.size = int(size)
        self.refine_edges = refine_edges
        self.max_seed_frames = max_seed_frames
        self._frames: FrameSource | None = None
        self._numbers: list[int] = []
        self._prompts: dict[int, dict[str, np.ndarray]] = {}
        self._ids: dict[str, int] = {}
        self._next_id = 1

    # -- construction

    @classmethod
    def from_config(cls, variant: str = "base", seed: int | None = 0, device: str = "cpu",
                    size: int = DEFAULT_SIZE, **kwargs) -> "CutieVideoPropagator":
        """Cutie from rf-cutie's packaged config with seeded random weights (tests, benchmarks)."""
        cfg = cutie_config(variant)
        return cls(build_network(cfg, seed=seed, device=device), cfg, device=device, size=size, **kwargs)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None, device: str | None = None,
             size: int = DEFAULT_SIZE, **kwargs) -> "CutieVideoPropagator":
        """Cutie from a checkpoint (default: the downloaded cutie-base, else cutie-small).

        device None = CUDA, else Apple MPS, else CPU (or ROTO_DEVICE); works on all three.
        """
        from roto_studio.models.device import choose_device

        _import_cutie()
        path = Path(checkpoint) if checkpoint else find_weights()
        if path is None:
            raise ModelError(missing_message())
        state = read_checkpoint(path)
        variant = variant_of(state)
        choice = choose_device(device)
        cfg = cutie_config(variant)
        net = build_network(cfg, seed=None, device="cpu")
        missing = [k for k in net.state_dict() if k not in state]
        if len(missing) > 0.1 * len(net.state_dict()):
            raise ModelError(f"{path.name} does not match Cutie {variant} ({len(missing)} weights missing); download it again.")
        net.load_weights(state)
        net = net.to(choice.device).eval()
        return cls(net, cfg, device=choice, size=size, **kwargs)

    # -- session

    def start(self, frames: FrameSource) -> None:
        self._frames = frames
        self._numbers = list(frames.frame_numbers)
        self.reset()

    def reset(self) -> None:
        self._prompts.clear()
        self._ids.clear()
        self._next_id = 1

    def remove_object(self, obj_id: str) -> None:
        self._ids.pop(obj_id, None)
        for frame in list(self._prompts):
            self._prompts[frame].pop(obj_id, None)
            if not self._prompts[frame]:
                del self._prompts[frame]

    def objects(self) -> list[str]:
        return list(self._ids)

    def prompt_frames(self, obj_id: str | None = None) -> list[int]:
        """Frames holding a mask (for `obj_id`, or for any object)."""
        return sorted(f for f, objs in self._prompts.items() if obj_id is None or obj_id in objs)

    def affected_span(self, frame: int, reverse: bool = False) -> tuple[int, int]:
        """Frames a mask on `frame` changes when propagated that way: up to (not including) the next
        frame with a mask, else the end of the shot. Returned as (first, last) in walking order."""
        self._need_frames()
        if reverse:
            later = [f for f in self._prompts if f < frame]
            ahead = [n for n in self._numbers if n < frame and (not later or n > max(later))]
            return frame, (min(ahead) if ahead else frame)
        later = [f for f in self._prompts if f > frame]
        ahead = [n for n in self._numbers if n > frame and (not later or n < min(later))]
        return frame, (max(ahead) if ahead else frame)

    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        """Store `prompt.mask` for `obj_id` on `frame` (permanent memory when propagating).

        Cutie only takes masks: clicks or a box must first become a mask via the image segmenter.
        """
        frames = self._need_frames()
        if frame not in self._numbers:
            raise ModelError(f"frame {frame} is not in this shot ({self._numbers[0]}-{self._numbers[-1]}).")
        if prompt.mask is None:
            raise ModelError("Cutie needs a mask, not clicks or a box: make the mask with the image "
                             "segmenter (SAM 2) or the brush first, then propagate with Cutie.")
        alpha = _as_alpha(prompt.mask, (frames.height, frames.width))
        if obj_id not in self._ids:
            self._ids[obj_id] = self._next_id
            self._next_id += 1
        self._prompts.setdefault(frame, {})[obj_id] = alpha
        return alpha.copy()

    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> PropagationSteps:
        """Yield (frame, {obj_id: alpha}) from `start` to `stop` (inclusive). Frames before any mask
        is known yield an empty dict. Closing the generator stops between frames."""
        self._need_frames()
        if start not in self._numbers:
            raise ModelError(f"frame {start} is not in this shot ({self._numbers[0]}-{self._numbers[-1]}).")
        if reverse:
            stop = self._numbers[0] if stop is None else stop
            walk = [n for n in reversed(self._numbers) if stop <= n <= start]
            behind = sorted((f for f in self._prompts if f > start), reverse=True)
        else:
            stop = self._numbers[-1] if stop is None else stop
            walk = [n for n in self._numbers if start <= n <= stop]
            behind = sorted(f for f in self._prompts if f < start)
        if not walk:
            raise ModelError(f"stop frame {stop} lies behind start frame {start} for this direction; swap them or flip the direction.")
        seeds = behind[-self.max_seed_frames:] if self.max_seed_frames > 0 else []
        if not seeds and not any(f in self._prompts for f in walk):
            where = "after" if reverse else "before"
            raise ModelError(f"Cutie has no mask to start from: add a mask on frame {start} or {where} it, then propagate.")
        return self._run(seeds, walk)

    # -- internals

    def _need_frames(self) -> FrameSource:
        if self._frames is None or not self._numbers:
            raise ModelError("no shot is loaded in the Cutie backend; open media first.")
        return self._frames

    def _run(self, seeds: Sequence[int], walk: Sequence[int]) -> PropagationSteps:
        from cutie.inference.inference_core import InferenceCore

        from roto_studio.models.device import inference_context

        core = InferenceCore(self.network, cfg=self.cfg)
        core.max_internal_size = -1
        try:
            for frame in seeds:
                image = self._need_frames().read(frame)
                with inference_context(self.device):
                    self._step(core, frame, image)
            for frame in walk:
                image = self._need_frames().read(frame)
                with inference_context(self.device):
                    prob = self._step(core, frame, image)
                yield frame, self._alphas(core, prob, frame, image)
        finally:
            core.image_feature_store._store.clear()

    def _step(self, core, frame: int, image: np.ndarray):
        """One InferenceCore.step on `frame`; None when there is nothing in memory yet."""
        import torch

        hw = internal_shape(image.shape[0], image.shape[1], self.size)
        dev = self.device.device
        tensor = torch.from_numpy(np.ascontiguousarray(_resize(image, hw))).to(dev)
        tensor = tensor.permute(2, 0, 1).float().div_(255.0)
        given = self._prompts.get(frame)
        if not given:
            if not core.memory.engaged:
                return None
            return core.step(tensor)
        return self._commit(core, tensor, {self._ids[o]: _resize(a, hw) for o, a in given.items()})

    @staticmethod
    def _commit(core, tensor, given: dict[int, np.ndarray]):
        """Step a frame with masks as permanent memory, through rf-cutie's own step() only.

        The masks go in as an index mask (each pixel the id of the given object covering it most).
        A first mask, masks for every known object, or only new objects (an object added mid-shot):
        one step with those ids; Cutie adds the new objects itself and predicts the others. A
        correction of some known objects but not all (rf-cutie's step cannot take that) is
        committed as Cutie's own GUI does: the frame as propagation shows it (a step that stores
        nothing), the corrected objects replaced by the user's masks, the whole frame stepped as
        permanent memory.
        """
        import torch

        ids = sorted(given)
        stack = np.stack([np.asarray(given[c], np.float32) for c in ids])
        index = np.where(stack.max(0) > 0.5, np.asarray(ids)[stack.argmax(0)], 0).astype(np.int64)
        known = list(core.object_manager.all_obj_ids)
        corrected = [c for c in ids if c in known]
        if corrected and any(c not in given for c in known):
            # what propagation shows there; end=True: this look changes no memory (sensory included),
            # so the frame is committed once, as Cutie's documented run with the whole mask would
            shown = core.output_prob_to_mask(core.step(tensor, end=True)).cpu().numpy()
            shown[np.isin(shown, corrected)] = 0
            index = np.where(index > 0, index, shown)
            ids = sorted(set(known) | set(ids))
        mask = torch.from_numpy(index).to(tensor.device)
        return core.step(tensor, mask, objects=ids, force_permanent=True)

    def _alphas(self, core, prob, frame: int, image: np.ndarray) -> dict[str, np.ndarray]:
        if prob is None:
            return {}
        names = {cid: name for name, cid in self._ids.items()}
        prob = prob.float().cpu().numpy()
        given = self._prompts.get(frame, {})
        shape = image.shape[:2]
        out: dict[str, np.ndarray] = {}
        for tmp, obj in core.object_manager.tmp_id_to_obj.items():
            name = names.get(obj.id)
            if name is None:
                continue
            if name in given:
                out[name] = given[name].copy()  # the user's own mask stays as given
            else:
                out[name] = upsample_alpha(prob[tmp], shape, image, refine=self.refine_edges)
        return out
