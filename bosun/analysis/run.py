"""The rules of an AnalysisRun, after Argo Rollouts' ``analysis/analysis.go``.

- :func:`record`: a finished measurement counted into its metric's result (``runMeasurements``),
  measurements kept bounded (the last 10, or ``measurementRetention``);
- :func:`metric_phase`: a metric's phase from its counts (``assessMetricStatus``:
  ``failed > failureLimit`` → Failed, ``inconclusive > inconclusiveLimit`` → Inconclusive,
  ``consecutiveError > consecutiveErrorLimit`` → Error, ``count`` reached → Successful,
  terminated → Successful);
- :func:`assess`: the run's phase, the worst of its metrics (dry-run metrics excluded and
  counted in ``dryRunSummary``), and its message (``assessRunStatus``);
- :func:`seconds_until_due`: when a metric's next measurement is due (``generateMetricTasks``,
  ``calculateNextReconcileTime``: ``initialDelay`` before the first, ``interval`` between
  them, 10 s after an error);
- :meth:`RunState.status`: the AnalysisRun ``status`` in Argo Rollouts' shape.

Times are timezone-aware datetimes the caller passes in (the workflow's ``workflow.now()``):
nothing here reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from bosun.analysis.spec import Metric, RunSpec

__all__ = [
    "DEFAULT_ERROR_RETRY_SECONDS",
    "Measurement",
    "MetricResult",
    "Phase",
    "RunState",
    "assess",
    "is_terminating",
    "metric_phase",
    "record",
    "seconds_until_due",
]

DEFAULT_ERROR_RETRY_SECONDS = 10.0
"""Argo Rollouts' ``DefaultErrorRetryInterval``: the wait after a measurement that errored."""


class Phase(StrEnum):
    """Argo Rollouts' ``AnalysisPhase``."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"

    @property
    def completed(self) -> bool:
        return self not in (Phase.PENDING, Phase.RUNNING)


_ORDER = [Phase.PENDING, Phase.RUNNING, Phase.SUCCESSFUL, Phase.INCONCLUSIVE, Phase.ERROR, Phase.FAILED]
"""Argo Rollouts' ``analysisStatusOrder``: later is worse (``IsWorse``)."""


def is_worse(current: Phase, new: Phase) -> bool:
    return _ORDER.index(new) > _ORDER.index(current)


def rfc3339(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


class Measurement(BaseModel):
    """One measurement (Argo Rollouts' ``Measurement``)."""

    phase: Phase
    message: str = ""
    value: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase.value}
        if self.message:
            out["message"] = self.message
        if self.value:
            out["value"] = self.value
        if self.started_at is not None:
            out["startedAt"] = rfc3339(self.started_at)
        if self.finished_at is not None:
            out["finishedAt"] = rfc3339(self.finished_at)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


class MetricResult(BaseModel):
    """A metric's results so far (Argo Rollouts' ``MetricResult``)."""

    name: str
    phase: Phase = Phase.PENDING
    message: str = ""
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    measurements: list[Measurement] = Field(default_factory=list)
    dry_run: bool = False

    def last(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "phase": self.phase.value}
        if self.message:
            out["message"] = self.message
        for key, value in (
            ("count", self.count),
            ("successful", self.successful),
            ("failed", self.failed),
            ("inconclusive", self.inconclusive),
            ("error", self.error),
            ("consecutiveError", self.consecutive_error),
        ):
            if value:
                out[key] = value
        out["measurements"] = [m.status() for m in self.measurements]
        if self.dry_run:
            out["dryRun"] = True
        return out


class RunSummary(BaseModel):
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0

    def add(self, phase: Phase) -> None:
        if phase == Phase.ERROR:
            self.error += 1
        elif phase == Phase.FAILED:
            self.failed += 1
        elif phase == Phase.INCONCLUSIVE:
            self.inconclusive += 1
        else:
            self.successful += 1

    def status(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v}


class RunState(BaseModel):
    """An AnalysisRun's state as the workflow keeps it; :meth:`status` is its Argo Rollouts shape."""

    phase: Phase = Phase.PENDING
    message: str = ""
    started_at: datetime | None = None
    terminate: bool = False
    metric_results: list[MetricResult] = Field(default_factory=list)
    run_summary: RunSummary = Field(default_factory=RunSummary)
    dry_run_summary: RunSummary = Field(default_factory=RunSummary)
    in_flight: dict[str, Measurement] = Field(default_factory=dict)
    """Measurements still running (a Job), by metric: shown as the metric's last measurement
    with phase Running, as Argo Rollouts shows them; not counted until they finish."""

    def result(self, name: str) -> MetricResult | None:
        return next((r for r in self.metric_results if r.name == name), None)

    def result_for(self, name: str, *, dry_run: bool = False) -> MetricResult:
        found = self.result(name)
        if found is None:
            found = MetricResult(name=name, phase=Phase.RUNNING, dry_run=dry_run)
            self.metric_results.append(found)
        return found

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase.value}
        if self.message:
            out["message"] = self.message
        if self.started_at is not None:
            out["startedAt"] = rfc3339(self.started_at)
        results = [r.status() for r in self.metric_results]
        for name, measurement in self.in_flight.items():
            shown = next((r for r in results if r["name"] == name), None)
            if shown is None:
                shown = {"name": name, "phase": Phase.RUNNING.value, "measurements": []}
                results.append(shown)
            shown["measurements"] = [*shown["measurements"], measurement.status()]
        out["metricResults"] = results
        out["runSummary"] = self.run_summary.status()
        if self.dry_run_summary.count:
            out["dryRunSummary"] = self.dry_run_summary.status()
        return out


# ------------------------------------------------------------------------- rules


def record(result: MetricResult, measurement: Measurement, *, keep: int = 10) -> None:
    """Count a finished ``measurement`` into ``result`` and keep the last ``keep`` measurements
    (Argo Rollouts' ``runMeasurements`` and ``garbageCollectMeasurements``)."""
    if measurement.phase == Phase.SUCCESSFUL:
        result.successful += 1
        result.count += 1
        result.consecutive_error = 0
    elif measurement.phase == Phase.FAILED:
        result.failed += 1
        result.count += 1
        result.consecutive_error = 0
    elif measurement.phase == Phase.INCONCLUSIVE:
        result.inconclusive += 1
        result.count += 1
        result.consecutive_error = 0
    elif measurement.phase == Phase.ERROR:
        result.error += 1
        result.consecutive_error += 1
    result.measurements.append(measurement)
    if len(result.measurements) > keep:
        del result.measurements[: len(result.measurements) - keep]


def limit_breach(metric: Metric, result: MetricResult) -> tuple[Phase | None, str]:
    """Argo Rollouts' ``assessMetricFailureInconclusiveOrError``: the limit a result broke (the last check wins)."""
    phase: Phase | None = None
    message = ""
    if result.failed > metric.failure_limit:
        phase, message = Phase.FAILED, f"failed ({result.failed}) > failureLimit ({metric.failure_limit})"
    if result.inconclusive > metric.inconclusive_limit:
        phase = Phase.INCONCLUSIVE
        message = f"inconclusive ({result.inconclusive}) > inconclusiveLimit ({metric.inconclusive_limit})"
    if result.consecutive_error > metric.consecutive_error_limit:
        phase = Phase.ERROR
        message = (
            f"consecutiveErrors ({result.consecutive_error}) > consecutiveErrorLimit ({metric.consecutive_error_limit})"
        )
    return phase, message


def metric_phase(metric: Metric, result: MetricResult, *, terminating: bool) -> Phase:
    """Argo Rollouts' ``assessMetricStatus``."""
    if result.phase.completed:
        return result.phase
    last = result.last()
    if last is None:
        return Phase.SUCCESSFUL if terminating else Phase.PENDING
    if not last.phase.completed:
        return Phase.RUNNING
    breach, _ = limit_breach(metric, result)
    if breach is not None:
        return breach
    count = metric.effective_count()
    if count is not None and result.count >= count:
        return Phase.SUCCESSFUL
    return Phase.SUCCESSFUL if terminating else Phase.RUNNING


def is_terminating(state: RunState) -> bool:
    """Argo Rollouts' ``IsTerminating``: a terminate request, or a (non-dry-run) metric that
    ended Failed, Error or Inconclusive: no further measurements are taken."""
    if state.terminate:
        return True
    return any(
        r.phase in (Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE) and not r.dry_run for r in state.metric_results
    )


def assess(spec: RunSpec, state: RunState, *, now: datetime) -> None:
    """Argo Rollouts' ``assessRunStatus``: update every metric's phase, the summaries, and
    the run's phase and message in ``state``."""
    if state.phase.completed:
        return
    if state.started_at is None:
        state.started_at = now
    terminating = is_terminating(state)
    worst: Phase | None = None
    worst_message = "Run Terminated" if state.terminate else ""
    everything_completed = True
    run_summary, dry_run_summary = RunSummary(), RunSummary()
    for metric in spec.metrics:
        dry_run = spec.is_dry_run(metric.name)
        (dry_run_summary if dry_run else run_summary).count += 1
        result = state.result(metric.name)
        if result is None:
            if terminating:
                continue  # never measured, and no longer will be: as a terminated metric, not in the worst phase
            everything_completed = False
            continue
        phase = metric_phase(metric, result, terminating=terminating)
        if phase != result.phase:
            last = result.last()
            if last is not None:
                result.message = last.message
            result.phase = phase
        if not phase.completed:
            everything_completed = False
            continue
        breach, breach_message = limit_breach(metric, result)
        if not dry_run:
            if worst is None or is_worse(worst, phase):
                worst = phase
                if breach_message:
                    worst_message = f'Metric "{metric.name}" assessed {phase.value} due to {breach_message}'
                    if result.message:
                        worst_message += f': "Error Message: {result.message}"'
            run_summary.add(breach or Phase.SUCCESSFUL)
        else:
            if worst is None:
                worst = Phase.SUCCESSFUL
            if breach_message:
                result.message = f"Metric assessed {phase.value} due to {breach_message}"
            dry_run_summary.add(breach or Phase.SUCCESSFUL)
    state.run_summary, state.dry_run_summary = run_summary, dry_run_summary
    if not terminating and is_terminating(state):
        # a metric just failed: Argo Rollouts' next reconcile terminates the run; do it now
        assess(spec, state, now=now)
        return
    if terminating:
        state.phase = worst or Phase.SUCCESSFUL
        state.message = worst_message.strip()
        return
    if not everything_completed or worst is None:
        state.phase = Phase.RUNNING
        state.message = ""
        return
    state.phase, state.message = worst, worst_message.strip()


def metric_done(metric: Metric, state: RunState) -> bool:
    """Whether ``metric`` takes no further measurements: it completed, or the run is terminating."""
    result = state.result(metric.name)
    if result is not None and result.phase.completed:
        return True
    return is_terminating(state)


def seconds_until_due(metric: Metric, state: RunState, *, now: datetime) -> float | None:
    """How long until ``metric``'s next measurement is due (0: now); None when it takes no more
    (completed, count reached, or the run terminating). After Argo Rollouts'
    ``generateMetricTasks`` / ``calculateNextReconcileTime``: ``initialDelay`` from the run's
    start before the first, 10 s after an error, else ``interval`` after the last finished."""
    if metric_done(metric, state):
        return None
    result = state.result(metric.name)
    last = result.last() if result is not None else None
    if result is None or last is None:
        if metric.initial_delay_seconds:
            start = state.started_at or now
            return max(0.0, metric.initial_delay_seconds - (now - start).total_seconds())
        return 0.0
    count = metric.effective_count()
    if count is not None and result.count >= count:
        return None
    if last.phase == Phase.ERROR:
        interval = DEFAULT_ERROR_RETRY_SECONDS
    elif metric.interval_seconds is not None:
        interval = metric.interval_seconds
    else:
        return None
    finished = last.finished_at or now
    return max(0.0, interval - (now - finished).total_seconds())


def progress(metric: Metric, state: RunState) -> str:
    """``success-rate: 3/5 measurements`` (a timer or activity summary)."""
    result = state.result(metric.name)
    taken = (result.count + result.error) if result is not None else 0
    count = metric.effective_count()
    return f"{metric.name}: {taken}/{count if count is not None else '∞'} measurements"
