"""AnalysisRunWorkflow on the time-skipping server: hour-long intervals and initial delays in
seconds, Argo Rollouts' limits (failureLimit, inconclusiveLimit, consecutiveErrorLimit), dry-run
metrics, the terminate signal, an invalid template, and Secret args that stay references.

The activities are fakes under the real names (``measure``, ``write_analysis_run``,
``load_analysis_templates``): each metric answers a scripted list of phases.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.analysis import (
    AnalysisActivities,
    LoadTemplatesInput,
    LoadTemplatesResult,
    MeasureInput,
    WriteAnalysisRunInput,
    WriteAnalysisRunResult,
)
from activities.contracts import Destination
from bosun.analysis.run import Measurement, Phase
from bosun.protocol import AnalysisRunQuery, AnalysisRunSignal
from tests.workflows.conftest import eventually, skip_time
from workflows.analysis import AnalysisRunInput, AnalysisRunResult, AnalysisRunWorkflow


@dataclass
class FakeAnalysis:
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: dict[str, list[str]] = field(default_factory=dict)
    """Per metric, the phases its measurements answer (the last one repeats)."""
    measured: list[MeasureInput] = field(default_factory=list)
    writes: list[WriteAnalysisRunInput] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def activities(self) -> list[Any]:
        @activity.defn(name="load_analysis_templates")
        async def load(input: LoadTemplatesInput) -> LoadTemplatesResult:
            missing = [r.template_name for r in input.templates if r.template_name not in self.templates]
            if missing:
                raise ApplicationError(f"AnalysisTemplate {missing[0]!r} not found", non_retryable=True)
            return LoadTemplatesResult(templates=[self.templates[r.template_name] for r in input.templates])

        @activity.defn(name="measure")
        async def measure(input: MeasureInput) -> Measurement:
            self.measured.append(input)
            if input.metric.provider_type == "job":  # runs until cancelled, as a Job that never ends
                try:
                    while True:
                        activity.heartbeat()
                        await asyncio.sleep(0.1)
                except asyncio.CancelledError:
                    self.cancelled.append(input.metric.name)
                    raise
            phases = self.script[input.metric.name]
            taken = sum(1 for m in self.measured if m.metric.name == input.metric.name)
            phase = phases[min(taken, len(phases)) - 1]
            now = datetime.now(UTC)
            return Measurement(phase=Phase(phase), value=str(taken), started_at=now, finished_at=now)

        @activity.defn(name="write_analysis_run")
        async def write(input: WriteAnalysisRunInput) -> WriteAnalysisRunResult:
            self.writes.append(input)
            return WriteAnalysisRunResult(uid="uid-1")

        return [load, measure, write]


def template(*metrics: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "t"},
        "spec": {"metrics": list(metrics), **spec},
    }


def web(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "provider": {"web": {"url": "http://example/{{args.token}}"}}, **fields}


@pytest.fixture
async def fake(env: WorkflowEnvironment) -> AsyncIterator[tuple[FakeAnalysis, str]]:
    world = FakeAnalysis()
    queue = f"analysis-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[AnalysisRunWorkflow], activities=world.activities()):
        yield world, queue


async def run(
    env: WorkflowEnvironment, queue: str, *, history_limit: int = 10_000, **analysis: Any
) -> tuple[AnalysisRunResult, WorkflowHistory]:
    handle = await env.client.start_workflow(
        AnalysisRunWorkflow.run,
        AnalysisRunInput(
            name="r-1",
            namespace="prod",
            analysis={"templates": [{"templateName": "t"}], **analysis},
            destination=Destination(name="in-cluster", namespace="prod"),
            history_limit=history_limit,
        ),
        id=f"analysis-{uuid.uuid4()}",
        task_queue=queue,
    )
    result = await handle.result()
    return result, await handle.fetch_history()


def timers(history: WorkflowHistory) -> list[tuple[timedelta, str]]:
    out = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            summary = pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
            out.append((e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta(), summary))
    return out


def activity_summaries(history: WorkflowHistory) -> list[str]:
    return [
        pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def durations(history: WorkflowHistory) -> list[float]:
    """Timer durations in seconds."""
    return [d.total_seconds() for d, _ in timers(history)]


def assert_durations(history: WorkflowHistory, expected: list[float]) -> None:
    """The timers ran for ``expected`` seconds, less at most 5 s: a timer runs from the last
    measurement's start (or the run's), so it is shorter by the time the workflow took since —
    under a loaded machine, more than a second."""
    found = durations(history)
    assert len(found) == len(expected) and all(e - 5 <= f <= e for f, e in zip(found, expected, strict=True)), found


TOKEN = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]


async def test_hour_long_intervals_take_seconds(env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]) -> None:
    world, queue = fake
    world.templates["t"] = template(web("rate", interval="1h", count=3), args=TOKEN)
    world.script["rate"] = ["Successful"]
    result, history = await run(env, queue)
    assert result.phase == "Successful"
    (metric,) = result.status["metricResults"]
    assert (metric["count"], metric["successful"], len(metric["measurements"])) == (3, 3, 3)
    assert_durations(history, [3600, 3600])
    assert timers(history)[0][1] == "analysis rate: 1/3 measurements, next in 3600s"
    assert activity_summaries(history)[:3] == [
        "load AnalysisTemplate t",
        "AnalysisRun r-1: Running",
        "analysis rate: 0/3 measurements, measuring (web)",
    ]
    # the last write is the final status, Argo Rollouts' shape
    assert world.writes[-1].status["phase"] == "Successful"
    assert world.writes[-1].spec["metrics"][0]["provider"]["web"]["url"] == "http://example/{{args.token}}"


async def test_secret_args_reach_the_activity_as_references(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template(web("ok"), args=TOKEN)
    world.script["ok"] = ["Successful"]
    await run(env, queue)
    (measured,) = world.measured
    assert measured.metric.provider["url"] == "http://example/{{args.token}}"
    assert [(a.name, a.secret.name if a.secret else None, a.value) for a in measured.secret_args] == [
        ("token", "creds", None)
    ]
    assert measured.run_uid == "uid-1"


async def test_initial_delay_waits_on_a_durable_timer(env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]) -> None:
    world, queue = fake
    world.templates["t"] = template(web("late", initialDelay="30m"), args=TOKEN)
    world.script["late"] = ["Successful"]
    result, history = await run(env, queue)
    assert result.phase == "Successful"
    assert_durations(history, [1800])


async def test_failure_limit(env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]) -> None:
    world, queue = fake
    world.templates["t"] = template(web("rate", interval="10m", count=5, failureLimit=1), args=TOKEN)
    world.script["rate"] = ["Failed", "Successful", "Failed", "Successful"]
    result, _ = await run(env, queue)
    assert result.phase == "Failed"
    assert result.message == 'Metric "rate" assessed Failed due to failed (2) > failureLimit (1)'
    assert len(world.measured) == 3  # no measurement after the metric failed


async def test_inconclusive_limit(env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]) -> None:
    world, queue = fake
    world.templates["t"] = template(web("rate", interval="1m", count=3, inconclusiveLimit=1), args=TOKEN)
    world.script["rate"] = ["Inconclusive"]
    result, _ = await run(env, queue)
    assert result.phase == "Inconclusive"
    assert len(world.measured) == 2


async def test_consecutive_errors_retry_every_10s_then_error(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template(web("rate", interval="1h", count=2, consecutiveErrorLimit=2), args=TOKEN)
    world.script["rate"] = ["Error"]
    result, history = await run(env, queue)
    assert result.phase == "Error"
    assert "consecutiveErrors (3) > consecutiveErrorLimit (2)" in result.message
    assert_durations(history, [10, 10])


async def test_dry_run_metric_failing_does_not_fail_the_run(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template(web("real"), web("trial"), args=TOKEN, dryRun=[{"metricName": "trial"}])
    world.script.update(real=["Successful"], trial=["Failed"])
    result, _ = await run(env, queue)
    assert result.phase == "Successful"
    assert result.status["dryRunSummary"] == {"count": 1, "failed": 1}


async def test_terminate_ends_a_background_run_successful(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template(web("forever", interval="5m"), args=TOKEN)
    world.script["forever"] = ["Successful"]
    handle = await env.client.start_workflow(
        AnalysisRunWorkflow.run,
        AnalysisRunInput(
            name="bg",
            namespace="prod",
            analysis={"templates": [{"templateName": "t"}]},
            destination=Destination(name="in-cluster"),
        ),
        id=f"analysis-{uuid.uuid4()}",
        task_queue=queue,
    )
    await skip_time(env, timedelta(minutes=16).total_seconds())
    status = await handle.query(AnalysisRunQuery.STATUS, result_type=dict)
    assert status["phase"] == "Running"
    assert status["metricResults"][0]["count"] >= 3
    await handle.signal(AnalysisRunSignal.TERMINATE)
    result = await handle.result()
    assert result.phase == "Successful"
    assert result.message == "Run Terminated"


async def test_missing_template_ends_error(env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]) -> None:
    _, queue = fake
    result, _ = await run(env, queue)
    assert result.phase == "Error"
    assert "AnalysisTemplate 't' not found" in result.message


async def test_unsupported_provider_ends_error_naming_it(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template({"name": "dd", "provider": {"datadog": {"query": "x"}}})
    result, _ = await run(env, queue)
    assert result.phase == "Error"
    assert "provider.datadog is not supported by Bosun" in result.message
    assert world.writes[-1].status["phase"] == "Error"


async def test_terminate_cancels_a_running_job_measurement(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template({"name": "smoke", "provider": {"job": {"spec": {"template": {}}}}})
    handle = await env.client.start_workflow(
        AnalysisRunWorkflow.run,
        AnalysisRunInput(
            name="bg",
            namespace="prod",
            analysis={"templates": [{"templateName": "t"}]},
            destination=Destination(name="in-cluster"),
        ),
        id=f"analysis-{uuid.uuid4()}",
        task_queue=queue,
    )

    async def running() -> dict[str, Any]:
        return dict(await handle.query(AnalysisRunQuery.STATUS, result_type=dict))

    status = await eventually(
        running, lambda s: bool(s["metricResults"] and s["metricResults"][0]["measurements"]), what="a running job"
    )
    (measurement,) = status["metricResults"][0]["measurements"]
    assert measurement["phase"] == "Running"
    assert measurement["metadata"] == {"job-name": "uid-1.smoke.1"}
    await handle.signal(AnalysisRunSignal.TERMINATE)
    result = await handle.result()
    assert world.cancelled == ["smoke"]
    assert result.phase == "Successful"
    (measurement,) = result.status["metricResults"][0]["measurements"]
    assert (measurement["phase"], measurement["message"]) == ("Successful", "metric terminated")


async def test_a_long_run_continues_as_new_with_its_state(
    env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]
) -> None:
    world, queue = fake
    world.templates["t"] = template(web("rate", interval="1h", count=6), args=TOKEN)
    world.script["rate"] = ["Successful"]
    result, last_run = await run(env, queue, history_limit=25)
    assert result.phase == "Successful"
    (metric,) = result.status["metricResults"]
    assert (metric["count"], len(metric["measurements"])) == (6, 6)
    assert len(world.measured) == 6  # no measurement lost or repeated across runs
    first_event = last_run.events[0].workflow_execution_started_event_attributes
    assert first_event.continued_execution_run_id  # the history fetched is a continuation
    assert all(m.run_uid == "uid-1" for m in world.measured)


async def test_a_cancelled_run_is_written_terminated(env: WorkflowEnvironment, fake: tuple[FakeAnalysis, str]) -> None:
    world, queue = fake
    world.templates["t"] = template(web("forever", interval="5m"), args=TOKEN)
    world.script["forever"] = ["Successful"]
    handle = await env.client.start_workflow(
        AnalysisRunWorkflow.run,
        AnalysisRunInput(
            name="bg",
            namespace="prod",
            analysis={"templates": [{"templateName": "t"}]},
            destination=Destination(name="in-cluster"),
        ),
        id=f"analysis-{uuid.uuid4()}",
        task_queue=queue,
    )
    await skip_time(env, 60)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    final = world.writes[-1].status
    assert (final["phase"], final["message"]) == ("Successful", "Run Terminated")


class _LongJobCluster:
    """A cluster whose analysis Job never finishes; records what the activity deletes."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def client(self, destination: Destination) -> _LongJobCluster:
        return self

    def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        if obj["kind"] == "AnalysisTemplate":
            return template({"name": "long", "provider": {"job": {"spec": {"template": {}}}}})
        if obj["kind"] == "AnalysisRun":
            return {"metadata": {"uid": "u1"}}
        return {"status": {}}  # the Job: created, never Complete

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def merge_patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    def delete(self, obj: dict[str, Any], *, propagation_policy: str = "") -> bool:
        self.deleted.append(f"{obj['metadata']['name']} ({propagation_policy})")
        return True


async def test_terminate_deletes_the_running_job_through_the_real_activity(env: WorkflowEnvironment) -> None:
    cluster = _LongJobCluster()
    analysis = AnalysisActivities(clusters=cluster)  # type: ignore[arg-type]
    queue = f"analysis-{uuid.uuid4()}"
    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[AnalysisRunWorkflow],
            activities=[analysis.measure, analysis.write_analysis_run, analysis.load_analysis_templates],
            activity_executor=executor,
        ):
            handle = await env.client.start_workflow(
                AnalysisRunWorkflow.run,
                AnalysisRunInput(
                    name="bg",
                    namespace="prod",
                    analysis={"templates": [{"templateName": "long"}]},
                    destination=Destination(name="in-cluster"),
                ),
                id=f"analysis-{uuid.uuid4()}",
                task_queue=queue,
            )

            async def running() -> dict[str, Any]:
                return dict(await handle.query(AnalysisRunQuery.STATUS, result_type=dict))

            await eventually(running, lambda s: bool(s["metricResults"]), what="a running job")
            await handle.signal(AnalysisRunSignal.TERMINATE)
            result = await handle.result()
    assert result.phase == "Successful"
    assert cluster.deleted == ["u1.long.1 (Foreground)"]
