"""SIGKILL at random moments during project save, export and propagation: nothing is lost."""

import pytest

from tests.safety.crash_harness import campaign, summary


@pytest.mark.slow
def test_killed_jobs_lose_nothing(tmp_path, capsys):
    results = campaign(tmp_path, kills_per_job=17, seed=1)
    report = summary(results)
    with capsys.disabled():
        print("\n" + report)
    assert len(results) >= 50
    assert all(r.ok for r in results), report
    # the kills must land while work is under way, not only before or after it
    assert sum(1 for r in results if r.reported) >= len(results) // 2, report
