"""Roto Studio: rotoscoping with SAM 2 / Cutie, matting and alpha export."""

__version__ = "0.1.0"
