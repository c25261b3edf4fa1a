"""CPU fallback backends that need no weights: GrabCut segmentation and flow propagation."""

from __future__ import annotations

from .classical_grabcut import GrabCutSegmenter  # noqa: F401
from .classical_flow import FlowPropagator  # noqa: F401

__all__ = ["GrabCutSegmenter", "FlowPropagator"]
