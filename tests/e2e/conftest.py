"""Helpers for end-to-end tests: every test here is marked ``e2e`` (real servers)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.conftest import Cluster
from tests.e2e.bosun_stack import (
    Bosun,
    bosun,  # noqa: F401 - a fixture for every e2e test
)
from tests.e2e.prometheus import (  # noqa: F401 - fixtures of the analysis tests
    exporter,
    json_server,
    prometheus,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def stop_the_apps_a_test_started(request: pytest.FixtureRequest) -> Iterator[None]:
    """Terminate, after each test, the app workflows it started (its resources stay).

    Apps refresh every few seconds; left running, every app of every earlier test would
    keep the one worker and Temporal server busy for the rest of the session. Apps of
    module-scoped fixtures started before the test, and are kept.
    """
    if "bosun" not in request.fixturenames:
        yield
        return
    stack: Bosun = request.getfixturevalue("bosun")
    started = datetime.now(UTC) - timedelta(seconds=1)
    yield

    async def terminate() -> None:
        client = await Client.connect(stack.temporal.address)
        query = (
            f"WorkflowType = 'ApplicationWorkflow' AND ExecutionStatus = 'Running' "
            f"AND StartTime > '{started.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        )
        async for execution in client.list_workflows(query):
            with contextlib.suppress(RPCError):  # ended meanwhile
                await client.get_workflow_handle(execution.id).terminate("the test that started it is over")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # away from pytest-asyncio's event loop
        pool.submit(asyncio.run, terminate()).result(timeout=60)


def kubectl(cluster: Cluster, *args: str, input: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        ["kubectl", f"--kubeconfig={cluster.kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def kubectl_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(kubectl(cluster, *args, "-o", "json"))


def eventually(check: Callable[[], Any], *, timeout: float = 60, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout}s; last: {last!r}")
