import pytest

from tests.fuzz.fuzz_patterns import make_tests


@pytest.mark.parametrize("index,count", [(0, 500), (1, 60)])
def test_pattern_parser_fuzz(index, count):
    make_tests(count)[index]()
