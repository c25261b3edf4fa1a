"""Per-frame waste removed from transformers' SAM 2-family video models (EdgeTAM, SAM 3 tracker).

Their forward recomputes, on every frame, tensors that depend only on the feature shape: the
vision neck's sine position encodings (EdgeTAM's has a one-entry cache for four shapes, so it
always misses; at 1024 the 256x256 level alone is 16M sin/cos), the memory attention's RoPE
cos/sin, the prompt encoder's image-wide encoding. `install_constant_caches(model)` wraps those
calls on this model instance so each is computed once per shape and device and then reused: the
same function on the same inputs, so the values, and every mask after them, are unchanged.

`fuse_backbone(model)` is the opt-in speed-up that does change numerics (in the last float bits):
it folds RepViT's batch norms and parallel branches into single convolutions (timm's own
reparameterisation, as for deployment).
"""

from __future__ import annotations

import inspect

import torch

_SINE_ARGS = ["shape", "device", "dtype", "mask"]


def _cacheable() -> bool:
    # a tensor made under inference_mode must not meet autograd later
    return torch.is_inference_mode_enabled() or not torch.is_grad_enabled()


def _wrap_sine(module) -> None:
    inner = module.forward
    cache: dict = {}

    def forward(shape, device, dtype, mask=None):
        if mask is not None or not _cacheable():
            return inner(shape, device, dtype, mask)
        key = (tuple(shape), str(torch.device(device)), dtype, torch.is_inference_mode_enabled())
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = inner(shape, device, dtype)
        return hit

    module.forward = forward


def _wrap_rope(module) -> None:
    inner = module.forward
    cache: dict = {}

    def forward(x, position_ids):
        if not _cacheable():
            return inner(x, position_ids)
        key = (id(position_ids), str(x.device), torch.is_inference_mode_enabled())
        hit = cache.get(key)
        if hit is None or hit[0] is not position_ids:
            hit = cache[key] = (position_ids, inner(x, position_ids))  # the ref keeps the id unique
        return hit[1]

    module.forward = forward


def _wrap_image_pe(model) -> None:
    inner = model.get_image_wide_positional_embeddings
    cache: dict = {}

    def get_image_wide_positional_embeddings():
        if not _cacheable():
            return inner()
        p = model.shared_image_embedding.positional_embedding
        key = (str(p.device), p.dtype, torch.is_inference_mode_enabled())
        if key not in cache:
            cache[key] = inner()
        return cache[key]

    model.get_image_wide_positional_embeddings = get_image_wide_positional_embeddings


def _params(fn) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def install_constant_caches(model) -> int:
    """Cache shape-only constants on `model` (idempotent). Returns how many calls were wrapped."""
    if getattr(model, "_roto_constant_caches", None) is not None:
        return model._roto_constant_caches
    n = 0
    for module in model.modules():
        name = type(module).__name__
        if name.endswith(("PositionEmbeddingSine", "SinePositionEmbedding")) and _params(module.forward) == _SINE_ARGS:
            _wrap_sine(module)
            n += 1
        elif name.endswith("VisionRotaryEmbedding") and _params(module.forward) == ["x", "position_ids"]:
            _wrap_rope(module)
            n += 1
        if module is not model and hasattr(type(module), "get_image_wide_positional_embeddings") \
                and hasattr(module, "shared_image_embedding"):
            _wrap_image_pe(module)
            n += 1
    if hasattr(type(model), "get_image_wide_positional_embeddings") and hasattr(model, "shared_image_embedding"):
        _wrap_image_pe(model)
        n += 1
    model._roto_constant_caches = n
    return n


def fuse_backbone(model) -> int:
    """Fold batch norms and parallel branches of timm backbones into plain convolutions
    (timm.utils.reparameterize_model). Faster on CPUs; numerics differ in the last bits. Returns the
    number of backbones fused."""
    from timm.utils.model import reparameterize_model

    n = 0
    for module in list(model.modules()):
        timm_model = getattr(module, "timm_model", None)
        if isinstance(timm_model, torch.nn.Module) and not getattr(module, "_roto_fused", False):
            reparameterize_model(timm_model, inplace=True)
            module._roto_fused = True
            n += 1
    return n
