"""Every bad input in the generated corpus gets the clear one-line error (exit 2), never a
traceback or a hang, and leaves existing work untouched."""

import pytest

from tests.safety.hostile import corpus, run_case

CASES = corpus()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case, tmp_path):
    out = run_case(case, tmp_path)
    if out.skipped:
        pytest.skip(out.skipped)
    assert out.handled, f"{case.name}: {out.why}"
