"""BatchSyncWorkflow on the time-skipping server, with a fake ``sync_app`` activity."""

from __future__ import annotations

import asyncio
import json

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.trigger import BatchSyncInput, SyncAppInput, SyncAppResult
from workflows.batch import BatchSyncResult, BatchSyncWorkflow


class FakeSync:
    """Syncs by table: an app named in ``failing`` fails, in ``missing`` does not exist."""

    def __init__(
        self, *, failing: frozenset[str] = frozenset(), missing: frozenset[str] = frozenset(), delay: float = 0.0
    ) -> None:
        self.failing, self.missing, self.delay = failing, missing, delay
        self.started: list[str] = []
        self.finished: list[str] = []
        self.in_flight = self.most_in_flight = 0

    @activity.defn(name="sync_app")
    async def sync_app(self, input: SyncAppInput) -> SyncAppResult:
        self.started.append(input.app)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        self.finished.append(input.app)
        if input.app in self.missing:
            raise ApplicationError(f"application {input.app!r} not found", non_retryable=True)
        phase = "Failed" if input.app in self.failing else "Succeeded"
        return SyncAppResult(
            app=input.app,
            phase=phase,
            message=f"{input.app}: {phase} ({input.trigger})",
            id=1,
            workflow_id=f"app:{input.app}:sync:1",
            revision="abc",
        )


async def run_batch(
    env: WorkflowEnvironment, task_queue: str, fake: FakeSync, batch: BatchSyncInput
) -> tuple[BatchSyncResult, list[str]]:
    async with Worker(env.client, task_queue=task_queue, workflows=[BatchSyncWorkflow], activities=[fake.sync_app]):
        handle = await env.client.start_workflow(
            BatchSyncWorkflow.run, batch, id=f"batch-{task_queue}", task_queue=task_queue
        )
        result = await handle.result()
        summaries = []
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                summaries.append(json.loads(event.user_metadata.summary.data))
    return result, summaries


async def test_in_order_stops_at_the_first_failure(env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeSync(failing=frozenset({"b"}))
    batch = BatchSyncInput(apps=["a", "b", "c"], in_order=True, trigger="nightly")
    result, summaries = await run_batch(env, task_queue, fake, batch)
    assert fake.started == ["a", "b"]
    assert result.phase == "Failed" and result.failed_app == "b"
    assert [(o.app, o.phase) for o in result.apps] == [("a", "Succeeded"), ("b", "Failed"), ("c", "Skipped")]
    assert result.message == "b failed (1 of 3 synced): b: Failed (nightly)"
    assert summaries == ["sync app a (1 of 3)", "sync app b (2 of 3)"]


async def test_in_order_waits_for_each_app_before_the_next(env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeSync(delay=0.2)
    batch = BatchSyncInput(apps=["a", "b", "c"], in_order=True)
    result, _ = await run_batch(env, task_queue, fake, batch)
    assert result.phase == "Succeeded" and result.message == "synced 3 apps: a, b, c"
    assert fake.started == fake.finished == ["a", "b", "c"] and fake.most_in_flight == 1
    assert result.apps[1].workflow_id == "app:b:sync:1" and result.apps[1].revision == "abc"


async def test_concurrently_syncs_all_and_reports_each(env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeSync(failing=frozenset({"b"}), missing=frozenset({"c"}), delay=0.5)
    result, summaries = await run_batch(env, task_queue, fake, BatchSyncInput(apps=["a", "b", "c", "d"]))
    assert sorted(fake.started) == ["a", "b", "c", "d"] and fake.most_in_flight == 4
    assert [(o.app, o.phase) for o in result.apps] == [
        ("a", "Succeeded"),
        ("b", "Failed"),
        ("c", "Error"),
        ("d", "Succeeded"),
    ]
    assert "not found" in result.apps[2].message
    assert result.phase == "Failed" and result.failed_app == "b"
    assert sorted(summaries) == [f"sync app {a} ({i} of 4)" for i, a in enumerate("abcd", 1)]
