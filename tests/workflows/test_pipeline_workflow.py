"""PipelineWorkflow's state machine on the time-skipping server, over a fake fleet
(:class:`tests.workflows.fakes.FakeFleet`): stage order, soak, approval, abort, window."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bosun.pipeline import Phase, PipelineStatus
from bosun.protocol import (
    PIPELINE_WORKFLOW,
    PipelineCommand,
    PipelineQuery,
    PipelineUpdate,
    pipeline_workflow_id,
)
from tests.workflows.conftest import eventually, skip_time, time_skipping
from tests.workflows.fake_analysis import FakeAnalysisRun
from tests.workflows.fakes import NAMESPACE, FakeFleet, FleetApp
from tests.workflows.test_analysis_workflow import FakeAnalysis, template, web
from worker.main import WORKFLOWS
from workflows.analysis import AnalysisRunWorkflow
from workflows.pipeline import PipelineInput, PipelineWorkflow
from workflows.sync import cause_message

COMMIT = "c" * 40
LATER = "d" * 40


def pipeline(*stages: dict[str, Any], name: str = "guestbook") -> dict[str, Any]:
    return {
        "apiVersion": "bosun.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"stages": list(stages)},
    }


THREE_STAGES = pipeline(
    {"name": "dev", "apps": ["guestbook-dev"], "gates": [{"soak": "5m"}]},
    {"name": "staging", "selector": {"matchLabels": {"env": "staging"}}, "gates": [{"soak": "2m"}, {"approval": {}}]},
    {"name": "prod", "apps": ["guestbook-prod"]},
)


def fleet(**overrides: dict[str, Any]) -> FakeFleet:
    apps = {
        "guestbook-dev": FleetApp("guestbook-dev", labels={"env": "dev"}),
        "guestbook-staging": FleetApp("guestbook-staging", labels={"env": "staging"}),
        "shop-staging": FleetApp("shop-staging", labels={"env": "staging"}),
        "guestbook-prod": FleetApp("guestbook-prod", labels={"env": "prod"}),
    }
    for name, fields in overrides.items():
        for key, value in fields.items():
            setattr(apps[name.replace("_", "-")], key, value)
    return FakeFleet(*apps.values(), branches={"main": COMMIT})


@pytest.fixture
async def worker(env: WorkflowEnvironment, task_queue: str, request: pytest.FixtureRequest) -> AsyncIterator[FakeFleet]:
    fake: FakeFleet = getattr(request, "param", None) or fleet()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[PipelineWorkflow, FakeAnalysisRun],
        activities=fake.activities(),
    ):
        try:
            yield fake
        finally:
            for handle in _started:
                with contextlib.suppress(RPCError):
                    await handle.terminate("test finished")
            _started.clear()
            await skip_time(env, 3600)


_started: list[WorkflowHandle[Any, Any]] = []


async def start(
    env: WorkflowEnvironment, task_queue: str, document: dict[str, Any] = THREE_STAGES, revision: str = "main"
) -> WorkflowHandle[Any, PipelineStatus]:
    """Start a run of ``document`` under a name of its own (the test server is shared), ``guestbook-<n>``."""
    document = copy.deepcopy(document)
    document["metadata"]["name"] = f"guestbook-{task_queue[-8:]}"
    handle = await env.client.start_workflow(
        PipelineWorkflow.run,
        PipelineInput(pipeline=document, revision=revision, started_by="carol"),
        id=pipeline_workflow_id(document["metadata"]["name"]),
        task_queue=task_queue,
    )
    _started.append(handle)
    return handle


def name_of(handle: WorkflowHandle[Any, Any]) -> str:
    return handle.id.removeprefix("pipeline:")


async def get(handle: WorkflowHandle[Any, Any]) -> PipelineStatus:
    status: PipelineStatus = await handle.query(PipelineQuery.GET, result_type=PipelineStatus)
    return status


async def waiting_for_approval(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> PipelineStatus:
    async with time_skipping(env):
        return await eventually(
            lambda: get(handle),
            lambda s: any(g.kind == "approval" and g.phase is Phase.WAITING for st in s.stages for g in st.gates),
            what="the approval gate to wait",
        )


async def summaries(handle: WorkflowHandle[Any, Any]) -> list[str]:
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found.append(json.loads(event.user_metadata.summary.data))
    return found


async def activity_times(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, datetime]]:
    """Each activity's summary and when it was scheduled (workflow time)."""
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found.append((json.loads(event.user_metadata.summary.data), event.event_time.ToDatetime(tzinfo=UTC)))
    return found


async def timer_summaries(handle: WorkflowHandle[Any, Any]) -> list[str]:
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED and event.user_metadata.HasField("summary"):
            found.append(json.loads(event.user_metadata.summary.data))
    return found


async def test_stages_run_in_order_and_prod_waits_for_the_soaks_and_an_approval(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    started = await env.get_current_time()
    handle = await start(env, task_queue)
    waiting = await waiting_for_approval(env, handle)
    # dev and staging are promoted and synced, prod is untouched while the approval waits
    assert worker.steps[:2] == [("promote", "guestbook-dev"), ("sync", "guestbook-dev")]
    assert sorted(worker.steps[2:]) == [  # the apps of a stage are promoted together
        ("promote", "guestbook-staging"),
        ("promote", "shop-staging"),
        ("sync", "guestbook-staging"),
        ("sync", "shop-staging"),
    ]
    assert worker.apps["guestbook-prod"].target_revision == "main"
    dev, staging, prod = waiting.stages
    assert (dev.phase, staging.phase, prod.phase) == (Phase.SUCCEEDED, Phase.RUNNING, Phase.PENDING)
    assert [a.name for a in staging.apps] == ["guestbook-staging", "shop-staging"]
    soak = dev.gates[0]
    assert soak.phase is Phase.SUCCEEDED and soak.started_at and soak.finished_at
    assert soak.finished_at - soak.started_at >= timedelta(minutes=5)
    assert waiting.commit == COMMIT

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(PipelineUpdate.APPROVE, PipelineCommand(who="dave", stage="prod"), result_type=str)
    assert cause_message(refused.value).endswith(
        f"pipeline {name_of(handle)} waits for an approval of stage staging, not prod"
    )
    answer = await handle.execute_update(
        PipelineUpdate.APPROVE, PipelineCommand(who="dave", stage="staging", reason="smoke ok"), result_type=str
    )
    assert answer == f"approved stage staging of pipeline {name_of(handle)} as dave"

    result = await handle.result()
    assert result.phase is Phase.SUCCEEDED, result.message
    assert result.message == "promoted cccccccc through dev, staging, prod"
    assert [s.phase for s in result.stages] == [Phase.SUCCEEDED] * 3
    approval = result.stages[1].gates[1]
    assert (approval.by, approval.message) == ("dave", "approved by dave: smoke ok")
    assert all(app.target_revision == COMMIT and app.revision == COMMIT for app in worker.apps.values())
    assert worker.steps[-2:] == [("promote", "guestbook-prod"), ("sync", "guestbook-prod")]
    assert worker.resolved == ["main"]  # the branch is resolved once, for every stage
    assert result.started_by == "carol" and result.started_at and result.started_at >= started
    assert "stage prod: sync guestbook-prod to cccccccc" in await summaries(handle)


@pytest.mark.parametrize(
    "worker", [fleet(guestbook_dev={"after_sync": ["Healthy", "Healthy", "Degraded"]})], indirect=True
)
async def test_an_app_degraded_during_the_soak_fails_it_and_stops_the_pipeline(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    handle = await start(env, task_queue)
    result = await handle.result()
    assert result.phase is Phase.FAILED
    assert result.message == "stage dev: soak 5m failed: guestbook-dev became Degraded during the soak"
    dev, staging, prod = result.stages
    assert (dev.phase, dev.gates[0].phase) == (Phase.FAILED, Phase.FAILED)
    assert dev.gates[0].finished_at and dev.gates[0].started_at
    assert dev.gates[0].finished_at - dev.gates[0].started_at < timedelta(minutes=5)
    assert staging.phase is Phase.SKIPPED and [g.phase for g in staging.gates] == [Phase.SKIPPED] * 2
    assert prod.phase is Phase.SKIPPED
    assert worker.steps == [("promote", "guestbook-dev"), ("sync", "guestbook-dev")]


@pytest.mark.parametrize("worker", [fleet(guestbook_dev={"after_sync": ["Healthy", "Progressing"]})], indirect=True)
async def test_an_app_still_progressing_at_the_end_of_the_soak_fails_it(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    """Progressing is tolerated during a soak, not at its end: crashing pods whose rollout was
    marked complete stay Progressing for good, and "stayed Healthy" would be a lie."""
    handle = await start(env, task_queue)
    result = await handle.result()
    assert result.phase is Phase.FAILED
    assert result.message == "stage dev: soak 5m failed: guestbook-dev is Progressing at the end of the soak"
    soak = result.stages[0].gates[0]
    assert soak.phase is Phase.FAILED and soak.finished_at and soak.started_at
    assert soak.finished_at - soak.started_at >= timedelta(minutes=5)
    assert result.stages[1].phase is Phase.SKIPPED
    assert worker.steps == [("promote", "guestbook-dev"), ("sync", "guestbook-dev")]


async def test_a_rejected_approval_fails_with_the_reason_and_leaves_prod_untouched(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    handle = await start(env, task_queue)
    await waiting_for_approval(env, handle)
    await handle.execute_update(
        PipelineUpdate.REJECT, PipelineCommand(who="erin", reason="error budget spent"), result_type=str
    )
    result = await handle.result()
    assert result.phase is Phase.FAILED
    assert result.message == "stage staging: approval rejected by erin: error budget spent"
    gate = result.stages[1].gates[1]
    assert (gate.phase, gate.by, gate.message) == (Phase.FAILED, "erin", "rejected by erin: error budget spent")
    assert result.stages[2].phase is Phase.SKIPPED
    assert worker.apps["guestbook-prod"].target_revision == "main"
    assert ("promote", "guestbook-prod") not in worker.steps


async def test_abort_during_a_soak_stops_at_once(env: WorkflowEnvironment, task_queue: str, worker: FakeFleet) -> None:
    handle = await start(env, task_queue)
    async with time_skipping(env):
        await eventually(
            lambda: get(handle), lambda s: s.stages[0].gates[0].phase is Phase.RUNNING, what="the dev soak to start"
        )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(PipelineUpdate.APPROVE, PipelineCommand(who="dave"), result_type=str)
    assert cause_message(refused.value).endswith(
        f"pipeline {name_of(handle)} is not waiting for an approval (it is at stage dev): nothing to approve"
    )
    await handle.execute_update(
        PipelineUpdate.ABORT, PipelineCommand(who="frank", reason="wrong commit"), result_type=str
    )
    result = await handle.result()
    assert result.phase is Phase.FAILED and result.message == "aborted by frank: wrong commit"
    assert result.stages[0].phase is Phase.FAILED and result.stages[0].gates[0].phase is Phase.FAILED
    assert [s.phase for s in result.stages[1:]] == [Phase.SKIPPED, Phase.SKIPPED]
    assert worker.steps == [("promote", "guestbook-dev"), ("sync", "guestbook-dev")]
    with pytest.raises(RPCError):  # the run has ended: no update reaches it
        await handle.execute_update(PipelineUpdate.ABORT, PipelineCommand(who="frank"), result_type=str)


async def test_a_window_gate_waits_until_the_window_opens(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    now = await env.get_current_time()
    opens = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
    window = {"schedule": f"{opens.minute} {opens.hour} * * *", "duration": "1h"}
    document = pipeline(
        {"name": "dev", "apps": ["guestbook-dev"]},
        {"name": "prod", "apps": ["guestbook-prod"], "gates": [{"window": window}]},  # holds prod's promotion
    )
    handle = await start(env, task_queue, document)
    result = await handle.result()
    assert result.phase is Phase.SUCCEEDED, result.message
    dev, prod = result.stages
    gate = prod.gates[0]
    assert gate.started_at is not None and gate.started_at < opens
    assert gate.finished_at is not None and gate.finished_at >= opens
    assert dev.finished_at is not None and dev.finished_at < opens
    assert worker.steps[-2:] == [("promote", "guestbook-prod"), ("sync", "guestbook-prod")]
    pinned = [at for summary, at in await activity_times(handle) if summary.startswith("stage prod: pin")]
    assert len(pinned) == 1 and pinned[0] >= opens
    closed = (
        f"stage prod: window {opens.minute} {opens.hour} * * * for 1h (UTC): window closed until {opens.isoformat()}"
    )
    assert closed in await timer_summaries(handle)


@pytest.mark.parametrize("template", ["pass", "fail"])
async def test_an_analysis_gate_runs_an_analysis_run_as_a_child(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet, template: str
) -> None:
    document = pipeline(
        {"name": "dev", "apps": ["guestbook-dev"], "gates": [{"analysis": {"templateName": template}}]},
        {"name": "prod", "apps": ["guestbook-prod"]},
    )
    result = await (await start(env, task_queue, document)).result()
    gate = result.stages[0].gates[0]
    if template == "pass":
        assert result.phase is Phase.SUCCEEDED, result.message
        assert gate.phase is Phase.SUCCEEDED and gate.message.endswith("Successful")
    else:
        assert result.phase is Phase.FAILED
        assert result.message.startswith("stage dev: analysis fail: AnalysisRun guestbook-")
        assert result.message.endswith(" Failed: metric success-rate assessed Failed")
        assert ("promote", "guestbook-prod") not in worker.steps


@pytest.mark.parametrize("worker", [fleet(guestbook_dev={"sync_phase": "Failed"})], indirect=True)
async def test_a_failed_sync_stops_the_pipeline(env: WorkflowEnvironment, task_queue: str, worker: FakeFleet) -> None:
    result = await (await start(env, task_queue)).result()
    assert result.phase is Phase.FAILED
    assert result.message == "stage dev: sync of guestbook-dev Failed: guestbook-dev: Failed"
    assert worker.steps == [("promote", "guestbook-dev"), ("sync", "guestbook-dev")]


async def test_a_stage_whose_apps_do_not_become_healthy_times_out(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    worker.apps["guestbook-dev"].after_sync = ["Progressing"]
    document = copy.deepcopy(THREE_STAGES)
    document["spec"]["stages"][0]["timeout"] = "10m"
    result = await (await start(env, task_queue, document)).result()
    assert result.phase is Phase.FAILED
    assert result.message == (
        "stage dev: not Synced and Healthy at cccccccc after 10m: guestbook-dev: Synced/Progressing at cccccccc"
    )


async def test_a_second_run_while_one_runs_is_refused(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    handle = await start(env, task_queue)
    with pytest.raises(WorkflowAlreadyStartedError):
        await start(env, task_queue, revision="other")
    await handle.execute_update(PipelineUpdate.ABORT, PipelineCommand(who="x"), result_type=str)
    assert (await handle.result()).phase is Phase.FAILED


async def test_a_missing_app_fails_before_anything_is_promoted(
    env: WorkflowEnvironment, task_queue: str, worker: FakeFleet
) -> None:
    document = pipeline({"name": "dev", "apps": ["nope"]})
    result = await (await start(env, task_queue, document)).result()
    assert result.phase is Phase.FAILED
    assert result.message == "finding the apps: stage 'dev': application 'nope' not found"
    assert worker.steps == [] and result.stages[0].phase is Phase.SKIPPED


def test_the_pipeline_workflow_registers_exactly_the_protocol_names() -> None:
    """Names and ids are wire format (running runs, the CLI, the Temporal UI hold them)."""
    registered = workflow._Definition.must_from_class(PipelineWorkflow)
    assert registered.name == PIPELINE_WORKFLOW == "PipelineWorkflow"
    assert set(registered.updates) == {PipelineUpdate.APPROVE, PipelineUpdate.REJECT, PipelineUpdate.ABORT}
    assert set(registered.updates) == {"approve", "reject", "abort"}
    assert set(registered.queries) == {PipelineQuery.GET} == {"get"}
    assert not registered.signals
    assert pipeline_workflow_id("guestbook") == "pipeline:guestbook"
    assert PipelineWorkflow in WORKFLOWS


@pytest.mark.parametrize("answer", ["Successful", "Failed"])
async def test_an_analysis_gate_runs_the_real_analysis_run_in_the_stage_apps_namespace(
    env: WorkflowEnvironment, task_queue: str, answer: str
) -> None:
    """With the real AnalysisRunWorkflow (its activities faked): the template is loaded in the
    first app's destination namespace, the pipeline's args reach the metric, the AnalysisRun is
    labelled with the pipeline and stage, and only Successful lets the pipeline go on."""
    fake = fleet()
    analysis = FakeAnalysis(
        templates={"smoke": template(web("ok"), args=[{"name": "token"}])},
        script={"ok": [answer]},
    )
    document = pipeline(
        {
            "name": "dev",
            "apps": ["guestbook-dev"],
            "gates": [{"analysis": {"templateName": "smoke", "args": [{"name": "token", "value": "dev-123"}]}}],
        },
        {"name": "prod", "apps": ["guestbook-prod"]},
    )
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[PipelineWorkflow, AnalysisRunWorkflow],
        activities=[*fake.activities(), *analysis.activities()],
    ):
        handle = await start(env, task_queue, document)
        result = await handle.result()
    assert [m.metric.provider["url"] for m in analysis.measured] == ["http://example/dev-123"]
    assert {m.namespace for m in analysis.measured} == {NAMESPACE}
    written = analysis.writes[-1]
    assert written.labels == {"bosun.dev/pipeline": name_of(handle), "bosun.dev/stage": "dev"}
    assert written.annotations == {"bosun.dev/revision": COMMIT}
    assert written.status["phase"] == answer
    if answer == "Successful":
        assert result.phase is Phase.SUCCEEDED, result.message
        assert result.stages[0].gates[0].message == f"AnalysisRun {NAMESPACE}/{written.name} Successful"
    else:
        assert result.phase is Phase.FAILED
        assert result.message.startswith(f"stage dev: analysis smoke: AnalysisRun {written.name} Failed")
        assert ("promote", "guestbook-prod") not in fake.steps
