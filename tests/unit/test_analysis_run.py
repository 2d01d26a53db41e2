"""The rules of an AnalysisRun (after Argo Rollouts' ``analysis/analysis.go`` and
``analysis_test.go``): metric phases from limits and counts, the run's worst phase, dry-run
metrics, when the next measurement is due, the status shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bosun.analysis.run import (
    Measurement,
    MetricResult,
    Phase,
    RunState,
    assess,
    is_terminating,
    metric_phase,
    record,
    seconds_until_due,
)
from bosun.analysis.spec import Metric, RunSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def metric(name: str = "m", **fields: Any) -> Metric:
    return Metric(name=name, provider_type="web", provider={"url": "http://x"}, **fields)


def measured(*phases: Phase, name: str = "m") -> MetricResult:
    result = MetricResult(name=name, phase=Phase.RUNNING)
    for i, phase in enumerate(phases):
        at = T0 + timedelta(minutes=i)
        record(result, Measurement(phase=phase, started_at=at, finished_at=at))
    return result


S, F, E, INC = Phase.SUCCESSFUL, Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE


@pytest.mark.parametrize(
    ("fields", "phases", "terminating", "expected"),
    [
        ({}, [], False, Phase.PENDING),
        ({}, [], True, Phase.SUCCESSFUL),
        ({}, [S], False, Phase.SUCCESSFUL),  # no count, no interval: one measurement
        ({}, [F], False, Phase.FAILED),
        ({"failure_limit": 1, "count": 3, "interval_seconds": 60}, [F], False, Phase.RUNNING),
        ({"failure_limit": 1, "count": 3, "interval_seconds": 60}, [F, F], False, Phase.FAILED),
        ({"failure_limit": 1, "count": 3, "interval_seconds": 60}, [F, S, S], False, Phase.SUCCESSFUL),
        ({"inconclusive_limit": 0}, [INC], False, Phase.INCONCLUSIVE),
        ({"count": 5, "interval_seconds": 60}, [E, E, E, E], False, Phase.RUNNING),
        ({"count": 5, "interval_seconds": 60}, [E, E, E, E, E], False, Phase.ERROR),  # > 4 consecutive
        ({"count": 5, "interval_seconds": 60, "consecutive_error_limit": 1}, [E, S, E], False, Phase.RUNNING),
        ({"count": 5, "interval_seconds": 60, "consecutive_error_limit": 1}, [E, E], False, Phase.ERROR),
        ({"interval_seconds": 60}, [S, S, S], False, Phase.RUNNING),  # indefinitely
        ({"interval_seconds": 60}, [S, S, S], True, Phase.SUCCESSFUL),  # until terminated
        ({"interval_seconds": 60}, [S, F], True, Phase.FAILED),
    ],
)
def test_metric_phase(fields: dict[str, Any], phases: list[Phase], terminating: bool, expected: Phase) -> None:
    assert metric_phase(metric(**fields), measured(*phases), terminating=terminating) == expected


def test_counts_and_bounded_measurements() -> None:
    result = measured(S, F, INC, E, E)
    assert (result.count, result.successful, result.failed, result.inconclusive, result.error) == (3, 1, 1, 1, 2)
    assert result.consecutive_error == 2
    for _ in range(20):
        record(result, Measurement(phase=S), keep=10)
    assert len(result.measurements) == 10
    assert result.consecutive_error == 0


def run_with(results: list[MetricResult]) -> RunState:
    return RunState(phase=Phase.RUNNING, started_at=T0, metric_results=results)


def test_run_phase_is_the_worst_completed_metric_with_argo_message() -> None:
    spec = RunSpec(metrics=[metric("a"), metric("b")])
    state = run_with([measured(S, name="a"), measured(F, name="b")])
    assess(spec, state, now=T0)
    assert state.phase == Phase.FAILED
    assert state.message == 'Metric "b" assessed Failed due to failed (1) > failureLimit (0)'
    assert state.status()["runSummary"] == {"count": 2, "successful": 1, "failed": 1}


def test_run_is_running_until_every_metric_completes() -> None:
    spec = RunSpec(metrics=[metric("a"), metric("b", interval_seconds=60, count=3)])
    state = run_with([measured(S, name="a"), measured(S, name="b")])
    assess(spec, state, now=T0)
    assert state.phase == Phase.RUNNING


def test_dry_run_metric_does_not_fail_the_run() -> None:
    spec = RunSpec(metrics=[metric("a"), metric("b")], dry_run=["b"])
    b = measured(F, name="b")
    b.dry_run = True
    state = run_with([measured(S, name="a"), b])
    assess(spec, state, now=T0)
    assert state.phase == Phase.SUCCESSFUL
    status = state.status()
    assert status["dryRunSummary"] == {"count": 1, "failed": 1}
    assert status["runSummary"] == {"count": 1, "successful": 1}
    assert status["metricResults"][1]["message"] == "Metric assessed Failed due to failed (1) > failureLimit (0)"
    assert status["metricResults"][1]["dryRun"] is True
    assert not is_terminating(state)


def test_terminate_ends_running_metrics_successful() -> None:
    spec = RunSpec(metrics=[metric("a", interval_seconds=60), metric("b", initial_delay_seconds=600)])
    state = run_with([measured(S, S, name="a")])
    state.terminate = True
    assess(spec, state, now=T0)
    assert state.phase == Phase.SUCCESSFUL
    assert state.message == "Run Terminated"


def test_a_failed_metric_terminates_the_others() -> None:
    a, b = metric("a", interval_seconds=60), metric("b", interval_seconds=60)
    state = run_with([measured(F, name="a"), measured(S, name="b")])
    assess(RunSpec(metrics=[a, b]), state, now=T0)
    assert state.phase == Phase.FAILED
    assert seconds_until_due(b, state, now=T0) is None


def test_when_measurements_are_due() -> None:
    delayed = metric("d", initial_delay_seconds=120, interval_seconds=60, count=3)
    state = run_with([])
    assert seconds_until_due(delayed, state, now=T0 + timedelta(seconds=20)) == 100
    assert seconds_until_due(metric("now"), state, now=T0) == 0
    state.metric_results.append(measured(S, name="d"))  # finished at T0
    assert seconds_until_due(delayed, state, now=T0 + timedelta(seconds=15)) == 45
    state.metric_results[0] = measured(E, name="d")
    assert seconds_until_due(delayed, state, now=T0) == 10  # DefaultErrorRetryInterval
    state.metric_results[0] = measured(S, S, S, name="d")
    assert seconds_until_due(delayed, state, now=T0) is None  # count reached


def test_status_shape() -> None:
    state = run_with([measured(S, name="m")])
    state.metric_results[0].measurements[0].value = "[0.99]"
    assess(RunSpec(metrics=[metric()]), state, now=T0)
    status = state.status()
    assert status["phase"] == "Successful"
    assert status["startedAt"] == "2026-01-01T00:00:00Z"
    (result,) = status["metricResults"]
    assert result["name"] == "m" and result["phase"] == "Successful" and result["count"] == 1
    assert result["measurements"] == [
        {
            "phase": "Successful",
            "value": "[0.99]",
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:00Z",
        }
    ]
