"""Text prompts end to end: choosing a finder (auto | sam3 | grounding-dino), building it, and
turning what it finds into project objects ("person 1", "person 2"...), each with its mask as a
keyframe on the frame, so propagation then works as for clicked objects.

`auto` uses SAM 3 when its weights are downloaded, else Grounding DINO (base, then tiny) when its
weights and SAM 2's are, and says which it picked and why.

Test / benchmark mode: env ROTO_TEXT_RANDOM_WEIGHTS=sam3 or grounding-dino builds that finder
from a tiny config with seeded random weights (Grounding DINO's masks then come from SAM 2 as the
engine builds it, e.g. ROTO_SAM2_RANDOM_WEIGHTS).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from roto_studio.core.errors import ModelError

NAMES = ("auto", "sam3", "grounding-dino")
GDINO_MODELS = ("grounding-dino-base", "grounding-dino-tiny")


@dataclass
class TextPlan:
    name: str  # 'sam3' | 'grounding-dino'
    reason: str
    model: str | None = None  # registry name
    folder: Path | None = None  # weights folder (config.json, model.safetensors...)
    random: bool = False

    def describe(self) -> str:
        what = self.name + (f" ({self.model})" if self.model else " (random weights, test mode)" if self.random else "")
        return f"{what}: {self.reason}"


def _folder_of(name: str, auto: bool = True) -> Path | None:
    from roto_studio.models.weights import licences
    from roto_studio.models.weights import store as weights

    if auto and not licences.auto_may_use(name):
        return None
    try:
        path = weights.find(name)
    except ModelError:
        return None
    return path.parent if path is not None else None


def _sam2_present() -> bool:
    from roto_studio.models import backends

    if backends.random_mode():
        return True
    return backends.sam2_weights(None)[1] is not None


def _kind_of_folder(folder: Path) -> str | None:
    import json

    try:
        kind = json.loads((folder / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError):
        return None
    if kind in ("sam3", "sam3_video"):
        return "sam3"
    if kind == "grounding-dino":
        return "grounding-dino"
    return None


def choose(name: str = "auto", weights: str | os.PathLike | None = None) -> TextPlan:
    name = (name or "auto").lower()
    if name not in NAMES:
        raise ModelError(f"unknown text backend {name!r}; use one of {', '.join(NAMES)}.")
    random = os.environ.get("ROTO_TEXT_RANDOM_WEIGHTS", "").strip().lower()
    if random:
        if random not in ("sam3", "grounding-dino"):
            raise ModelError(f"ROTO_TEXT_RANDOM_WEIGHTS={random!r} is not sam3 or grounding-dino.")
        if name not in ("auto", random):
            raise ModelError(f"--backend {name} asked for, but ROTO_TEXT_RANDOM_WEIGHTS={random}.")
        return TextPlan(random, "built from its config with random weights (ROTO_TEXT_RANDOM_WEIGHTS)", random=True)
    if weights and Path(weights).is_dir() and (Path(weights) / "config.json").is_file():
        kind = _kind_of_folder(Path(weights))
        if kind and name in ("auto", kind):
            return TextPlan(kind, f"weights folder {weights}", folder=Path(weights))
    why = []
    if name in ("auto", "sam3"):
        folder = _folder_of("sam3", auto=name == "auto")
        if folder is not None:
            return TextPlan("sam3", f"SAM 3 weights found ({folder})", "sam3", folder)
        why.append("the SAM 3 weights are missing (run `roto-studio models download sam3`)")
    if name in ("auto", "grounding-dino"):
        for model in GDINO_MODELS:
            folder = _folder_of(model)
            if folder is None:
                continue
            if not _sam2_present():
                why.append(f"{model} is downloaded but SAM 2 (which cuts out its boxes) is not "
                           "(run `roto-studio models download sam2.1-tiny`)")
                break
            return TextPlan("grounding-dino", f"{model} weights found ({folder}); masks by SAM 2"
                            + (f" ({'; '.join(why)})" if why else ""), model, folder)
        else:
            why.append("the Grounding DINO weights are missing (run `roto-studio models download "
                       "grounding-dino-tiny`)")
    raise ModelError("cannot find objects by name: " + "; ".join(why) + ".")


def build(plan: TextPlan, image_segmenter=None, device: str | None = None):
    """The TextFinder of a plan. Grounding DINO needs an ImageSegmenter (SAM 2) for its masks."""
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.device import choose_device, cpu
    from roto_studio.models.text.find import GroundingDinoFinder, Sam3TextFinder

    dev = (cpu() if device == "cpu" else choose_device(device)).device
    if plan.name == "sam3":
        if plan.random:
            model, processor = hf_build.random_sam3()
        else:
            model, processor = hf_build.load("sam3", plan.folder, device=dev)
        return Sam3TextFinder(model.to(dev), processor, device=dev)
    if image_segmenter is None or getattr(image_segmenter, "name", "") != "sam2":
        raise ModelError("Grounding DINO needs SAM 2 to cut out what it finds; download it with "
                         "`roto-studio models download sam2.1-tiny`.")
    if plan.random:
        model, processor = hf_build.random_grounding_dino(Path(tempfile.mkdtemp(prefix="roto-gdino-")))
    else:
        model, processor = hf_build.load("grounding-dino", plan.folder, device=dev)
    return GroundingDinoFinder(model.to(dev), processor, image_segmenter, device=dev)


def next_name(taken: set[str], phrase: str) -> str:
    """'person 3' when 'person 1' and 'person 2' are taken."""
    pat = re.compile(rf"^{re.escape(phrase)} (\d+)$")
    used = [int(m.group(1)) for n in taken if (m := pat.match(n))]
    return f"{phrase} {max(used, default=0) + 1}"


def find_objects(engine, finder, frame: int, phrases: Sequence[str], min_score: float = 0.5) -> list[tuple[str, object]]:
    """Find every instance of each phrase on `frame` and make one object per instance (named
    after its phrase), its mask stored as a keyframe. Returns [(object id, Found)]."""
    project = engine.project
    frame = engine.check_frame(frame)
    phrases = [p for p in phrases if p.strip()]
    if not phrases:
        raise ModelError("give at least one phrase to find, e.g. --text \"person, dog\".")
    image = engine.media.read(frame)
    engine.guarded(lambda: finder.set_image(image, key=engine.image_key(frame)))
    found = engine.guarded(lambda: finder.find(phrases, min_score))
    made = []
    for item in found:
        taken = {o.name for o in project.objects}
        obj = project.add_object(next_name(taken, item.phrase))
        from roto_studio.core.prompt import Prompt

        engine.prompt(obj.id, frame, Prompt(mask=item.alpha))
        made.append((obj.id, item))
    return made


def build_video(plan: TextPlan, device: str | None = None, spill_dir=None):
    """SAM 3 video (a Sam3VideoPropagator) from the same weights as the SAM 3 finder."""
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.device import choose_device, cpu
    from roto_studio.models.hf.sam3_video import Sam3VideoPropagator

    if plan.name != "sam3":
        raise ModelError("tracking phrases through the shot needs SAM 3 (--backend sam3).")
    dev = (cpu() if device == "cpu" else choose_device(device)).device
    if plan.random:
        model, processor = hf_build.random_sam3_video()
    else:
        model, processor = hf_build.load("sam3-video", plan.folder, device=dev)
    return Sam3VideoPropagator(model.to(dev), processor, device=dev, spill_dir=spill_dir)
