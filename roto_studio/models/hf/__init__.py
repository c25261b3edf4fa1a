"""The transformers models: building them, EdgeTAM and SAM 3 tracker propagation, SAM 3 video."""
