"""Building the transformers models behind text prompts and fast tracking: from a weights folder
(real weights: config.json, model.safetensors, the processor's files) or from a config with seeded
random weights (tests, benchmarks; `tiny=True` for test-sized ones, else the published sizes).

Kinds: 'edgetam' (EdgeTamVideoModel + Sam2VideoProcessor), 'sam3' (Sam3Model + Sam3Processor),
'sam3-video' (Sam3VideoModel + Sam3VideoProcessor), 'grounding-dino'
(GroundingDinoForObjectDetection + GroundingDinoProcessor). Tokenizers for random models are made
here from a small character vocabulary: nothing is downloaded.

torch and transformers are imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

from pathlib import Path

from roto_studio.core.errors import ModelError

KINDS = ("edgetam", "sam3", "sam3-video", "grounding-dino")
_CHARS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789,.-'")


def _seeded(seed: int, build):
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.random.set_rng_state(state)


# ---- tokenizers -------------------------------------------------------------------------------
def char_clip_tokenizer():
    """A CLIP tokenizer over single characters (no merges): random SAM 3 models."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _CHARS:
        vocab[c] = len(vocab)
    for c in _CHARS:
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def char_bert_tokenizer(folder: Path):
    """A BERT word-piece tokenizer over characters, written to `folder` (Grounding DINO needs one)."""
    from transformers import BertTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + _CHARS + ["##" + c for c in _CHARS]
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(words)) + "\n")
    return BertTokenizer(vocab_file=str(folder / "vocab.txt"))


# ---- EdgeTAM ----------------------------------------------------------------------------------
def edgetam_config(tiny: bool = False, image_size: int | None = None):
    """EdgeTAM's published architecture (RepViT-M1 backbone through timm, 1024 input), or a tiny
    one (RepViT-M0.9, narrow heads, 3 memories, 4 pointers) for tests."""
    from transformers import EdgeTamVideoConfig, EdgeTamVisionConfig, TimmWrapperConfig

    s = int(image_size or (128 if tiny else 1024))
    feats = [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]]
    arch = "repvit_m0_9" if tiny else "repvit_m1"
    backbone = TimmWrapperConfig(architecture=arch, model_args={
        "in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]})
    if not tiny:
        vision = EdgeTamVisionConfig(backbone_config=backbone, backbone_feature_sizes=feats)
        return EdgeTamVideoConfig(vision_config=vision, image_size=s,
                                  prompt_encoder_config={"image_size": s},
                                  memory_attention_rope_feat_sizes=[s // 16, s // 16])
    h = 128
    vision = EdgeTamVisionConfig(backbone_config=backbone, fpn_hidden_size=h, backbone_feature_sizes=feats)
    return EdgeTamVideoConfig(
        vision_config=vision, image_size=s,
        prompt_encoder_config={"hidden_size": h, "image_size": s},
        mask_decoder_config={"hidden_size": h, "mlp_dim": 128, "iou_head_hidden_dim": h, "num_attention_heads": 2},
        memory_attention_hidden_size=h, memory_attention_mlp_hidden_size=128,
        memory_attention_rope_feat_sizes=[s // 16, s // 16], memory_attention_rope_k_sizes=[s // 16, s // 16],
        perceiver_resampler_num_latents=16, perceiver_resampler_num_latents_2d=(s // 16) ** 2,
        perceiver_resampler_hidden_size=64, perceiver_resampler_attention_head_dim=64,
        perceiver_resampler_mlp_intermediate_size=64,
        memory_encoder_hidden_size=h, memory_encoder_output_channels=64, mask_downsampler_embed_dim=h,
        memory_fuser_embed_dim=h, memory_fuser_intermediate_dim=128,
        num_maskmem=3, max_object_pointers_in_encoder=4)


def edgetam_processor(image_size: int = 1024):
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor, Sam2VideoVideoProcessor

    s = int(image_size)
    return Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size={"height": s, "width": s}, mask_size={"height": s // 4, "width": s // 4}),
        video_processor=Sam2VideoVideoProcessor(size={"height": s, "width": s}), target_size=s)


def random_edgetam(tiny: bool = True, image_size: int | None = None, seed: int = 0):
    """(EdgeTamVideoModel with seeded random weights, its processor). The object-score head is
    biased so random weights still "see" the object on every frame (else every mask is empty)."""
    import torch
    from transformers import EdgeTamVideoModel

    config = edgetam_config(tiny, image_size)
    model = _seeded(seed, lambda: EdgeTamVideoModel(config).eval())
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(8.0)
    return model, edgetam_processor(config.image_size)


# ---- SAM 3 ------------------------------------------------------------------------------------
def sam3_config(tiny: bool = True):
    """SAM 3's published architecture (ViT-L/14 at 1008, CLIP text encoder), or a tiny one."""
    from transformers import Sam3Config

    if not tiny:
        return Sam3Config()
    patch, grid, h, vit = 14, 8, 128, 32
    s = patch * grid
    vocab = len(char_clip_tokenizer())
    return Sam3Config(
        vision_config={"backbone_config": {
            "model_type": "sam3_vit_model", "hidden_size": vit, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "image_size": s, "patch_size": patch, "window_size": 4,
            "global_attn_indexes": [1], "pretrain_image_size": s},
            "fpn_hidden_size": h, "backbone_feature_sizes": [[grid * 4] * 2, [grid * 2] * 2, [grid] * 2]},
        text_config={"vocab_size": vocab, "hidden_size": vit, "intermediate_size": 64, "projection_dim": vit,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        geometry_encoder_config={"hidden_size": h, "num_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
        detr_encoder_config={"hidden_size": h, "num_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
        detr_decoder_config={"hidden_size": h, "num_layers": 1, "num_queries": 12, "num_attention_heads": 2,
                             "intermediate_size": 64},
        mask_decoder_config={"hidden_size": h, "num_attention_heads": 2})


def sam3_processor(image_size: int, tokenizer=None):
    from transformers import Sam3ImageProcessor, Sam3Processor

    s = int(image_size)
    return Sam3Processor(image_processor=Sam3ImageProcessor(size={"height": s, "width": s}),
                         tokenizer=tokenizer or char_clip_tokenizer(), target_size=s)


def random_sam3(seed: int = 0, tiny: bool = True):
    """(Sam3Model with seeded random weights, its processor). Detection scores are biased up so that
    random weights still find instances (else every comparison would be of empty lists)."""
    from transformers import Sam3Model

    config = sam3_config(tiny)
    model = _seeded(seed, lambda: Sam3Model(config).eval())
    _bias_detections(model)
    return model, sam3_processor(config.image_size)


def _bias_detections(detector) -> None:
    """Presence head biased to 'present', text-query scores spread out (random weights only)."""
    import torch

    with torch.no_grad():
        detector.detr_decoder.presence_head.layer3.bias.fill_(4.0)
        detector.dot_product_scoring.query_proj.weight.mul_(8.0)


def sam3_video_config(tiny: bool = True):
    from transformers import Sam3VideoConfig

    if not tiny:
        return Sam3VideoConfig()
    det = sam3_config(True)
    s = det.image_size
    grid = s // 14
    tracker = {
        "image_size": s, "num_maskmem": 3, "max_object_pointers_in_encoder": 4, "max_cond_frame_num": 2,
        "prompt_encoder_config": {"hidden_size": 128, "image_size": s, "patch_size": 14},
        "mask_decoder_config": {"hidden_size": 128, "mlp_dim": 128, "iou_head_hidden_dim": 128, "num_attention_heads": 2},
        "memory_attention_hidden_size": 128, "memory_attention_feed_forward_hidden_size": 128,
        "memory_attention_num_layers": 1, "memory_attention_rope_feat_sizes": [grid, grid],
        "memory_encoder_hidden_size": 128, "memory_encoder_output_channels": 64, "mask_downsampler_embed_dim": 128,
        "memory_fuser_embed_dim": 128, "memory_fuser_intermediate_dim": 128,
        "vision_config": det.vision_config.to_dict(),
    }
    # reconditioning every 2 frames (published: 16) so short test clips hold many conditioning frames
    return Sam3VideoConfig(detector_config=det.to_dict(), tracker_config=tracker, hotstart_delay=2,
                           hotstart_unmatch_thresh=2, hotstart_dup_thresh=2,
                           score_threshold_detection=0.45, new_det_thresh=0.52,
                           recondition_every_nth_frame=2, high_conf_thresh=0.0, high_iou_thresh=0.05,
                           low_res_mask_size=grid * 4 * 4 // 4)


def sam3_video_processor(image_size: int, tokenizer=None):
    from transformers import Sam3ImageProcessor, Sam3VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    s = int(image_size)
    return Sam3VideoProcessor(image_processor=Sam3ImageProcessor(size={"height": s, "width": s}),
                              video_processor=Sam2VideoVideoProcessor(size={"height": s, "width": s},
                                                                      image_mean=[0.5] * 3, image_std=[0.5] * 3),
                              tokenizer=tokenizer or char_clip_tokenizer(), target_size=s)


def random_sam3_video(seed: int = 0, tiny: bool = True):
    from transformers import Sam3VideoModel

    config = sam3_video_config(tiny)
    model = _seeded(seed, lambda: Sam3VideoModel(config).eval())
    _bias_detections(model.detector_model)
    return model, sam3_video_processor(config.detector_config.image_size)


# ---- Grounding DINO ---------------------------------------------------------------------------
def grounding_dino_config(tiny: bool = True, vocab_size: int = 30522):
    from transformers import GroundingDinoConfig

    if not tiny:
        return GroundingDinoConfig()  # grounding-dino-tiny's architecture (Swin-T, BERT base)
    backbone = {"model_type": "swin", "embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2],
                "window_size": 4, "image_size": 64, "out_indices": [2, 3, 4]}
    text = {"model_type": "bert", "vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
    return GroundingDinoConfig(backbone_config=backbone, text_config=text, d_model=32, num_queries=20,
                               encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                               encoder_attention_heads=2, decoder_attention_heads=2, max_text_len=64,
                               num_feature_levels=4)


def grounding_dino_processor(folder: Path, image_size: int = 128):
    from transformers import GroundingDinoImageProcessor, GroundingDinoProcessor

    tok = char_bert_tokenizer(folder)
    ip = GroundingDinoImageProcessor(size={"shortest_edge": image_size, "longest_edge": image_size * 4 // 3})
    return GroundingDinoProcessor(image_processor=ip, tokenizer=tok)


def random_grounding_dino(folder: Path, seed: int = 0):
    """(tiny GroundingDinoForObjectDetection with seeded random weights, its processor); the
    tokenizer's vocabulary is written to `folder`."""
    from transformers import GroundingDinoForObjectDetection

    processor = grounding_dino_processor(folder)
    config = grounding_dino_config(True, vocab_size=len(processor.tokenizer))
    model = _seeded(seed, lambda: GroundingDinoForObjectDetection(config).eval())
    return model, processor


# ---- folders ----------------------------------------------------------------------------------
def save(model, processor, folder) -> Path:
    """Write a model and its processor in the published file layout (config.json,
    model.safetensors, processor and tokenizer files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    return folder


_CLASSES = {
    "edgetam": ("EdgeTamVideoModel", "Sam2VideoProcessor"),
    "sam3": ("Sam3Model", "Sam3Processor"),
    "sam3-video": ("Sam3VideoModel", "Sam3VideoProcessor"),
    "grounding-dino": ("GroundingDinoForObjectDetection", "GroundingDinoProcessor"),
}


def load(kind: str, folder, device: str = "cpu"):
    """(model, processor) of `kind` from a weights folder, never running code from the folder."""
    import transformers

    if kind not in _CLASSES:
        raise ModelError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}.")
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} holds no config.json; download the model again "
                         "(`roto-studio models download NAME`).")
    model_cls, proc_cls = (getattr(transformers, n) for n in _CLASSES[kind])
    try:
        model = model_cls.from_pretrained(str(folder), trust_remote_code=False)
        processor = proc_cls.from_pretrained(str(folder), trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"cannot load the {kind} model from {folder} ({first}); "
                         "run `roto-studio models verify`.") from None
    return model.to(device).eval(), processor
