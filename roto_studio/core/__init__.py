"""Pure Python + numpy: media, masks, project, export. Never imports Qt or torch."""
