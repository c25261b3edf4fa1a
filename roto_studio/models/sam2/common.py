"""Building SAM 2 models: from a checkpoint (real weights) or from a config (seeded random weights).

One SAM2VideoPredictor model serves both the image backend (SAM2ImagePredictor wraps any SAM2Base)
and the video backend, so a loaded checkpoint is held once.

torch and sam2 are imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import re
from pathlib import Path

from roto_studio.core.errors import ModelError

# Shipped sam2 yaml per model size (inside the sam2 package, found by hydra).
CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base-plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
_ALIASES = {"t": "tiny", "s": "small", "b+": "base-plus", "base_plus": "base-plus",
            "baseplus": "base-plus", "b": "base-plus", "l": "large"}

# Our settings on top of the stock predictor's: a correction on an already tracked frame becomes
# a conditioning frame, so propagation from it keeps the correction (stock default: it does not).
EXTRA_OVERRIDES = ["++model.add_all_frames_to_correct_as_cond=true"]


def config_for(name: str) -> str:
    """The sam2 yaml for a model name ('sam2.1-tiny', 'tiny', 'sam2.1_hiera_b+', a .pt file name...)."""
    text = Path(str(name)).name.lower()
    if str(name).startswith("configs/"):
        return str(name)
    if text.endswith(".yaml") and text.startswith("sam2"):
        return str(name) if "/" in str(name) else f"configs/sam2.1/{text}"
    try:  # the registry knows the names users type
        from roto_studio.models.weights import registry

        for spec in registry.by_kind("sam2"):
            if text in (spec.name, spec.filename.lower()) and spec.config:
                return spec.config
    except ImportError:
        pass
    m = re.search(r"(base[-_]?plus|b\+|tiny|small|large|hiera_[tslb]\b)", text.replace(".pt", ""))
    if m:
        key = m.group(1).replace("hiera_", "")
        key = _ALIASES.get(key, key)
        if key in CONFIGS:
            return CONFIGS[key]
    raise ModelError(f"cannot tell which SAM 2 model {name!r} is; use one of "
                     "sam2.1-tiny, sam2.1-small, sam2.1-base-plus, sam2.1-large.")


def _overrides(image_size: int | None, extra=()) -> list[str]:
    out = list(EXTRA_OVERRIDES)
    if image_size:
        out.append(f"++model.image_size={int(image_size)}")
    out.extend(extra)
    return out


def _ensure_hydra():
    """sam2 registers its configs with hydra when imported; make sure that happened."""
    try:
        import sam2  # noqa: F401  (initialises hydra's config search path)
        from sam2.build_sam import build_sam2_video_predictor
    except ImportError as exc:
        raise ModelError(f"SAM 2 is not installed ({exc.name or exc}); "
                         "install it with `pip install -e .[sam2]` (see README).") from None
    return build_sam2_video_predictor


def _finish(model):
    """Without sam2's compiled extension, hole filling is skipped anyway (with a warning on every
    frame); switch it off so the result is the same and the log stays quiet."""
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        model.fill_hole_area = 0
    return model


def from_config(config_name: str = "tiny", image_size: int = 256, seed: int = 0,
                device: str = "cpu", extra_overrides=()):
    """A SAM2VideoPredictor built from the shipped config with seeded random weights (tests, benchmarks)."""
    import torch

    build = _ensure_hydra()
    cfg = config_for(config_name)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = build(cfg, None, device=device, hydra_overrides_extra=_overrides(image_size, extra_overrides))
    finally:
        torch.random.set_rng_state(state)
    return _finish(model)


def load_checkpoint(model, path) -> None:
    """Load a SAM 2 .pt into `model`, never unpickling code (torch.load weights_only=True)."""
    import torch

    path = Path(path)
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"cannot read SAM 2 weights {path} ({first}); "
                         "run `roto-studio models verify`.") from None
    if isinstance(sd, dict) and "model" in sd:
        sd = sd["model"]
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError:  # same keys, other shapes: another model size
        missing, unexpected = ["(shapes differ)"], []
    if missing or unexpected:
        raise ModelError(f"{path.name} does not match this SAM 2 model ({len(missing)} missing, "
                         f"{len(unexpected)} unexpected keys); pick the matching size or re-download it.")


def load(name_or_path, device: str = "cpu", config: str | None = None, image_size: int | None = None):
    """A SAM2VideoPredictor with real weights.

    name_or_path: a registry name ('sam2.1-tiny': the file is found by models.weights.store, or a
    ModelError names the download command) or a .pt path (its size read from the file name, or
    from `config`).
    """
    path = Path(str(name_or_path))
    if path.suffix == ".pt" or path.is_file():
        if not path.is_file():
            raise ModelError(f"SAM 2 weights not found at {path}; check the path or run "
                             "`roto-studio models download sam2.1-tiny`.")
        cfg = config_for(config or path.name)
    else:
        from roto_studio.models.weights import store as weights

        name = str(name_or_path)
        cfg = config_for(config or name)
        path = weights.require(name)
    build = _ensure_hydra()
    model = build(cfg, None, device="cpu", hydra_overrides_extra=_overrides(image_size))
    load_checkpoint(model, path)
    model = model.to(device)
    model.eval()
    return _finish(model)


def feature_sizes(image_size: int) -> list[tuple[int, int]]:
    """Backbone feature sizes (high res first) for SAM2ImagePredictor at this image size."""
    s = int(image_size)
    return [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
