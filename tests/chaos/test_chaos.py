"""Chaos, measured, in CI (issue #16): the short form of ``bench/chaos.py``.

3 apps with a PreSync hook, three waves and a PostSync hook sync 2 generations each (6
syncs; more if the faults last longer, since every app syncs once more after the last
fault) while the worker is SIGKILLed twice, the Temporal dev server restarted once (its
SQLite file kept) and the kube-apiserver restarted once, each at a random point after a
sync finished. Every sync must finish, no hook may be created twice, no object lost or
left at another generation, and the repository password may appear in no workflow
history, log or file. How each is counted: ``tests/chaos/chaos_run.py``.
"""

from __future__ import annotations

import pytest

from tests.chaos.chaos_run import ChaosPlan, ChaosStack, run

CI_PLAN = ChaosPlan(apps=3, syncs_per_app=2, worker_kills=2, temporal_restarts=1, apiserver_restarts=1, jitter=3.0)


@pytest.mark.timeout(900)
def test_syncs_survive_worker_kills_and_server_restarts(chaos_stack: ChaosStack) -> None:
    report = run(chaos_stack, CI_PLAN)
    print("\n" + report.table() + "\n\n" + report.details())  # the figures (pytest -s)
    assert len(report.syncs) >= CI_PLAN.syncs
    assert not report.problems(), "\n".join(report.problems()) + "\n\n" + report.table()
    assert report.count("Succeeded") >= 1
    assert report.hook_jobs >= 2 * report.count("Succeeded")
