"""Fixtures for workflow tests: one time-skipping Temporal test server for the session;
per test a fresh task queue, a fake world (:mod:`tests.workflows.fakes`) and a worker.

Time only moves when a test moves it (``await app.tick()`` / ``env.sleep``) or awaits a
workflow result; everything else (activities, children) runs at once in real time, so a
test waits for the app to *settle* (no operation running, a newer reconcile) by polling
the ``status`` query.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner

from activities.payloads import DATA_CONVERTER
from bosun import search_attributes
from bosun.protocol import app_workflow_id
from cli.setup_cmd import INDEXED_TYPES
from tests.workflows.fakes import FakeBosun
from worker.main import WORKFLOWS
from workflows.application import ApplicationWorkflow
from workflows.state import AppStatus, AppWorkflowInput, OperationResult

TEST_SERVER = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "temporal-test-server"
REFRESH_SECONDS = 60.0
WAIT_SECONDS = 10.0
"""Real seconds to wait for the workflow to get somewhere before failing the test."""
HANG_SECONDS = 4.0
"""Real seconds after which an answer that takes well under one second counts as never coming."""

T = TypeVar("T")


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=DATA_CONVERTER
    )
    # As `bosun setup` does on a real server: the app workflow upserts these on every reconcile.
    await environment.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=environment.client.namespace,
            search_attributes={name: INDEXED_TYPES[kind] for name, kind in search_attributes.TYPES.items()},
        )
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"bosun-{uuid.uuid4()}"


@pytest.fixture
def world() -> FakeBosun:
    return FakeBosun()


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, what: str, timeout: float = WAIT_SECONDS
) -> T:
    """Poll ``probe`` until ``check`` holds for its value; fail naming ``what`` and the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def time_skipping(env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Let the test server skip to the next timer whenever nothing runs, for the block.

    What awaiting the result of a workflow the test started does by itself; needed to
    await a child workflow (e.g. a sync whose retries wait on timers).
    """
    await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    try:
        yield
    finally:
        await env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())


async def skip_time(env: WorkflowEnvironment, seconds: float) -> None:
    """``env.sleep(seconds)``, robust to a stray time-skipping lock.

    The test server counts time-skipping locks, and now and then leaves one behind (a
    query or a terminate that meets a continue-as-new: the worker then logs "Task not
    found when completing ... workflow execution already completed"). From then on every
    ``env.sleep`` would run in real time. When virtual time stands still during the sleep,
    release the stray lock: the sleep then ends, re-locks, and the normal state (locked
    except while a test skips) is back.
    """
    start = await env.get_current_time()
    sleep = asyncio.ensure_future(env.sleep(seconds))
    done, _ = await asyncio.wait({sleep}, timeout=1.0)
    if not done and (await env.get_current_time() - start).total_seconds() < min(seconds, 10.0):
        await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    await sleep


class App:
    """One ApplicationWorkflow under test, driven the way the CLI drives it."""

    def __init__(self, driver: Driver, name: str) -> None:
        self.driver = driver
        self.name = name
        self.handle: WorkflowHandle[Any, Any] = driver.client.get_workflow_handle(app_workflow_id(name))

    async def status(self) -> AppStatus:
        return await self.handle.query(ApplicationWorkflow.status)

    async def history(self) -> list[OperationResult]:
        return await self.handle.query(ApplicationWorkflow.history)

    async def _status_if_answered(self) -> AppStatus | None:
        try:
            return await self.handle.query(ApplicationWorkflow.status, rpc_timeout=timedelta(seconds=5))
        except RPCError as exc:
            # Seen once with the test server, a query sent as a run continued-as-new: ask again.
            if exc.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
                return None
            raise

    async def settled(self, *, after: datetime | None = None, what: str = "") -> AppStatus:
        """The status once no operation runs and a reconcile newer than ``after`` finished."""

        def done(s: AppStatus | None) -> bool:
            return (
                s is not None
                and s.operation == "idle"
                and s.reconciled_at is not None
                and (after is None or s.reconciled_at > after)
            )

        status = await eventually(self._status_if_answered, done, what=what or f"{self.name} to settle")
        assert status is not None
        return status

    async def tick(self) -> AppStatus:
        """Let the refresh timer (refresh_seconds + up to 10% jitter) fire; the settled status."""
        before = await self.settled()
        await skip_time(self.driver.env, self.driver.refresh_seconds * 1.1 + 1)
        return await self.settled(after=before.reconciled_at, what=f"{self.name} to reconcile on the timer")


class Driver:
    """Starts app workflows on the test's task queue and terminates them afterwards."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.client: Client = env.client
        self.task_queue = task_queue
        self.refresh_seconds = REFRESH_SECONDS
        self.started: list[WorkflowHandle[Any, Any]] = []

    async def start(
        self,
        application: dict[str, Any],
        *,
        settle: bool = True,
        task_timeout: timedelta | None = None,
        declared: bool = False,
    ) -> App:
        name = str(application["metadata"]["name"])
        handle = await self.client.start_workflow(
            ApplicationWorkflow.run,
            AppWorkflowInput(application=application, refresh_seconds=self.refresh_seconds, declared=declared),
            id=app_workflow_id(name),
            task_queue=self.task_queue,
            task_timeout=task_timeout,
        )
        self.started.append(handle)
        app = App(self, name)
        if settle:
            await app.settled()
        return app

    async def stop_all(self) -> None:
        for handle in self.started:
            await self._wait_until_at_rest(handle.id)
            with contextlib.suppress(RPCError):  # already completed
                await self.client.get_workflow_handle(handle.id).terminate("test finished")

    async def _wait_until_at_rest(self, workflow_id: str, *, timeout: float = 3.0) -> None:
        """Wait (briefly) until the app workflow runs nothing: no activity, no child, no
        continue-as-new in progress. Terminating a workflow in the middle of those leaks a
        time-skipping lock in the test server, and the timers of every later test stop firing.
        """
        handle = self.client.get_workflow_handle(workflow_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        previous: tuple[str | None, datetime | None] | None = None
        while loop.time() < deadline:
            try:
                description = await handle.describe(rpc_timeout=timedelta(seconds=2))
                if description.status != WorkflowExecutionStatus.RUNNING:
                    return
                status = await handle.query(ApplicationWorkflow.status, rpc_timeout=timedelta(seconds=2))
            except RPCError:
                return  # stuck (e.g. failing workflow tasks): nothing better to wait for
            raw = description.raw_description
            current = (description.run_id, status.reconciled_at)
            if status.operation in ("idle", "deleted") and not raw.pending_activities and not raw.pending_children:
                if current == previous:
                    return
                previous = current
            else:
                previous = None
            await asyncio.sleep(0.1)


async def serve(
    env: WorkflowEnvironment, task_queue: str, world: FakeBosun, runner: WorkflowRunner | None = None
) -> AsyncIterator[Driver]:
    """Run a worker (the real workflows, ``world``'s activities) for the test; clean up after."""
    options: dict[str, Any] = {} if runner is None else {"workflow_runner": runner}
    driver = Driver(env, task_queue)
    async with Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=world.activities(), **options):
        try:
            yield driver
        finally:
            await driver.stop_all()
            await skip_time(env, 3600)  # and the next test starts with time skipping as it should


@pytest.fixture
async def bosun(env: WorkflowEnvironment, task_queue: str, world: FakeBosun) -> AsyncIterator[Driver]:
    """A worker with the real workflows and the fake activities, polling a fresh task queue."""
    async for driver in serve(env, task_queue, world):
        yield driver
