"""``bosun.dev/depends-on`` in the ApplicationWorkflow, on the time-skipping server.

The check is the real :class:`activities.dependencies.DependencyActivities`, querying the
other app workflows of the test through the worker's client (see ``FakeBosun.check_dependencies``).
App ``db`` deploys Deployment db from branch ``db``; app ``web`` deploys Deployment web from
``main`` and depends on ``db``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from bosun.dependencies import DEPENDS_ON_ANNOTATION
from bosun.operation import ConditionType
from bosun.protocol import AppSignal, AppUpdate
from bosun.resources import HealthCode, SyncCode
from tests.workflows.conftest import App, Driver, eventually, skip_time
from tests.workflows.fakes import FakeBosun, application, deployment, key
from workflows.state import AppStatus, OperationResult, SyncRequest

WEB = key("Deployment", "web")
DB = key("Deployment", "db")


def app_with(name: str, *, depends: str = "", automated: bool = True, branch: str = "main") -> dict[str, Any]:
    manifest = application(name, automated=automated, target_revision=branch)
    if depends:
        manifest["metadata"]["annotations"] = {DEPENDS_ON_ANNOTATION: depends}
    return manifest


def condition(status: AppStatus, kind: str) -> str:
    return next((c.message for c in status.conditions if c.type == kind), "")


async def advance_until(
    env: WorkflowEnvironment, app: App, check: Callable[[AppStatus], bool], *, what: str, steps: int = 12
) -> AppStatus:
    """Move workflow time on by a dependency re-check at a time until ``check`` holds."""
    for _ in range(steps):
        status = await app.status()
        if check(status) and status.operation == "idle":
            return status
        await skip_time(env, 6)
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: not reached; last status {status!r}")


async def manual_sync(app: App) -> OperationResult:
    return await app.handle.execute_update(
        AppUpdate.SYNC, SyncRequest(trigger="manual (test)"), result_type=OperationResult
    )


async def test_an_app_waits_for_its_dependency_then_syncs_within_seconds(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    world.git.push(deployment("web"))
    world.git.push(deployment("db"), branch="db")
    db = await bosun.start(app_with("db", automated=False, branch="db"))
    web = await bosun.start(app_with("web", depends="db"))

    status = await web.status()
    assert status.sync is SyncCode.OUT_OF_SYNC
    assert condition(status, ConditionType.DEPENDENCY_NOT_READY) == (
        "dependency 'db' is not ready: OutOfSync, not Synced"
    )
    assert status.depends_on == ["db"]
    assert [(d.name, d.sync, d.reason) for d in status.dependencies] == [("db", "OutOfSync", "OutOfSync, not Synced")]
    assert world.cluster.applied == [] and await web.history() == []

    for _ in range(3):  # it checks again every few seconds, and waits
        await skip_time(env, 6)
        await web.settled()
    assert world.cluster.applied == []

    result = await manual_sync(db)
    assert result.phase == "Succeeded"
    assert world.cluster.applied == [DB]

    # the next check, seconds later: db is Synced and Healthy at its revision
    status = await advance_until(env, web, lambda s: s.sync is SyncCode.SYNCED, what="web to sync after db")
    assert world.cluster.applied == [DB, WEB]
    assert condition(status, ConditionType.DEPENDENCY_NOT_READY) == ""
    assert [(d.name, d.sync, d.health, d.reason) for d in status.dependencies] == [
        ("db", "Synced", str(HealthCode.HEALTHY), "")
    ]
    (entry,) = await web.history()
    assert entry.phase == "Succeeded" and entry.trigger.startswith("automated")


async def test_a_dependency_behind_its_target_revision_is_not_ready(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    world.git.push(deployment("web"))
    world.git.push(deployment("db"), branch="db")
    db = await bosun.start(app_with("db", branch="db"))  # automated: Synced and Healthy
    assert (await db.status()).sync is SyncCode.SYNCED
    world.git.push(deployment("db", replicas=3), branch="db")  # db has not seen this commit yet
    world.dependency_checks = 0
    web = await bosun.start(app_with("web", depends="db"))
    status = await web.status()
    # Either web saw db behind (and asked it to refresh: db then syncs the new commit and web
    # follows), or db was quicker: in both cases web syncs only after db compared the new commit.
    assert world.dependency_checks >= 1
    status = await advance_until(env, web, lambda s: s.sync is SyncCode.SYNCED, what="web to sync")
    db_status = await db.status()
    assert db_status.revision == world.git.resolve("db") and db_status.sync is SyncCode.SYNCED
    assert world.cluster.applied.index(WEB) > world.cluster.applied.index(DB, 1)
    assert status.dependencies[0].current == [world.git.resolve("db")]


async def test_a_cycle_is_refused_and_nothing_is_applied(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    world.git.push(deployment("web"))
    world.git.push(deployment("db"), branch="db")
    db = await bosun.start(app_with("db", depends="web", branch="db"))
    web = await bosun.start(app_with("web", depends="db"))
    await skip_time(env, 6)
    await db.tick()  # db checks again, now that web exists: the cycle
    web_status, db_status = await web.settled(), await db.settled()
    assert condition(web_status, ConditionType.INVALID_SPEC_ERROR) == (
        f"{DEPENDS_ON_ANNOTATION}: dependency cycle web → db → web; none of these apps syncs until the cycle is broken"
    )
    assert "dependency cycle db → web → db" in condition(db_status, ConditionType.INVALID_SPEC_ERROR)
    assert world.cluster.applied == []

    result = await manual_sync(web)  # a person cannot sync past a cycle either
    assert result.phase == "Failed" and "dependency cycle web → db → web" in result.message
    assert world.cluster.applied == []

    # Breaking the cycle (db depends on nothing) lets db sync, then web.
    await db.handle.signal(AppSignal.UPDATE_SPEC, app_with("db", branch="db"))
    await eventually(db.status, lambda s: s.sync is SyncCode.SYNCED, what="db to sync once the cycle is broken")
    await skip_time(env, 61)
    status = await advance_until(env, web, lambda s: s.sync is SyncCode.SYNCED, what="web to sync after db")
    assert condition(status, ConditionType.INVALID_SPEC_ERROR) == ""
    assert world.cluster.applied == [DB, WEB]


async def test_a_manual_sync_waits_for_the_dependencies_and_says_so(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    world.git.push(deployment("web"))
    world.git.push(deployment("db"), branch="db")
    db = await bosun.start(app_with("db", automated=False, branch="db"))
    web = await bosun.start(app_with("web", depends="db", automated=False))
    assert world.dependency_checks == 0  # nothing to sync: nothing checked

    update = await web.handle.start_update(
        AppUpdate.SYNC,
        SyncRequest(trigger="manual (test)"),
        result_type=OperationResult,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    status = await eventually(
        web.status, lambda s: s.operation.startswith("waiting for dependencies"), what="web's sync to wait"
    )
    assert status.operation == (
        "waiting for dependencies (manual (test)): dependency 'db' is not ready: OutOfSync, not Synced"
    )
    assert world.cluster.applied == []

    assert (await manual_sync(db)).phase == "Succeeded"
    await skip_time(env, 6)
    result = await asyncio.wait_for(update.result(), timeout=10)
    assert "waiting" not in (await web.status()).operation
    assert result.phase == "Succeeded"
    assert world.cluster.applied == [DB, WEB]


async def test_a_manual_sync_waiting_for_dependencies_can_be_terminated_and_times_out(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    world.git.push(deployment("web"))
    web = await bosun.start(app_with("web", depends="db", automated=False))  # db does not exist

    update = await web.handle.start_update(
        AppUpdate.SYNC,
        SyncRequest(trigger="manual (test)"),
        result_type=OperationResult,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await eventually(web.status, lambda s: s.operation.startswith("waiting for dependencies"), what="the wait")
    await web.handle.signal(AppSignal.TERMINATE_OPERATION)
    result = await asyncio.wait_for(update.result(), timeout=10)
    assert result.phase == "Failed"
    assert result.message == (
        "operation terminated by user while waiting for dependencies: "
        "dependency 'db' is not ready: not found (no running app workflow)"
    )

    update = await web.handle.start_update(
        AppUpdate.SYNC,
        SyncRequest(trigger="manual (test)"),
        result_type=OperationResult,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await eventually(web.status, lambda s: s.operation.startswith("waiting for dependencies"), what="the wait")
    await skip_time(env, 11 * 60)
    result = await asyncio.wait_for(update.result(), timeout=10)
    assert result.phase == "Failed" and result.message.startswith("dependencies not ready after 60")
    assert world.cluster.applied == []
    assert condition(await web.status(), ConditionType.DEPENDENCY_NOT_READY) == ""  # nothing waits any more
    assert [h.phase for h in await web.history()] == ["Failed", "Failed"]

    dry = await web.handle.execute_update(
        AppUpdate.SYNC, SyncRequest(trigger="manual (test)", dry_run=True), result_type=OperationResult
    )
    assert dry.phase == "Succeeded"  # a dry run changes nothing: it does not wait


async def test_an_invalid_annotation_is_an_invalid_spec_and_apps_without_one_never_check(
    bosun: Driver, world: FakeBosun
) -> None:
    world.git.push(deployment("web"))
    plain = await bosun.start(app_with("plain"))
    assert (await plain.status()).sync is SyncCode.SYNCED
    assert world.dependency_checks == 0

    world.cluster.applied.clear()
    web = await bosun.start(app_with("web", depends="db,,x"))
    status = await web.status()
    assert condition(status, ConditionType.INVALID_SPEC_ERROR) == f"{DEPENDS_ON_ANNOTATION}: empty app name in 'db,,x'"
    assert world.cluster.applied == [] and world.dependency_checks == 0

    selfish = await bosun.start(app_with("selfish", depends="selfish"))
    status = await selfish.status()
    assert condition(status, ConditionType.INVALID_SPEC_ERROR) == (
        f"{DEPENDS_ON_ANNOTATION}: app 'selfish' cannot depend on itself"
    )
    assert world.cluster.applied == []

    # Fixed by an edit: the condition goes and the app syncs (its dependency, plain, is ready).
    await web.handle.signal(AppSignal.UPDATE_SPEC, app_with("web", depends="plain"))
    status = await eventually(web.status, lambda s: s.sync is SyncCode.SYNCED, what="web to sync")
    assert condition(status, ConditionType.INVALID_SPEC_ERROR) == ""
    assert world.dependency_checks >= 1
