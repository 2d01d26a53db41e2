"""Per-operation sync requests: a partial sync (``--resource``), ``sync_async`` (``--async``)
and ``apply_out_of_sync_only`` — with the fake Git and cluster of :mod:`tests.workflows.fakes`."""

from __future__ import annotations

from bosun.resource_filter import SyncResource
from tests.workflows.conftest import Driver, eventually
from tests.workflows.fakes import FakeBosun, application, config_map, deployment, key, service
from workflows.state import AppStatus, OperationResult, SyncRequest, SyncStarted

WEB = key("Deployment", "web")
WEB_SVC = key("Service", "web")
SETTINGS = key("ConfigMap", "settings")


async def test_partial_sync_applies_only_the_chosen_resources_and_keeps_no_history(
    bosun: Driver, world: FakeBosun
) -> None:
    world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-partial", automated=False))

    result = await app.handle.execute_update(
        "sync", SyncRequest(resources=[SyncResource.of(WEB_SVC)]), result_type=OperationResult
    )

    assert result.phase == "Succeeded"
    assert [r.key for r in result.resources] == [WEB_SVC]
    assert world.cluster.applied == [WEB_SVC]
    status: AppStatus = await app.settled()
    assert status.last_operation is not None and status.last_operation.id == result.id
    assert status.synced_revision == ""  # the app as a whole was not synced
    assert await app.history() == []  # as Argo CD: a partial sync is no rollback target


async def test_sync_async_answers_with_the_operation_before_it_runs(bosun: Driver, world: FakeBosun) -> None:
    commit = world.git.push(deployment("web"))
    app = await bosun.start(application("shop-async", automated=False))

    started = await app.handle.execute_update("sync_async", SyncRequest(), result_type=SyncStarted)

    assert (started.id, started.workflow_id) == (1, "app:shop-async:sync:1")
    history = await eventually(app.history, lambda entries: len(entries) == 1, what="the queued sync")
    assert (history[0].id, history[0].phase, history[0].revision) == (1, "Succeeded", commit)
    assert history[0].workflow_id == started.workflow_id
    assert world.cluster.applied == [WEB]


async def test_apply_out_of_sync_only_for_one_operation(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"), config_map("settings", mode="fast"))
    app = await bosun.start(application("shop-oos", automated=False))
    await app.handle.execute_update("sync", SyncRequest(), result_type=OperationResult)
    world.git.push(deployment("web"), config_map("settings", mode="slow"))
    world.cluster.applied.clear()

    result = await app.handle.execute_update(
        "sync", SyncRequest(apply_out_of_sync_only=True), result_type=OperationResult
    )

    assert result.phase == "Succeeded"
    assert world.cluster.applied == [SETTINGS]  # the Synced Deployment was not applied again
