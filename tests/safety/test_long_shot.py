"""A long shot opens and scrubs in bounded memory, and propagates with the CPU fallback.
(benchmarks/bench_long_shot.py runs 1,000 vs 10,000 frames with propagation over all of them.)"""

import pytest

from tests.safety.long_shot import run


@pytest.mark.slow
def test_memory_does_not_grow_with_shot_length(tmp_path):
    short = run(200, tmp_path / "short", propagate=False)
    long = run(4000, tmp_path / "long", propagate=False)
    # the pts index grows (a few bytes a frame); decoded frames and caches must not
    grown = (long["after_scrub_mb"] - long["baseline_mb"]) - (short["after_scrub_mb"] - short["baseline_mb"])
    assert grown < 25, (short, long)


@pytest.mark.slow
def test_long_shot_propagates_with_cpu_fallback(tmp_path):
    r = run(60, tmp_path / "p", propagate=True)
    assert r["written"] == 59
