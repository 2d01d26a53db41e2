"""SyncWorkflow scenarios: waves in order with health in between, a failing apply, and
``syncPolicy.retry`` on durable timers that a person can read in the child's history.

The retry tests drive the whole app (the sync runs as the app's child ``app:<name>:sync:1``)
and let time skip while awaiting that child's result: while the parent waits for its child it
has no timer of its own, so only the retry timers fire.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.contracts import Destination
from bosun.plan import build_plan
from bosun.resources import SyncCode
from tests.workflows.conftest import Driver, eventually, time_skipping
from tests.workflows.fakes import NAMESPACE, FakeBosun, application, deployment, key, service
from workflows.state import OperationResult, SyncRequest
from workflows.sync import ATTEMPTS_PER_RUN, SyncInput, SyncOutcome, SyncWorkflow

WEB = key("Deployment", "web")
DB = key("Deployment", "db")
REJECTED = (
    'Deployment.apps "web" is invalid: metadata.labels: Invalid value: "-web-": a valid label '
    "must be an empty string or consist of alphanumeric characters"
)


def summaries(history: WorkflowHistory, event_type: EventType.ValueType) -> list[str]:
    """The summaries a person reads in the Temporal UI, for events of one type."""
    return [
        pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == event_type
    ]


def timers(history: WorkflowHistory) -> list[tuple[timedelta, str]]:
    durations = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    return list(zip(durations, summaries(history, EventType.EVENT_TYPE_TIMER_STARTED), strict=True))


async def sync_child(driver: Driver, workflow_id: str) -> WorkflowHandle[SyncWorkflow, SyncOutcome]:
    """The handle of a sync child, once the app workflow has started it."""
    handle = driver.client.get_workflow_handle_for(SyncWorkflow.run, workflow_id)

    async def started() -> bool:
        try:
            await handle.describe()
        except Exception:
            return False
        return True

    await eventually(started, bool, what=f"{workflow_id} to start")
    return handle


# --------------------------------------------------------------------------- one sync, directly


async def run_sync(driver: Driver, world: FakeBosun, name: str, *objects: dict[str, object]) -> SyncOutcome:
    """Run a SyncWorkflow on its own, as the app workflow would for ``objects``."""
    digest = world.publish(world.git.push(*objects))
    desired = world.desired(name, digest, NAMESPACE)
    plan = build_plan(desired, [], prune=False, app_sync_options={}, app=name)
    return await driver.client.execute_workflow(
        SyncWorkflow.run,
        SyncInput(
            app=name,
            operation_id=1,
            destination=Destination(server="https://kubernetes.default.svc", namespace=NAMESPACE),
            manifests_digest=digest,
            plan=plan,
        ),
        id=f"app:{name}:sync:1",
        task_queue=driver.task_queue,
    )


async def test_waves_are_applied_in_order_each_healthy_before_the_next(bosun: Driver, world: FakeBosun) -> None:
    outcome = await run_sync(bosun, world, "waves", deployment("web", wave=1), deployment("db", wave=0))

    assert (outcome.phase, outcome.attempts) == ("Succeeded", 1)
    assert world.cluster.applied == [DB, WEB]
    history = await bosun.client.get_workflow_handle("app:waves:sync:1").fetch_history()
    assert summaries(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == [
        "Sync wave 0: apply Deployment/db",
        "Sync wave 0: wait until healthy",
        "Sync wave 1: apply Deployment/web",
        "Sync wave 1: wait until healthy",
    ]


async def test_an_unhealthy_wave_stops_the_sync(bosun: Driver, world: FakeBosun) -> None:
    world.cluster.stall(DB)

    outcome = await run_sync(bosun, world, "stalled", deployment("web", wave=1), deployment("db", wave=0))

    assert outcome.phase == "Failed"
    assert outcome.message == "Sync wave 0: Deployment/db is Degraded"
    assert world.cluster.applied == [DB]  # wave 1 never started


# --------------------------------------------------------------------------- failing applies


async def test_failed_apply_fails_the_operation_and_the_commit_is_not_synced_again(
    bosun: Driver, world: FakeBosun
) -> None:
    commit_a = world.git.push(deployment("web"), service("web"))
    world.cluster.reject(WEB, REJECTED)

    app = await bosun.start(application("shop-reject"))

    (entry,) = await app.history()
    assert (entry.phase, entry.revision) == ("Failed", commit_a)
    assert entry.message == f"Sync wave 0: Deployment/web: {REJECTED}"
    status = await app.status()
    assert status.sync is SyncCode.OUT_OF_SYNC and status.synced_revision == ""
    assert [c.message for c in status.conditions if c.type == "SyncError"] == [entry.message]

    await app.tick()
    await app.tick()
    assert len(await app.history()) == 1
    assert world.cluster.refused == [WEB]  # Argo CD: never auto-retry the same failed revision

    commit_b = world.git.push(deployment("web", image="nginx:1.28"), service("web"))
    world.cluster.rejections.clear()  # the fix is in the new commit
    status = await app.tick()
    assert (status.sync, status.synced_revision) == (SyncCode.SYNCED, commit_b)
    assert [c.type for c in status.conditions] == []


RETRY = {"limit": 2, "backoff": {"duration": "5s", "factor": 2}}


async def test_retry_policy_retries_on_durable_timers_then_stops(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    world.cluster.reject(WEB, REJECTED)
    app = await bosun.start(application("shop-retry", retry=RETRY), settle=False)

    child = await sync_child(bosun, "app:shop-retry:sync:1")
    async with time_skipping(bosun.env):
        outcome = await child.result()

    assert (outcome.phase, outcome.attempts) == ("Failed", 3)
    assert timers(await child.fetch_history()) == [
        (timedelta(seconds=5), "retry 1 of 2 in 5s"),
        (timedelta(seconds=10), "retry 2 of 2 in 10s"),
    ]
    assert world.cluster.refused == [WEB, WEB, WEB]
    (entry,) = [h for h in await app.history() if h.id == 1]
    assert entry.phase == "Failed" and REJECTED in entry.message

    await app.tick()
    assert len(await app.history()) == 1
    assert world.cluster.refused == [WEB, WEB, WEB]


async def test_retry_succeeds_once_the_cluster_accepts(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    world.cluster.reject(WEB, 'Internal error occurred: failed calling webhook "policy.shop"', times=1)
    app = await bosun.start(application("shop-retry-ok", retry=RETRY), settle=False)

    child = await sync_child(bosun, "app:shop-retry-ok:sync:1")
    async with time_skipping(bosun.env):
        outcome = await child.result()

    assert (outcome.phase, outcome.attempts) == ("Succeeded", 2)
    assert [t for t, _ in timers(await child.fetch_history())] == [timedelta(seconds=5)]
    status = await app.settled()
    assert status.sync is SyncCode.SYNCED and status.last_operation is not None
    assert status.last_operation.phase == "Succeeded"


async def test_negative_retry_limit_retries_until_the_sync_succeeds(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    world.cluster.reject(WEB, REJECTED, times=3)
    await bosun.start(application("shop-retry-forever", retry={"limit": -1}), settle=False)

    child = await sync_child(bosun, "app:shop-retry-forever:sync:1")
    async with time_skipping(bosun.env):
        outcome = await child.result()

    assert (outcome.phase, outcome.attempts) == ("Succeeded", 4)


async def test_a_sync_retried_without_limit_continues_as_new_and_keeps_counting(
    bosun: Driver, world: FakeBosun
) -> None:
    """retry.limit -1 must not grow one history for ever: every ATTEMPTS_PER_RUN attempts the
    sync continues as new, and the app waits on the whole chain as on one child."""
    world.git.push(deployment("web"))
    world.cluster.reject(WEB, REJECTED, times=ATTEMPTS_PER_RUN + 5)
    await bosun.start(application("shop-retry-long", retry={"limit": -1}), settle=False)

    child = await sync_child(bosun, "app:shop-retry-long:sync:1")
    first_run = (await child.describe()).run_id
    async with time_skipping(bosun.env):
        outcome = await child.result()

    assert (outcome.phase, outcome.attempts) == ("Succeeded", ATTEMPTS_PER_RUN + 6)
    first = await bosun.client.get_workflow_handle(child.id, run_id=first_run).fetch_history()
    assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert len(world.cluster.refused) == ATTEMPTS_PER_RUN + 5


async def test_zero_max_duration_does_not_cap_the_backoff(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    world.cluster.reject(WEB, REJECTED, times=1)
    retry = {"limit": 1, "backoff": {"duration": "5s", "maxDuration": "0"}}
    await bosun.start(application("shop-retry-nocap", retry=retry), settle=False)

    child = await sync_child(bosun, "app:shop-retry-nocap:sync:1")
    async with time_skipping(bosun.env):
        await child.result()

    assert [t for t, _ in timers(await child.fetch_history())] == [timedelta(seconds=5)]


async def test_manual_sync_reports_a_failed_apply(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    world.cluster.reject(WEB, REJECTED)
    app = await bosun.start(application("shop-manual-fail", automated=False))

    result = await app.handle.execute_update("sync", SyncRequest(), result_type=OperationResult)

    assert (result.phase, result.message) == ("Failed", f"Sync wave 0: Deployment/web: {REJECTED}")
    assert [(r.key, r.status, r.message) for r in result.resources] == [(WEB, "failed", REJECTED)]
