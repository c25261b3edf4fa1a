"""core/export/naming.py and options.parse_range: file names from patterns, Nuke-safe layer names,
frame ranges, and the messages for bad ones."""

import pytest

from roto_studio.core.errors import ExportError
from roto_studio.core.export.naming import (
    check_pattern, example_name, file_safe, format_name, layer_name, unique_names,
)
from roto_studio.core.export.options import parse_range


def test_pattern_tokens_and_padding():
    assert format_name(check_pattern("{object}.####.exr", "exr"), "hero", 7) == "hero.0007.exr"
    assert format_name(check_pattern("{object}.%05d.png", "png16"), "hero", 1001) == "hero.01001.png"
    assert format_name(check_pattern("{object}_{frame:06d}", "png8"), "hero", 12) == "hero_000012.png"
    assert format_name(check_pattern("{object}.%d", "exr"), "a", 5) == "a.5.exr"
    assert format_name(check_pattern("{object}/{object}.##.exr", "exr"), "a", 123) == "a/a.123.exr"
    assert format_name(check_pattern("{object}.####", "exr"), "a", -3) == "a.-003.exr"
    assert example_name(None, "my hero", 1001, "exr") == "my_hero.1001.exr"
    assert example_name(None, "x", 1001, "prores") == "x.mov"
    assert example_name(None, "x", 1001, "png8", combined=True, project_name="shot") == "shot.1001.png"


@pytest.mark.parametrize("pattern, fmt, several, words", [
    ("{object}.exr", "exr", False, "no frame number"),
    ("{object}.####.png", "exr", False, "ends in .png"),
    ("{obj}.####", "exr", False, "unknown field"),
    ("/tmp/{object}.####", "exr", False, "inside the output folder"),
    ("../{object}.####", "exr", False, "inside the output folder"),
    ("mask.####", "exr", True, "{object}"),
    ("{object}.####.%04d", "exr", False, "more than one"),
    ("{object}.{frame:x?}", "exr", False, "not a valid number format"),
    ("", "png8", False, "empty"),
])
def test_bad_patterns_say_what_to_do(pattern, fmt, several, words):
    with pytest.raises(ExportError, match=None) as err:
        check_pattern(pattern, fmt, several_objects=several)
    assert words in str(err.value)


def test_layer_names_nuke_safe_and_unique():
    assert layer_name("hero") == "hero"
    assert layer_name("2") == "obj_2"
    assert layer_name("3d car") == "obj_3d_car"
    assert layer_name("my car!") == "my_car"
    assert layer_name("Zoë") == "Zoe"
    assert layer_name("rgba") == "obj_rgba"
    assert layer_name("***") == "obj"
    names = unique_names(["a b", "a-b", "A_B", "7"])
    assert names == ["a_b", "a_b_2", "A_B_3", "obj_7"]
    for n in names:
        assert n.replace("_", "").isalnum() and not n[0].isdigit()
    assert file_safe('a/b:c*?"') == "a_b_c_"
    assert file_safe("  ") == "object"
    assert file_safe("con") == "_con"


def test_parse_range():
    assert parse_range("1001-1100") == (1001, 1100)
    assert parse_range("1010") == (1010, 1010)
    assert parse_range("-5--1") == (-5, -1)
    for bad in ("a-b", "10-5", "1-2-3"):
        with pytest.raises(ExportError):
            parse_range(bad)
