"""Clean plates: alignment between frames, one frame's fill, a shot's fill, spatial inpainting."""
