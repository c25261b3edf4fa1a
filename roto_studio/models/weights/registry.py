"""Every downloadable model: where it comes from, the commit it is pinned to, and per file the
published sha256 and size that a download must match.

How to add an entry: append a WeightSpec to SPECS with
- name: what users type (`roto-studio models download NAME`); its files go to the folder NAME,
- kind: the backend that reads it ('sam2', 'vitmatte', 'cutie', 'inpaint', ...),
- repo_id and revision: the Hugging Face repo and the 40-hex commit (never `main`),
- files: one WeightFile per file the loader reads, the main weights file first, each with its path in
  the repo and the sha256 and size published for it (the team keeps these in shared/weights/PINS.md).
  Leave sha256 None only when no source publishes one, or sources disagree: the model is then
  `unverified` (its hash is recorded at the first download and checked after that). Give md5 where
  upstream publishes only that. Files outside the hub get `url` (a plain address, redirects followed).
Tests and mirrors can replace the pins with env ROTO_WEIGHTS_PINS (see `pins_override`); without it
the pins below apply.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from typing import Any

from roto_studio.core.errors import ModelError

PINS_ENV = "ROTO_WEIGHTS_PINS"


@dataclass(frozen=True)
class WeightFile:
    path: str  # inside the repo, and inside the model's folder
    sha256: str | None = None  # published checksum; None = unverified (recorded at download)
    size: int | None = None  # bytes
    md5: str | None = None  # checked when that is what upstream publishes
    url: str | None = None  # plain download address instead of the hub

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 or self.md5)


@dataclass(frozen=True)
class WeightSpec:
    name: str
    kind: str
    repo_id: str  # Hugging Face repo (for `url` files: the upstream project, owner/name)
    revision: str  # pinned commit (a release tag only for `url` files)
    files: tuple[WeightFile, ...]  # main weights file first
    config: str | None = None  # backend config (e.g. the sam2 yaml inside the sam2 package)
    description: str = ""
    licence: str = ""  # the weights' licence, shown by `models list` and in the settings
    # whether that licence permits commercial use; Auto picks only these unless the user chose
    # otherwise. Entries with commercial=False download only after the licence is accepted.
    commercial: bool = True
    licence_url: str = ""  # where to read the licence (shown when it must be accepted)

    @property
    def main(self) -> WeightFile:
        return self.files[0]

    @property
    def filename(self) -> str:
        return self.files[0].path

    @property
    def size(self) -> int | None:
        """Bytes of all files, when every size is known."""
        sizes = [f.size for f in self.files]
        return sum(s or 0 for s in sizes) if all(sizes) else None

    @property
    def known_size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def pinned(self) -> bool:
        return all(f.pinned for f in self.files)


def _sam2(name, repo, revision, filename, sha256, size, config, description):
    return WeightSpec(name, "sam2", repo, revision, (WeightFile(filename, sha256, size),),
                      config=config, description=description, licence="Apache-2.0", commercial=True)


def _unpinned(*paths: str) -> tuple[WeightFile, ...]:
    return tuple(WeightFile(p) for p in paths)


def _tokenizer(folder: str) -> tuple[str, ...]:
    return tuple(f"{folder}/{n}" for n in ("merges.txt", "special_tokens_map.json", "tokenizer_config.json",
                                           "vocab.json"))


_CUTIE_RELEASE = "https://github.com/hkchengrex/Cutie/releases/download/v1.0/"

SPECS: list[WeightSpec] = [
    _sam2("sam2.1-tiny", "facebook/sam2.1-hiera-tiny", "de431c4043854a71d8101e17995dfe596bf101a5",
          "sam2.1_hiera_tiny.pt", "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
          156_008_466, "configs/sam2.1/sam2.1_hiera_t.yaml",
          "SAM 2.1 tiny: fastest, good on a laptop GPU or CPU"),
    _sam2("sam2.1-small", "facebook/sam2.1-hiera-small", "ee5bba1d82bb8749febdf90f45e84b687142ba03",
          "sam2.1_hiera_small.pt", "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
          184_416_285, "configs/sam2.1/sam2.1_hiera_s.yaml", "SAM 2.1 small"),
    _sam2("sam2.1-base-plus", "facebook/sam2.1-hiera-base-plus", "b7320756a13354e7530a63935656d35b2f91a290",
          "sam2.1_hiera_base_plus.pt", "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
          323_606_802, "configs/sam2.1/sam2.1_hiera_b+.yaml", "SAM 2.1 base+"),
    _sam2("sam2.1-large", "facebook/sam2.1-hiera-large", "665f8e2ad61cf5f53d65644ff27c8ee525124610",
          "sam2.1_hiera_large.pt", "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
          898_083_611, "configs/sam2.1/sam2.1_hiera_l.yaml", "SAM 2.1 large: best quality, needs a big GPU"),
    # ViTMatte: the processor settings are transformers' defaults (no preprocessor_config.json, which
    # has no published checksum).
    WeightSpec("vitmatte-small", "vitmatte", "hustvl/vitmatte-small-composition-1k",
               "6a58ad7646403c1df626fbd746900aec7361ea1d",
               (WeightFile("model.safetensors", "bda9289db1bb6762d978b42d1c62ae3f34daf7497171a347a1d09657efd788cb",
                           103_294_572),
                WeightFile("config.json", "ae1006f5a83227048b563b2e60709d4203e432b2276949ebef41a8cfeeeaf45f", 837)),
               description="ViTMatte small (Composition-1k)", licence="Apache-2.0", commercial=True),
    # The base repo has no model.safetensors; two sources disagree on its config.json: unverified.
    WeightSpec("vitmatte-base", "vitmatte", "hustvl/vitmatte-base-composition-1k",
               "bf486d01a7d9e3dbcc8400f7942835caf0eaf76e",
               (WeightFile("pytorch_model.bin", "b2521bcc4b719fb24611c39605b6642162fd7502e69b3cc846506ca921757b41"),
                WeightFile("config.json")),
               description="ViTMatte base (Composition-1k)", licence="Apache-2.0", commercial=True),
    # Cutie: GitHub release files of hkchengrex/Cutie tag v1.0 (no official Hugging Face mirror).
    # base: md5 from the authors, sha256 and size from third parties; small: one third-party md5.
    WeightSpec("cutie-base", "cutie", "hkchengrex/Cutie", "v1.0",
               (WeightFile("cutie-base-mega.pth", "9c05402ee36d3a356fb72715d263ba7e1ea06ad3bada48c1306491792da43023",
                           140_443_788, md5="a6071de6136982e396851903ab4c083a",
                           url=_CUTIE_RELEASE + "cutie-base-mega.pth"),),
               description="Cutie base (ResNet-50, MEGA training): propagation for long shots", licence="MIT", commercial=True),
    WeightSpec("cutie-small", "cutie", "hkchengrex/Cutie", "v1.0",
               (WeightFile("cutie-small-mega.pth", md5="6abf53b4058228babc3686274bc136cc",
                           url=_CUTIE_RELEASE + "cutie-small-mega.pth"),),
               description="Cutie small (ResNet-18): fastest propagation", licence="MIT", commercial=True),
    # Text prompts and fast tracking (transformers layout: config, weights, processor, tokenizer).
    # Only the weights files have published checksums (PINS.md); the small files are unverified.
    WeightSpec("sam3", "sam3", "facebook/sam3", "3c879f39826c281e95690f02c7821c4de09afae7",
               (WeightFile("model.safetensors", "6d06f0a5f84e435071fe6603e61d0b4cc7b40e0d39d487cfd4d67d8cc11cc14a",
                           3_439_938_512),
                WeightFile("config.json"), WeightFile("processor_config.json"), WeightFile("tokenizer.json"),
                WeightFile("tokenizer_config.json")),
               description="SAM 3: finds every instance of a phrase; tracks phrases through a shot",
               # Meta's SAM License (2025-11-19): use, modify and redistribute, commercial use
               # included, except military/ITAR uses and sanctioned parties; the repo is gated.
               licence="SAM License", commercial=True,
               licence_url="https://huggingface.co/facebook/sam3/blob/main/LICENSE"),
    WeightSpec("grounding-dino-tiny", "grounding-dino", "IDEA-Research/grounding-dino-tiny",
               "a2bb814dd30d776dcf7e30523b00659f4f141c71",
               (WeightFile("model.safetensors", "1a2412ef99bd74bcd3c2a246fa1e48581f8889a1300c9051974741314fc042f3",
                           689_359_096),
                WeightFile("config.json"), WeightFile("preprocessor_config.json"), WeightFile("tokenizer.json"),
                WeightFile("tokenizer_config.json"), WeightFile("special_tokens_map.json"), WeightFile("vocab.txt")),
               description="Grounding DINO tiny: boxes for phrases, cut out by SAM 2", licence="Apache-2.0", commercial=True),
    WeightSpec("grounding-dino-base", "grounding-dino", "IDEA-Research/grounding-dino-base",
               "12bdfa3120f3e7ec7b434d90674b3396eccf88eb",
               (WeightFile("model.safetensors", "5548f844c928c4b6f411fa8cbcc2bfa8dbbba437cb1d513975519f93c2a9ed21",
                           933_400_872),
                WeightFile("config.json"), WeightFile("preprocessor_config.json"), WeightFile("tokenizer.json"),
                WeightFile("tokenizer_config.json"), WeightFile("special_tokens_map.json"), WeightFile("vocab.txt")),
               description="Grounding DINO base: better boxes, slower", licence="Apache-2.0", commercial=True),
    # EdgeTAM in the transformers layout: only the revision is published (no checksum): unverified.
    WeightSpec("edgetam", "edgetam", "yonigozlan/EdgeTAM-hf", "c266ce53b3fc00f0f495b583f6a116c4e57f53bb",
               (WeightFile("model.safetensors"), WeightFile("config.json"), WeightFile("processor_config.json"),
                WeightFile("preprocessor_config.json"), WeightFile("video_preprocessor_config.json")),
               description="EdgeTAM: SAM 2-style tracking, several times faster (CPUs, small GPUs)",
               licence="Apache-2.0", commercial=True),  # facebookresearch/EdgeTAM: Apache-2.0
    # Learned inpainting (clean plates): diffusers folders. The fp16 weights carry published
    # sha256s; the configs and tokenizer files have none (unverified, recorded at download).
    # SD 1.5's safety checker and feature extractor are not downloaded (not used for fills).
    WeightSpec("sd15-inpainting", "inpaint", "stable-diffusion-v1-5/stable-diffusion-inpainting",
               "8a4288a76071f7280aedbdb3253bdb9e9d5d84bb",
               (WeightFile("unet/diffusion_pytorch_model.fp16.safetensors",
                           "24b788b4a777748377cc20364eea4ae113c8c42f4468c16bc8c02fdae5492af9", 1_719_154_104),
                WeightFile("vae/diffusion_pytorch_model.fp16.safetensors",
                           "4fbcf0ebe55a0984f5a5e00d8c4521d52359af7229bb4d81890039d2aa16dd7c", 167_335_342),
                WeightFile("text_encoder/model.fp16.safetensors",
                           "77795e2023adcf39bc29a884661950380bd093cf0750a966d473d1718dc9ef4e", 246_144_864),
                *_unpinned("model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                           "vae/config.json", "text_encoder/config.json", *_tokenizer("tokenizer"))),
               description="Stable Diffusion 1.5 inpainting (512 px): clean-plate fills, 4 GB GPU",
               # OpenRAIL-M: commercial use allowed, with the use restrictions of its Attachment A.
               licence="CreativeML OpenRAIL-M", commercial=True),
    WeightSpec("sdxl-inpainting", "inpaint", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
               "115134f363124c53c7d878647567d04daf26e41e",
               (WeightFile("unet/diffusion_pytorch_model.fp16.safetensors",
                           "6470840731e98cc16713ddf3ac7ee458c9fdbcb881a98c6727cd4a938f227d3f", 5_135_178_560),
                WeightFile("vae/diffusion_pytorch_model.fp16.safetensors",
                           "4ad62825e5c8b31eefb77355ba6693785619bf7d669d9b1a6fd9f19dec6d65b3", 167_335_338),
                WeightFile("text_encoder/model.fp16.safetensors",
                           "fc83cf401d930147807e7c44021c164bcc5508c9d4cc0ff35f4e354685ca9cd0", 246_144_867),
                WeightFile("text_encoder_2/model.fp16.safetensors",
                           "a8622bd41f8d359df484fdf9de091edb9337a2fd747f0a5c9c320a62e24d1fd3", 1_389_382_884),
                *_unpinned("model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                           "vae/config.json", "text_encoder/config.json", "text_encoder_2/config.json",
                           *_tokenizer("tokenizer"), *_tokenizer("tokenizer_2"))),
               description="Stable Diffusion XL inpainting (1024 px): best fills, 10 GB GPU",
               licence="CreativeML OpenRAIL++-M", commercial=True),
    # Non-commercial options: downloaded only after `models download NAME --accept-licence`.
    # MatAnyone (video matting, NTU S-Lab License 1.0: non-commercial use only). Weights only: its
    # network is not in a published package (no `matanyone` on PyPI; rf-cutie lacks its matting
    # decoder), so no backend reads them yet. Release file of pq-yang/MatAnyone v1.0.0, no
    # published checksum: unverified (recorded at download).
    WeightSpec("matanyone", "video-matting", "pq-yang/MatAnyone", "v1.0.0",
               (WeightFile("matanyone.pth",
                           url="https://github.com/pq-yang/MatAnyone/releases/download/v1.0.0/matanyone.pth"),),
               description="MatAnyone: video matting with memory (weights only; no backend runs it yet)",
               licence="NTU S-Lab License 1.0", commercial=False,
               licence_url="https://github.com/pq-yang/MatAnyone/blob/main/LICENSE"),
]


def pins_override() -> dict:
    """The pins file named by env ROTO_WEIGHTS_PINS (for mirrors and tests), or {}.

    JSON: {"NAME": {"revision": "...", "files": {"PATH": {"sha256": ..., "size": ..., "md5": ...,
    "url": ...}}}}. An entry replaces that model's revision and, when "files" is given, its file
    list (main file first); models it does not name keep the registry's pins.
    """
    path = os.environ.get(PINS_ENV, "").strip()
    if not path:
        return {}
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{PINS_ENV}={path} cannot be read ({exc}); fix the file or unset {PINS_ENV}.") from None
    if not isinstance(data, dict):
        raise ModelError(f"{PINS_ENV}={path} is not a JSON object of models; fix it or unset {PINS_ENV}.")
    return data


def _apply(spec: WeightSpec, entry) -> WeightSpec:
    where = f"{PINS_ENV} entry {spec.name!r}"
    if not isinstance(entry, dict):
        raise ModelError(f"the {where} is not an object; fix the pins file or unset {PINS_ENV}.")
    changes: dict[str, Any] = {}
    if "revision" in entry:
        changes["revision"] = str(entry["revision"])
    if "files" in entry:
        files = []
        try:
            for path, pin in entry["files"].items():
                pin = pin or {}
                files.append(WeightFile(str(path), pin.get("sha256"), pin.get("size"), pin.get("md5"), pin.get("url")))
        except (AttributeError, TypeError):
            raise ModelError(f"the {where} has no valid \"files\" object; fix the pins file or unset {PINS_ENV}.") from None
        if not files:
            raise ModelError(f"the {where} lists no files; fix the pins file or unset {PINS_ENV}.")
        changes["files"] = tuple(files)
    return replace(spec, **changes)


def all_specs() -> list[WeightSpec]:
    """SPECS with the ROTO_WEIGHTS_PINS override applied (read at every call)."""
    override = pins_override()
    unknown = set(override) - {s.name for s in SPECS}
    if unknown:
        raise ModelError(f"{PINS_ENV} names unknown model(s) {', '.join(sorted(unknown))}; "
                         f"known models: {', '.join(s.name for s in SPECS)}.")
    return [_apply(s, override[s.name]) if s.name in override else s for s in SPECS]


def get(name: str) -> WeightSpec:
    specs = all_specs()
    for s in specs:
        if s.name == name:
            return s
    names = ", ".join(s.name for s in specs)
    raise ModelError(f"unknown model {name!r}; known models: {names}.")


def by_kind(kind: str) -> list[WeightSpec]:
    return [s for s in all_specs() if s.kind == kind]
