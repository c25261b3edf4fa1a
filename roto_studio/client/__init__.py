"""Clients of the model server (no Qt, no torch): http.py talks HTTP (httpx), remote.py gives the
models.base interfaces (image segmenter, video propagator, matter, inpainter) answered by it."""
