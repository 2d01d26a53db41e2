"""The app workflow's resource-action updates (``resource_actions``, ``run_resource_action``):
the resource is named among the app's, the outcome is recorded (also a failure), the app
stays Synced after a restart, and the record survives continue-as-new."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

import workflows.application
from bosun.resources import SyncCode
from tests.workflows.conftest import App, Driver, eventually, serve
from tests.workflows.fakes import FakeBosun, application, deployment, key, service
from workflows.actions import ActionRecord, ResourceActionsRequest, ResourceActionsResponse, RunResourceActionRequest

WEB = key("Deployment", "web")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


async def run(app: App, action: str, kind: str = "Deployment", name: str = "web") -> ActionRecord:
    record: ActionRecord = await app.handle.execute_update(
        "run_resource_action",
        RunResourceActionRequest(kind=kind, resource_name=name, action=action, initiated_by="alice@laptop"),
        result_type=ActionRecord,
    )
    return record


async def failure(app: App, action: str, kind: str = "Deployment", name: str = "web") -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await run(app, action, kind, name)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_restart_is_listed_run_and_recorded_and_the_app_stays_synced(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-actions"))

    listed = await app.handle.execute_update(
        "resource_actions",
        ResourceActionsRequest(kind="Deployment", resource_name="web"),
        result_type=ResourceActionsResponse,
    )
    assert listed.key == WEB and [(a.name, a.disabled) for a in listed.actions] == [("restart", False)]

    record = await run(app, "restart")

    assert (record.action, record.key, record.phase, record.initiated_by) == (
        "restart",
        WEB,
        "Succeeded",
        "alice@laptop",
    )
    live = world.cluster.get(WEB)
    assert live is not None and RESTARTED_AT in live["spec"]["template"]["metadata"]["annotations"]
    status = await app.tick()
    assert status.last_action == record
    assert status.sync is SyncCode.SYNCED
    assert world.cluster.applied == [key("Service", "web"), WEB]  # the action caused no sync


async def test_unknown_resource_and_action_are_typed_errors_and_failures_are_recorded(
    bosun: Driver, world: FakeBosun
) -> None:
    world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-action-errors"))

    missing = await failure(app, "restart", name="api")
    assert missing.type == "NotFound" and "Deployment/api is not a resource of application" in missing.message
    unknown = await failure(app, "explode")
    assert unknown.type == "UnknownAction" and "no action 'explode'" in unknown.message
    service_restart = await failure(app, "restart", kind="Service")
    assert service_restart.type == "UnknownAction"

    history = await app.handle.query("action_history", result_type=list[ActionRecord])
    # The resource that is not the app's never reached the cluster; the other two did, and failed.
    assert [(h.action, h.key.kind, h.phase) for h in history] == [
        ("explode", "Deployment", "Failed"),
        ("restart", "Service", "Failed"),
    ]
    assert "no action 'explode'" in history[0].message


@pytest.fixture
async def short_history(
    env: WorkflowEnvironment, task_queue: str, world: FakeBosun, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Driver]:
    """App workflows that continue-as-new after every reconcile (unsandboxed: see the same
    fixture in test_application_workflow)."""
    monkeypatch.setattr(workflows.application, "MAX_HISTORY_EVENTS", 40)
    async for driver in serve(env, task_queue, world, UnsandboxedWorkflowRunner()):
        yield driver


async def test_action_history_survives_continue_as_new(short_history: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await short_history.start(application("shop-action-can"))
    record = await run(app, "restart")

    async def run_id() -> str:
        return (await app.handle.describe()).run_id or ""

    first = await run_id()
    await app.tick()
    await eventually(run_id, lambda current: current != first, what="the app to continue as new")
    history = await app.handle.query("action_history", result_type=list[ActionRecord])
    assert history == [record]
    assert (await app.status()).last_action == record
