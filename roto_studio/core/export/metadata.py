"""What an export file says about itself: the time code of a plate frame at the shot's rate, and the
header attributes of each EXR (frame rate, time code, colour, how the cut-out's alpha is stored, and
any extra attributes a caller adds, such as provenance or Cryptomatte metadata).

Time codes count non-drop frames at the nominal rate (24 for 23.976), from frame 0 = 00:00:00:00,
wrapping at 24 hours, as ffmpeg writes a QuickTime timecode track for such rates.
"""

from __future__ import annotations

from typing import Any

from fractions import Fraction

from roto_studio.core.exr import TimeCode


def nominal_rate(fps: Fraction | float | str) -> int:
    """Frames per time-code second: the rate rounded (24000/1001 -> 24), at least 1."""
    return max(1, round(Fraction(fps)))


def timecode_at(frame: int, fps: Fraction | float | str) -> TimeCode:
    """The time code of plate frame `frame` at `fps` (non-drop)."""
    rate = nominal_rate(fps)
    n = int(frame) % (rate * 86400)
    seconds, ff = divmod(n, rate)
    return TimeCode(seconds // 3600, seconds // 60 % 60, seconds % 60, ff)


def exr_attributes(frame: int, fps: Fraction | float | str, colour: dict[str, Any] | None = None, alpha_mode: str | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Header attributes for the EXR of plate frame `frame`: `framesPerSecond` (rational), `timeCode`,
    the colour attributes (`colour`, for cut-outs), `alphaMode` for a cut-out ('premultiplied', the
    EXR convention, or 'straight' when asked), then `extra` ({name: value}, see core.exr for the
    value types; an extra attribute never replaces one named here)."""
    rate = Fraction(fps).limit_denominator(100000)
    attrs = {"framesPerSecond": rate, "timeCode": timecode_at(frame, rate)}
    attrs.update(colour or {})
    if alpha_mode:
        attrs["alphaMode"] = alpha_mode
    for name, value in (extra or {}).items():
        attrs.setdefault(name, value)
    return attrs
