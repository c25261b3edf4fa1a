"""Tiny random-weight Stable Diffusion inpainting pipelines (no download, no GPU).

The components follow the shapes diffusers' own tests use for its inpainting pipeline: a
two-level UNet with 9 input channels, a two-level VAE, a 5-layer CLIP text encoder, and a CLIP
tokenizer built here from the 256 byte-level symbols (no merges)."""

from __future__ import annotations

from pathlib import Path


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (printable ASCII/Latin-1 map to
    themselves, the rest to code points from 256 up)."""
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        | set(range(ord("\u00ae"), ord("\u00ff") + 1))
    out, extra = [], 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def tiny_tokenizer(folder: Path):
    """A CLIP tokenizer over single byte symbols (no merges), saved to `folder`."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for s in symbols:
        vocab[s] = len(vocab)
        vocab[s + "</w>"] = len(vocab)
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(folder))
    return tok


def tiny_components(tmp: Path, seed: int = 0) -> dict:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=32,
                                in_channels=9, out_channels=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=32, norm_num_groups=8, attention_head_dim=(2, 4))
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4,
                        norm_num_groups=8, layers_per_block=1)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                                        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5,
                                        pad_token_id=1, vocab_size=1000))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return {"unet": unet.eval(), "vae": vae.eval(), "text_encoder": text.eval(),
            "tokenizer": tiny_tokenizer(tmp / "tokenizer"), "scheduler": scheduler,
            "safety_checker": None, "feature_extractor": None}


def tiny_pipeline(tmp: Path, seed: int = 0):
    """StableDiffusionInpaintPipeline built from the tiny components, as diffusers' docs build one."""
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline(**tiny_components(tmp, seed), requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """The tiny pipeline saved in the diffusers folder layout (model_index.json, unet/, vae/...)."""
    pipe = tiny_pipeline(folder.parent / (folder.name + "_tok"), seed)
    pipe.save_pretrained(str(folder))
    return folder
