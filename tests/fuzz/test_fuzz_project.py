import itertools

import pytest

from tests.fuzz.fuzz_project import make_tests


@pytest.mark.parametrize("index", range(4))
def test_project_loader_fuzz(tmp_path, index):
    counter = itertools.count()
    test = make_tests(150, lambda: tmp_path / f"p{next(counter)}.roto")[index]
    test()
