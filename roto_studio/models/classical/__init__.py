"""The CPU fallback with no weights: GrabCut segmentation, flow propagation and their pieces."""

from __future__ import annotations

from roto_studio.models.classical.flow import FlowPropagator
from roto_studio.models.classical.grabcut import GrabCutSegmenter

__all__ = ["GrabCutSegmenter", "FlowPropagator"]
