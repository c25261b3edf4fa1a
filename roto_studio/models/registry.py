"""Every downloadable model: where it comes from, pinned, with its size and checksum.

No weights live in the package; roto_studio.models.weights downloads them on request into the
weights folder (see README) or finds them in an offline folder.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightSpec:
    name: str  # what users type: `roto-studio models download NAME`
    kind: str  # 'sam2' | 'vitmatte' | 'cutie' | 'inpaint'
    repo_id: str  # Hugging Face repo (or, for `url` entries, the upstream project: owner/name)
    filename: str  # main file in that repo
    revision: str  # pinned commit (or tag) of the repo
    size: int | None  # bytes, for the disk-space check and progress
    sha256: str | None  # checked before use; None = the hub's LFS hash is recorded at download
    config: str | None = None  # backend config (e.g. sam2 yaml inside the sam2 package)
    extra_files: tuple[str, ...] = ()  # other files of the repo that are needed
    description: str = ""
    url: str | None = None  # plain download address (followed through redirects) instead of the hub
    md5: str | None = None  # checked when no sha256 is known (some upstreams publish only an md5)


_CUTIE_RELEASE = "https://github.com/hkchengrex/Cutie/releases/download/v1.0/"

SPECS: list[WeightSpec] = [
    WeightSpec("sam2.1-tiny", "sam2", "facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt",
               "main", 156_008_466, None, "configs/sam2.1/sam2.1_hiera_t.yaml",
               description="SAM 2.1 tiny: fastest, good on a laptop GPU or CPU"),
    WeightSpec("sam2.1-small", "sam2", "facebook/sam2.1-hiera-small", "sam2.1_hiera_small.pt",
               "main", 184_416_285, None, "configs/sam2.1/sam2.1_hiera_s.yaml",
               description="SAM 2.1 small"),
    WeightSpec("sam2.1-base-plus", "sam2", "facebook/sam2.1-hiera-base-plus", "sam2.1_hiera_base_plus.pt",
               "main", 323_606_802, None, "configs/sam2.1/sam2.1_hiera_b+.yaml",
               description="SAM 2.1 base+"),
    WeightSpec("sam2.1-large", "sam2", "facebook/sam2.1-hiera-large", "sam2.1_hiera_large.pt",
               "main", 898_083_611, None, "configs/sam2.1/sam2.1_hiera_l.yaml",
               description="SAM 2.1 large: best quality, needs a big GPU"),
    WeightSpec("vitmatte-small", "vitmatte", "hustvl/vitmatte-small-composition-1k", "model.safetensors",
               "main", None, None, None, ("config.json", "preprocessor_config.json"),
               description="ViTMatte small (Composition-1k)"),
    WeightSpec("vitmatte-base", "vitmatte", "hustvl/vitmatte-base-composition-1k", "model.safetensors",
               "main", None, None, None, ("config.json", "preprocessor_config.json"),
               description="ViTMatte base (Composition-1k)"),
    # Cutie: GitHub release files of hkchengrex/Cutie tag v1.0 (no official Hugging Face mirror found).
    # Upstream records only an md5 for base; the sha256 of the checked file is recorded at download.
    WeightSpec("cutie-base", "cutie", "hkchengrex/Cutie", "cutie-base-mega.pth", "v1.0", None, None,
               description="Cutie base (ResNet-50, MEGA training): propagation for long shots",
               url=_CUTIE_RELEASE + "cutie-base-mega.pth", md5="a6071de6136982e396851903ab4c083a"),
    WeightSpec("cutie-small", "cutie", "hkchengrex/Cutie", "cutie-small-mega.pth", "v1.0", None, None,
               description="Cutie small (ResNet-18): fastest propagation",
               url=_CUTIE_RELEASE + "cutie-small-mega.pth"),
]


def get(name: str) -> WeightSpec:
    for s in SPECS:
        if s.name == name:
            return s
    from roto_studio.core.errors import ModelError

    names = ", ".join(s.name for s in SPECS)
    raise ModelError(f"unknown model {name!r}; known models: {names}.")


def by_kind(kind: str) -> list[WeightSpec]:
    return [s for s in SPECS if s.kind == kind]
