"""Frame rates as the user writes them: `24`, `25`, `23.976`, `29.97`, `24000/1001`, `30000/1001`.

parse_fps gives an exact Fraction (the NTSC rates written as decimals become their exact
x000/1001 form); fps_text writes one back the short way. A shot's rate comes from its files (an
EXR's `framesPerSecond`, a video stream), else 24 is assumed and said so; the user can set it
per shot (`--fps`, the window's shot settings), and it is saved in the project as text.
"""

from __future__ import annotations

from fractions import Fraction

from roto_studio.core.errors import MediaError

MAX_FPS = 1000
_NTSC = [Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120)]  # written as 23.976, 29.97 ...


def parse_fps(text: object) -> Fraction:
    """'24' | '23.976' | '24000/1001' | a number -> Fraction. MediaError (one line) when not a rate."""
    raw = str(text).strip()
    try:
        if "/" in raw:
            num, den = raw.split("/", 1)
            value = Fraction(int(num), int(den))
        else:
            value = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise MediaError(f"cannot read the frame rate {raw!r}; write it like 24, 23.976 or 24000/1001.") from None
    if value <= 0 or value > MAX_FPS:
        raise MediaError(f"the frame rate {raw} is out of range; use a rate above 0 and at most {MAX_FPS}.")
    if value.denominator != 1 and "/" not in raw:
        for exact in _NTSC:
            if abs(value - exact) < Fraction(1, 200):  # 23.976, 23.98, 29.97, 59.94, 47.952 ...
                return exact
        value = value.limit_denominator(1000)
    return value


def fps_text(value: Fraction) -> str:
    """24 -> '24', 24000/1001 -> '24000/1001', 12.5 -> '25/2'."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def fps_decimal(value: Fraction) -> str:
    """24000/1001 -> '23.976', 25 -> '25'."""
    return f"{float(value):.3f}".rstrip("0").rstrip(".")
