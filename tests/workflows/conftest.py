"""Fixtures for workflow tests: one time-skipping Temporal test server for the session,
a fresh task queue, fake world (:mod:`tests.workflows.fakes`) and worker per test.

Time only moves when a test moves it (``await app.tick()`` / ``env.sleep``) or awaits a
workflow result; everything else (activities, children) runs at once in real time, so a
test waits for the app to *settle* (no operation running, a newer reconcile) by polling
the ``status`` query.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner

from bosun import search_attributes
from tests.workflows.fakes import FakeBosun
from worker.main import WORKFLOWS
from workflows.application import ApplicationWorkflow, workflow_id
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
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter)
    # As `bosun setup` does on a real server: the app workflow upserts these on every reconcile.
    await environment.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=environment.client.namespace,
        search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in search_attributes.ALL}))
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


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *,
                     what: str, timeout: float = WAIT_SECONDS) -> T:
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


class App:
    """One ApplicationWorkflow under test, driven the way the CLI drives it."""

    def __init__(self, driver: Driver, name: str) -> None:
        self.driver = driver
        self.name = name
        self.handle: WorkflowHandle[Any, Any] = driver.client.get_workflow_handle(workflow_id(name))

    async def status(self) -> AppStatus:
        return await self.handle.query(ApplicationWorkflow.status)

    async def history(self) -> list[OperationResult]:
        return await self.handle.query(ApplicationWorkflow.history)

    async def settled(self, *, after: datetime | None = None, what: str = "") -> AppStatus:
        """The status once no operation runs and a reconcile newer than ``after`` finished."""
        def done(s: AppStatus) -> bool:
            return s.operation == "idle" and s.reconciled_at is not None and (
                after is None or s.reconciled_at > after)
        return await eventually(self.status, done, what=what or f"{self.name} to settle")

    async def tick(self) -> AppStatus:
        """Let the refresh timer (refresh_seconds + up to 10% jitter) fire; the settled status."""
        before = await self.settled()
        await self.driver.env.sleep(self.driver.refresh_seconds * 1.1 + 1)
        return await self.settled(after=before.reconciled_at, what=f"{self.name} to reconcile on the timer")


class Driver:
    """Starts app workflows on the test's task queue and terminates them afterwards."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.client: Client = env.client
        self.task_queue = task_queue
        self.refresh_seconds = REFRESH_SECONDS
        self.started: list[WorkflowHandle[Any, Any]] = []

    async def start(self, application: dict[str, Any], *, settle: bool = True) -> App:
        name = str(application["metadata"]["name"])
        handle = await self.client.start_workflow(
            ApplicationWorkflow.run,
            AppWorkflowInput(application=application, refresh_seconds=self.refresh_seconds),
            id=workflow_id(name), task_queue=self.task_queue)
        self.started.append(handle)
        app = App(self, name)
        if settle:
            await app.settled()
        return app

    async def stop_all(self) -> None:
        for handle in self.started:
            try:
                await self.client.get_workflow_handle(handle.id).terminate("test finished")
            except Exception:  # already completed or continued into a finished run
                pass


async def _driver(env: WorkflowEnvironment, task_queue: str, world: FakeBosun,
                  runner: WorkflowRunner | None = None) -> AsyncIterator[Driver]:
    options: dict[str, Any] = {} if runner is None else {"workflow_runner": runner}
    driver = Driver(env, task_queue)
    async with Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=world.activities(), **options):
        try:
            yield driver
        finally:
            await driver.stop_all()


@pytest.fixture
async def bosun(env: WorkflowEnvironment, task_queue: str, world: FakeBosun) -> AsyncIterator[Driver]:
    """A worker with the real workflows and the fake activities, polling a fresh task queue."""
    async for driver in _driver(env, task_queue, world):
        yield driver
