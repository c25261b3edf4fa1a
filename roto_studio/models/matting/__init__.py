"""Edge refinement: ViTMatte and classical matting."""
