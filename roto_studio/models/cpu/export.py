"""What each model family exports to the CPU runtime, and how the exported encoder is put back.

- EdgeTAM (transformers' EdgeTamVideoModel): the vision encoder (RepViT + FPN) and the mask
  decoder's two high-resolution projections, what `get_image_features` computes, exported from a
  copy whose RepViT branches are folded (timm's reparameterisation: equal within float error,
  which the check against the unfolded PyTorch module bounds); the sine position encodings
  (constants of the shape) stay in PyTorch, computed once.
- SAM 2.1 (the sam2 package's SAM2Base): the image encoder (Hiera + FPN) and the same two
  projections, what `forward_image` computes, position encodings likewise kept in PyTorch.

`accelerate_edgetam(model)` / `accelerate_sam2(model)` replace that method on the model
instance when models.cpu.runtime chooses ONNX Runtime, and return the RuntimeChoice.
"""

from __future__ import annotations

import torch

from roto_studio.models.cpu import runtime as cpu_runtime


class EdgeTamEncoder(torch.nn.Module):
    """EdgeTAM's image features as a plain module: pixels -> the FPN levels (projected like
    get_image_features does), high resolution first."""

    def __init__(self, model):
        super().__init__()
        self.vision_encoder = model.vision_encoder
        self.conv_s0 = model.mask_decoder.conv_s0
        self.conv_s1 = model.mask_decoder.conv_s1

    def forward(self, pixel_values):
        out = self.vision_encoder(pixel_values, return_dict=True)
        feats = list(out.fpn_hidden_states)
        feats[0] = self.conv_s0(feats[0])
        feats[1] = self.conv_s1(feats[1])
        return tuple(feats)


def _edgetam_install(model, encoder) -> None:
    from transformers.models.edgetam_video.modeling_edgetam_video import EdgeTamVideoVisionEncoderOutput

    neck = model.vision_encoder.neck
    channels = int(model.config.vision_config.fpn_hidden_size)

    def get_image_features(pixel_values, **kwargs):
        outs = encoder(pixel_values)
        device, dtype = pixel_values.device, pixel_values.dtype
        feats, pos = [], []
        for o in outs:
            o = o.to(device=device, dtype=dtype)
            shape = (o.shape[0], channels, o.shape[2], o.shape[3])
            p = neck.position_encoding(shape, device, dtype).to(dtype)
            feats.append(o.flatten(2).permute(2, 0, 1))
            pos.append(p.flatten(2).permute(2, 0, 1))
        # transformers annotates both as one Tensor; they are per-level tuples (its docstring, its own use)
        return EdgeTamVideoVisionEncoderOutput(
            fpn_hidden_states=feats, fpn_position_encoding=pos)  # type: ignore[arg-type]

    model.get_image_features = get_image_features
    model._roto_cpu_runtime = encoder.runtime


def _folded(module):
    """A copy with RepViT's batch norms and parallel branches folded into single convolutions
    (timm's reparameterisation, hf_speed.fuse_backbone): fewer, larger ops for the export."""
    import copy

    from roto_studio.models.hf.speed import fuse_backbone

    folded = copy.deepcopy(module)
    try:
        fuse_backbone(folded)
    except ImportError:  # no timm: export it as it is
        return module
    return folded.eval()


def accelerate_edgetam(model, weights_path=None, device="cpu", runtime=None) -> cpu_runtime.RuntimeChoice:
    size = int(model.config.image_size)
    module = EdgeTamEncoder(model).eval()
    return cpu_runtime.accelerate(model, "edgetam", module, size, lambda enc: _edgetam_install(model, enc),
                                  weights_path=weights_path, device=device, runtime=runtime,
                                  for_export=_folded)


class Sam2Encoder(torch.nn.Module):
    """SAM 2's forward_image as a plain module: pixels -> backbone_fpn levels (projected)."""

    def __init__(self, model):
        super().__init__()
        self.image_encoder = model.image_encoder
        self.high_res = bool(model.use_high_res_features_in_sam)
        self.conv_s0 = model.sam_mask_decoder.conv_s0 if self.high_res else None
        self.conv_s1 = model.sam_mask_decoder.conv_s1 if self.high_res else None

    def forward(self, pixel_values):
        out = self.image_encoder(pixel_values)
        feats = list(out["backbone_fpn"])
        if self.high_res:
            assert self.conv_s0 is not None and self.conv_s1 is not None  # set with high_res
            feats[0] = self.conv_s0(feats[0])
            feats[1] = self.conv_s1(feats[1])
        return tuple(feats)


def _sam2_install(model, encoder) -> None:
    pos_enc = model.image_encoder.neck.position_encoding
    d_model = int(model.image_encoder.neck.d_model)
    cache: dict = {}

    def forward_image(img_batch):
        outs = encoder(img_batch)
        device, dtype = img_batch.device, img_batch.dtype
        feats, pos = [], []
        for o in outs:
            o = o.to(device=device, dtype=dtype)
            key = (o.shape[0], o.shape[2], o.shape[3], str(device), dtype)
            if key not in cache:
                probe = torch.zeros(o.shape[0], d_model, o.shape[2], o.shape[3], device=device, dtype=dtype)
                cache[key] = pos_enc(probe).to(dtype)
            feats.append(o)
            pos.append(cache[key])
        return {"vision_features": feats[-1], "vision_pos_enc": pos, "backbone_fpn": feats}

    model.forward_image = forward_image
    model._roto_cpu_runtime = encoder.runtime


def accelerate_sam2(model, weights_path=None, device="cpu", runtime=None) -> cpu_runtime.RuntimeChoice:
    size = int(model.image_size)
    module = Sam2Encoder(model).eval()
    return cpu_runtime.accelerate(model, "sam2", module, size, lambda enc: _sam2_install(model, enc),
                                  weights_path=weights_path, device=device, runtime=runtime)
