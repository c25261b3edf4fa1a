"""SAM 2 through Meta's sam2 package: building the model, clicks on one frame, propagation."""
