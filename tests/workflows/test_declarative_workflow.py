"""DeclarativeAppsWorkflow on the time-skipping server, with a fake ``reconcile_declared_apps``:
a poke (the watch saw a change) runs a full pass at once; between pokes only status passes
run, and full passes come at the slow safety-net period."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.declarative import DeclaredAppsInput, DeclaredAppsResult
from workflows.declarative import (
    HISTORY_BYTES_PER_RUN,
    DeclarativeAppsConfig,
    DeclarativeAppsInput,
    DeclarativeAppsWorkflow,
)


class FakePasses:
    def __init__(self) -> None:
        self.discover: list[bool] = []

    @activity.defn(name="reconcile_declared_apps")
    async def reconcile_declared_apps(self, input: DeclaredAppsInput) -> DeclaredAppsResult:
        self.discover.append(input.discover)
        known = dict(input.known)
        if input.discover:
            known["web"] = "digest"
        return DeclaredAppsResult(known=known, deleting=input.deleting)


async def until(check: Callable[[], bool], *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached"
        await asyncio.sleep(0.05)


async def test_a_poke_runs_a_full_pass_at_once_and_the_timer_runs_status_passes(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakePasses()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[DeclarativeAppsWorkflow],
        activities=[fake.reconcile_declared_apps],
    ):
        handle = await env.client.start_workflow(
            DeclarativeAppsWorkflow.run,
            DeclarativeAppsInput(poll_seconds=1000, status_seconds=300),
            id=f"declarative-{task_queue}",
            task_queue=task_queue,
        )
        await until(lambda: fake.discover == [True])  # the first pass is a full one

        await handle.signal(DeclarativeAppsWorkflow.poke)
        await until(lambda: fake.discover == [True, True])  # no time passed: the poke did it

        await env.sleep(350)  # a status pass only: nothing is discovered between pokes
        await until(lambda: len(fake.discover) >= 3)
        assert fake.discover[2] is False
        await env.sleep(700)  # the safety net: a full pass once poll_seconds have passed
        await until(lambda: fake.discover.count(True) >= 3)
        assert (await handle.query(DeclarativeAppsWorkflow.declared)).apps == ["web"]

        # A worker restarted with other periods changes them in the running workflow.
        await handle.signal(
            DeclarativeAppsWorkflow.configure, DeclarativeAppsConfig(poll_seconds=20, status_seconds=10)
        )
        await handle.signal(DeclarativeAppsWorkflow.poke)
        full_passes = fake.discover.count(True)
        await until(lambda: fake.discover.count(True) > full_passes)
        await env.sleep(25)
        await until(lambda: fake.discover.count(True) > full_passes + 1)
        await handle.terminate()


class BigFleetPasses(FakePasses):
    """Passes that know many apps: each one's marker holds every app's spec digest."""

    @activity.defn(name="reconcile_declared_apps")
    async def reconcile_declared_apps(self, input: DeclaredAppsInput) -> DeclaredAppsResult:
        self.discover.append(input.discover)
        known = {f"app-{i:05}": hashlib.sha256(f"{i}".encode()).hexdigest() for i in range(15_000)}
        return DeclaredAppsResult(known=known, deleting=input.deleting)


async def test_the_history_is_continued_as_new_before_it_grows_past_its_bound(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """A thousand apps made each pass's marker ~100 KB: 300 passes a run were a history of tens of
    MB that every worker taking the workflow over replayed (6-8 s workflow tasks at 1,000 apps)."""
    fake = BigFleetPasses()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[DeclarativeAppsWorkflow],
        activities=[fake.reconcile_declared_apps],
    ):
        handle = await env.client.start_workflow(
            DeclarativeAppsWorkflow.run,
            DeclarativeAppsInput(poll_seconds=1, status_seconds=1),
            id=f"declarative-{task_queue}",
            task_queue=task_queue,
        )
        first_run = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        for _ in range(30):
            await env.sleep(2)
            if (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
                break
        assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        passes = len(fake.discover)
        assert passes < 20, f"{passes} passes before continuing as new"
        size = sum(len(event.SerializeToString()) for event in (await first_run.fetch_history()).events)
        assert size < 2 * HISTORY_BYTES_PER_RUN
        await until(lambda: len(fake.discover) > passes)  # the new run goes on
        assert len((await handle.query(DeclarativeAppsWorkflow.declared)).apps) == 15_000
        await handle.terminate()
