"""core/media/patterns.py: sequence patterns parsed, matched and refused with a clear message."""

import pytest

from roto_studio.core.errors import MediaError
from roto_studio.core.media.patterns import parse_pattern


def test_parse_pattern():
    p = parse_pattern("/shots/a/plate.%04d.exr")
    assert (p.prefix, p.padding, p.suffix) == ("plate.", 4, ".exr")
    assert p.filename(1001) == "plate.1001.exr" and p.match("plate.1001.exr") == 1001
    assert p.match("plate.01001.exr") is None and p.match("plate.12345.exr") == 12345
    assert parse_pattern("plate.exr") is None
    with pytest.raises(MediaError):
        parse_pattern("a.####.####.exr")
