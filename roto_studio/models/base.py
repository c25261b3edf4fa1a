"""Small backend interfaces, shaped like the upstream APIs (SAM 2, Cutie, ViTMatte).

Conventions used everywhere:
- images are RGB, HxWx3, uint8 (what `Media.read(frame)` returns);
- alpha is float32, HxW, in 0..1, at the frame's full size;
- frames are addressed by plate frame number (1001...), never by position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generator, Protocol, Sequence

import numpy as np

from roto_studio.core.prompt import Prompt  # the one prompt type (core)

if TYPE_CHECKING:
    from roto_studio.models.backends import BackendPlan
    from roto_studio.models.device import DeviceChoice, DeviceOutOfMemory

# what VideoPropagator.propagate returns: (frame, {obj_id: alpha}) step by step; close() cancels
PropagationSteps = Generator[tuple[int, dict[str, np.ndarray]], None, None]


class FrameSource(Protocol):
    """What a video backend reads frames from; `roto_studio.core.media.Media` is one.

    Backends read frames lazily through this and keep only a bounded number in memory.
    """

    width: int
    height: int

    @property
    def frame_numbers(self) -> Sequence[int]: ...  # plate numbers present, ascending

    def read(self, frame: int) -> np.ndarray: ...  # HxWx3 uint8 RGB


@dataclass
class Prediction:
    alpha: np.ndarray  # HxW float32 0..1
    score: float = 1.0  # predicted IoU / confidence
    logits: np.ndarray | None = None  # low-res logits to feed back for refinement


class ImageSegmenter(ABC):
    """set_image once per frame (embedding cached), then predict from prompts."""

    name = "image"

    @abstractmethod
    def set_image(self, image: np.ndarray, key: object = None) -> None:
        """Make `image` current; `key` (e.g. (media path, frame)) lets the embedding be cached."""

    @abstractmethod
    def predict(self, prompt: Prompt, mask_logits: np.ndarray | None = None,
                multimask: bool | None = None) -> Prediction:
        """Mask for the current image. multimask=None: automatic (on for a single click)."""

    def prefetch(self, images: Sequence[tuple[object, np.ndarray]]) -> None:
        """Optionally compute embeddings for (key, image) pairs ahead of time."""


class VideoPropagator(ABC):
    """Per-shot state: prompts on frames, propagation through the frames of a FrameSource."""

    name = "video"

    @abstractmethod
    def start(self, frames: FrameSource) -> None:
        """Begin a session on `frames` (lazy; nothing is decoded up front)."""

    @abstractmethod
    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        """Condition `obj_id` on `frame`; returns that object's alpha on that frame."""

    @abstractmethod
    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> PropagationSteps:
        """Yield (frame, {obj_id: alpha}) frame by frame from `start` towards `stop` (inclusive;
        None = end of shot). Closing the generator cancels; yielded frames stay valid."""

    @abstractmethod
    def remove_object(self, obj_id: str) -> None: ...

    @abstractmethod
    def reset(self) -> None:
        """Forget every prompt and all memory (keeps the loaded model)."""


class Matter(ABC):
    """Alpha from an image and a trimap (0 background, 128 unknown, 255 foreground)."""

    name = "matting"

    @abstractmethod
    def refine(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """HxW float32 alpha 0..1."""


class Inpainter(ABC):
    name = "inpaint"
    consensus = False  # True: a smooth estimate whose fills from several frames may be averaged

    @abstractmethod
    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """image HxWx3 uint8, hole HxW bool -> HxWx3 uint8 with the hole filled."""


@dataclass
class Found:
    """One instance of a phrase found on an image."""

    phrase: str
    alpha: np.ndarray  # HxW float32 0..1 at the image's size
    score: float  # detection confidence 0..1
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


class TextFinder(ABC):
    """set_image once per frame (embedding cached), then find every instance of some phrases."""

    name = "text"

    @abstractmethod
    def set_image(self, image: np.ndarray, key: object = None) -> None:
        """Make `image` current; `key` (e.g. (media path, frame)) lets the embedding be cached."""

    @abstractmethod
    def find(self, phrases: Sequence[str], min_score: float = 0.5) -> list[Found]:
        """Every instance of each phrase with a score of at least min_score, per phrase by score."""


class Backends(Protocol):
    """The set of backends an engine drives: models.backends.BackendSet (in this process) and
    client.remote.RemoteBackends (one model server session). The engine asks them, never which
    kind they are: what out of memory means, what can be retried, and whether frames go to them."""

    plan: "BackendPlan"
    reads_own_frames: bool  # True: they read the shot's frames themselves (a server); the engine streams none
    retries_by_itself: tuple[str, ...]  # retry options the engine may take unasked after out of memory
    session: Any  # the model server session, or None in this process

    @property
    def image(self) -> ImageSegmenter: ...

    @property
    def video(self) -> VideoPropagator: ...

    @property
    def device(self) -> "DeviceChoice | None": ...

    def out_of_memory(self, exc: BaseException) -> "DeviceOutOfMemory | None":
        """The one-line error to raise when `exc` means the device ran out of memory, else None."""
        ...

    def retry_options(self, where: str) -> tuple[str, ...]: ...

    def retried(self, option: str) -> "Backends":
        """The set to use after out of memory, rebuilt for `option` ('offload', 'smaller', 'cpu');
        ModelError when that cannot be done."""
        ...

    def close(self) -> None: ...

