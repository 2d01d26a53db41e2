"""ApplicationWorkflow scenarios: reconcile, automated sync, self-heal, manual sync,
refresh, render failures, continue-as-new, delete, replay.

Each test is a story told with the fake Git and cluster (:mod:`tests.workflows.fakes`)
and checked the way a user would check it: ``bosun app get`` (the ``status`` query),
``bosun app history`` (the ``history`` query), the result of ``bosun app sync`` (the
``sync`` update) and what the cluster received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateStage
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

import workflows.application
from bosun.protocol import DeleteRequest, RefreshRequest
from bosun.resources import HealthCode, ResourceKey, SyncCode
from tests.workflows.conftest import HANG_SECONDS, WAIT_SECONDS, App, Driver, eventually, serve, skip_time
from tests.workflows.fakes import FakeBosun, application, config_map, deployment, key, service
from workflows.application import ApplicationWorkflow
from workflows.state import AppStatus, OperationResult, SyncRequest
from workflows.sync import SyncWorkflow

WEB = key("Deployment", "web")
WEB_SVC = key("Service", "web")


def row(status: AppStatus, resource: ResourceKey) -> tuple[SyncCode, HealthCode | None]:
    (found,) = [r for r in status.resources if r.key == resource]
    return found.sync, found.health


async def workflow_status(driver: Driver, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await driver.client.get_workflow_handle(workflow_id).describe()).status


# --------------------------------------------------------------------------- automated sync


async def test_new_automated_app_syncs_once_in_a_child_workflow(bosun: Driver, world: FakeBosun) -> None:
    commit_a = world.git.push(deployment("web"), service("web"))

    app = await bosun.start(application("shop-new"))

    status = await app.status()
    assert (status.sync, status.health) == (SyncCode.SYNCED, HealthCode.HEALTHY)
    assert status.revision == status.synced_revision == commit_a
    assert row(status, WEB) == (SyncCode.SYNCED, HealthCode.HEALTHY)
    assert [c.type for c in status.conditions] == []
    (entry,) = await app.history()
    assert (entry.id, entry.phase, entry.revision, entry.trigger) == (1, "Succeeded", commit_a, "automated")
    assert entry.workflow_id == "app:shop-new:sync:1"
    assert {r.key: r.status for r in entry.resources} == {WEB_SVC: "created", WEB: "created"}
    assert await workflow_status(bosun, "app:shop-new:sync:1") == WorkflowExecutionStatus.COMPLETED
    assert world.cluster.applied == [WEB_SVC, WEB]  # kind order: Service before Deployment
    assert world.counted_syncs == [("shop-new", "Succeeded")]  # argocd_app_sync_total, once


async def test_new_commit_syncs_again_and_an_unchanged_app_is_left_alone(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web", image="shop/web:1"))
    app = await bosun.start(application("shop-commits"))
    assert world.cluster.applied == [WEB]

    await app.tick()  # nothing new in Git, nothing changed in the cluster
    assert len(await app.history()) == 1
    assert world.cluster.applied == [WEB]

    commit_b = world.git.push(deployment("web", image="shop/web:2"))
    status = await app.tick()

    assert (status.sync, status.revision, status.synced_revision) == (SyncCode.SYNCED, commit_b, commit_b)
    first, second = await app.history()
    assert (second.id, second.phase, second.revision, second.workflow_id) == (
        2,
        "Succeeded",
        commit_b,
        "app:shop-commits:sync:2",
    )
    # Only the newest entry keeps per-resource results: the history must not grow with them.
    assert (first.revision, first.resources, [r.key for r in second.resources]) == (first.revision, [], [WEB])
    live = world.cluster.get(WEB)
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/web:2"

    await app.tick()
    assert len(await app.history()) == 2


@pytest.mark.parametrize("allow_empty", [False, True], ids=["refused", "allowEmpty"])
async def test_automated_prune_does_not_wipe_out_every_resource_without_allow_empty(
    bosun: Driver, world: FakeBosun, allow_empty: bool
) -> None:
    """Argo CD's allowEmpty: a commit that removes every resource is not synced by an
    automated prune unless ``automated.allowEmpty``; the app says why (a SyncError)."""
    world.git.push(deployment("web"), service("web"))
    spec = application(f"shop-empty-{str(allow_empty).lower()}", prune=True)
    spec["spec"]["syncPolicy"]["automated"]["allowEmpty"] = allow_empty
    app = await bosun.start(spec)
    emptied = world.git.push()  # the app's path is empty now

    status = await app.tick()

    history = [(h.trigger, h.phase, h.revision) for h in await app.history()]
    errors = [c.message for c in status.conditions if c.type == "SyncError"]
    if allow_empty:
        assert status.sync is SyncCode.SYNCED and errors == []
        assert history[1:] == [("automated", "Succeeded", emptied)]
        assert set(world.cluster.pruned) == {WEB, WEB_SVC}
    else:
        assert status.sync is SyncCode.OUT_OF_SYNC and all(r.requires_pruning for r in status.resources)
        assert errors == [f"Skipping sync attempt to {emptied}: auto-sync will wipe out all resources"]
        assert len(history) == 1 and world.cluster.pruned == []


async def test_self_heal_reverts_a_change_made_in_the_cluster(bosun: Driver, world: FakeBosun) -> None:
    commit_a = world.git.push(deployment("web", replicas=2))
    app = await bosun.start(application("shop-heal", self_heal=True))

    world.cluster.scale(WEB, 5)  # kubectl scale deployment web --replicas 5
    status = await app.tick()

    assert (status.sync, status.revision) == (SyncCode.SYNCED, commit_a)
    assert [(h.trigger, h.phase) for h in await app.history()] == [
        ("automated", "Succeeded"),
        ("automated (self-heal)", "Succeeded"),
    ]
    live = world.cluster.get(WEB)
    assert live is not None and live["spec"]["replicas"] == 2


async def test_drift_without_self_heal_is_only_reported(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web", replicas=2))
    app = await bosun.start(application("shop-drift", self_heal=False))

    world.cluster.scale(WEB, 5)
    status = await app.tick()
    status = await app.tick()

    assert status.sync is SyncCode.OUT_OF_SYNC
    (web,) = [r for r in status.resources if r.key == WEB]
    assert web.sync is SyncCode.OUT_OF_SYNC and "/spec/replicas" in web.changed_paths
    assert len(await app.history()) == 1
    live = world.cluster.get(WEB)
    assert live is not None and live["spec"]["replicas"] == 5


async def test_self_heal_works_again_after_a_failed_sync_was_fixed_by_hand(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web", replicas=2))
    world.cluster.reject(WEB, 'admission webhook "quota.shop" denied the request: quota exceeded', times=1)
    app = await bosun.start(application("shop-heal-after-fail", self_heal=True))
    last = (await app.status()).last_operation
    assert last is not None and last.phase == "Failed"

    manual = await app.handle.execute_update("sync", SyncRequest(), result_type=OperationResult)
    assert manual.phase == "Succeeded"
    world.cluster.scale(WEB, 5)
    status = await app.tick()

    assert status.sync is SyncCode.SYNCED
    assert [h.trigger for h in await app.history()][-1] == "automated (self-heal)"


# --------------------------------------------------------------------------- manual sync, refresh


async def test_manual_sync_of_a_non_automated_app_returns_the_operation_result(bosun: Driver, world: FakeBosun) -> None:
    commit_a = world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-manual", automated=False))
    status = await app.status()
    assert (status.sync, row(status, WEB)) == (SyncCode.OUT_OF_SYNC, (SyncCode.OUT_OF_SYNC, HealthCode.MISSING))
    assert world.cluster.applied == [] and await app.history() == []

    result = await app.handle.execute_update("sync", SyncRequest(), result_type=OperationResult)

    assert (result.id, result.phase, result.revision, result.trigger) == (1, "Succeeded", commit_a, "manual")
    assert result.workflow_id == "app:shop-manual:sync:1"
    status = await app.settled()
    assert (status.sync, status.health, status.synced_revision) == (SyncCode.SYNCED, HealthCode.HEALTHY, commit_a)
    assert world.cluster.applied == [WEB_SVC, WEB]
    assert await app.history() == [result]


async def test_manual_dry_run_changes_nothing(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await bosun.start(application("shop-dry-run", automated=False))

    result = await app.handle.execute_update("sync", SyncRequest(dry_run=True), result_type=OperationResult)

    assert (result.phase, result.dry_run) == ("Succeeded", True)
    assert "(dry run)" in result.message
    status = await app.settled()
    assert (status.sync, status.synced_revision) == (SyncCode.OUT_OF_SYNC, "")
    assert world.cluster.applied == []


async def test_refresh_signal_reconciles_before_the_timer(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web", image="shop/web:1"))
    app = await bosun.start(application("shop-refresh", automated=False))
    before = await app.status()

    commit_b = world.git.push(deployment("web", image="shop/web:2"))
    await app.handle.signal(ApplicationWorkflow.refresh, RefreshRequest())
    status = await app.settled(after=before.reconciled_at)

    assert status.revision == commit_b
    assert status.reconciled_at is not None and before.reconciled_at is not None
    assert (status.reconciled_at - before.reconciled_at).total_seconds() < bosun.refresh_seconds
    assert world.cluster.applied == []  # not automated: a refresh only compares


async def test_refresh_now_update_returns_the_fresh_status(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web", image="shop/web:1"))
    app = await bosun.start(application("shop-refresh-now", automated=False))
    commit_b = world.git.push(deployment("web", image="shop/web:2"))

    status = await app.handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)

    assert (status.revision, status.sync) == (commit_b, SyncCode.OUT_OF_SYNC)


async def test_timeout_reconciliation_from_the_settings_sets_the_refresh_timer(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    world.settings_refresh_seconds = 0  # timeout.reconciliation: 0s, no periodic refresh
    app = await bosun.start(application("shop-no-timer", automated=False))
    compares = world.compares

    await skip_time(bosun.env, bosun.refresh_seconds * 3)
    assert world.compares == compares  # the app's own 60 s timer no longer fires

    world.settings_refresh_seconds = int(bosun.refresh_seconds // 2)
    before = await app.status()
    await app.handle.signal(ApplicationWorkflow.refresh, RefreshRequest())  # requests still reconcile
    await app.settled(after=before.reconciled_at)
    refreshed = await app.status()
    await skip_time(bosun.env, bosun.refresh_seconds * 0.5 * 1.1 + 1)  # the settings' 30 s timer
    status = await app.settled(after=refreshed.reconciled_at, what="a reconcile on the settings' timer")
    assert status.reconciled_at is not None and refreshed.reconciled_at is not None


async def test_settings_warnings_become_conditions_and_clear(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    warning = "Resource example.com/Gizmo g2 is excluded in the settings"
    world.settings_warnings = {"ExcludedResourceWarning": warning}
    app = await bosun.start(application("shop-excluded", automated=False))
    assert [(c.type, c.message) for c in (await app.status()).conditions] == [("ExcludedResourceWarning", warning)]

    world.settings_warnings = {}
    status = await app.tick()
    assert status.conditions == []


# --------------------------------------------------------------------------- failures


async def test_render_failure_names_the_file_and_changes_nothing(bosun: Driver, world: FakeBosun) -> None:
    world.git.push_broken("web.yaml: document 2: mapping values are not allowed here (line 3, column 9)")
    app = await bosun.start(application("shop-broken"))

    status = await app.status()
    (condition,) = [c for c in status.conditions if c.type == "ComparisonError"]
    assert "web.yaml: document 2: mapping values are not allowed here" in condition.message
    assert status.sync is SyncCode.UNKNOWN
    assert world.cluster.applied == [] and await app.history() == []

    commit_b = world.git.push(deployment("web"))  # the fix
    status = await app.tick()
    assert [c.type for c in status.conditions] == []
    assert (status.sync, status.synced_revision) == (SyncCode.SYNCED, commit_b)


async def test_unknown_destination_cluster_is_a_condition_and_the_app_keeps_running(
    bosun: Driver, world: FakeBosun
) -> None:
    world.git.push(deployment("web"))
    spec = application("shop-nowhere")
    spec["spec"]["destination"] = {"name": "unknown-cluster", "namespace": "shop"}
    app = await bosun.start(spec)

    status = await app.status()
    (condition,) = [c for c in status.conditions if c.type == "ComparisonError"]
    assert "'unknown-cluster' is not known" in condition.message
    assert status.sync is SyncCode.UNKNOWN and world.cluster.applied == []
    status = await app.tick()  # still there, still saying why
    assert await workflow_status(bosun, "app:shop-nowhere") == WorkflowExecutionStatus.RUNNING
    assert any(c.type == "ComparisonError" for c in status.conditions)


# --------------------------------------------------------------------------- continue-as-new

MAX_EVENTS_FOR_TEST = 44
"""More than a fresh run's first reconcile (40 events with its patch markers), less than a run
with a sync (60) or with a second reconcile: every such run continues as new."""


@pytest.fixture
async def short_history(
    env: WorkflowEnvironment, task_queue: str, world: FakeBosun, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Driver]:
    """A worker whose app workflows continue-as-new after MAX_EVENTS_FOR_TEST events.

    Unsandboxed: the sandbox re-imports workflows.application, so a patched module global
    would not be seen there.
    """
    monkeypatch.setattr(workflows.application, "MAX_HISTORY_EVENTS", MAX_EVENTS_FOR_TEST)
    async for driver in serve(env, task_queue, world, UnsandboxedWorkflowRunner()):
        yield driver


async def run_ids(app: App) -> tuple[str, str]:
    """(first run, current run) of the app workflow."""
    description = await app.handle.describe()
    first = description.raw_description.workflow_execution_info.first_run_id
    return first, description.run_id


async def test_continue_as_new_keeps_status_history_and_sync_requests(short_history: Driver, world: FakeBosun) -> None:
    commit_a = world.git.push(deployment("web", image="shop/web:1"))
    app = await short_history.start(application("shop-can"))
    # The first run synced, so its history grew long: it continued as new.
    first, second = await eventually(
        lambda: run_ids(app), lambda ids: ids[0] != ids[1], what="the first run to continue as new"
    )

    commit_b = world.git.push(deployment("web", image="shop/web:2"))
    status = await app.tick()
    assert (status.sync, status.synced_revision) == (SyncCode.SYNCED, commit_b)
    _, third = await eventually(
        lambda: run_ids(app), lambda ids: ids[1] != second, what="the second run to continue as new"
    )

    result = await app.handle.execute_update("sync", SyncRequest(), result_type=OperationResult)

    assert (result.id, result.phase, result.workflow_id) == (3, "Succeeded", "app:shop-can:sync:3")
    await eventually(lambda: run_ids(app), lambda ids: ids[1] != third, what="the third run to continue as new")
    status = await app.settled()
    assert (status.sync, status.health, status.revision) == (SyncCode.SYNCED, HealthCode.HEALTHY, commit_b)
    history = await app.history()
    assert [(h.id, h.revision, h.trigger) for h in history] == [
        (1, commit_a, "automated"),
        (2, commit_b, "automated"),
        (3, commit_b, "manual"),
    ]


async def test_sync_update_sent_during_the_reconcile_before_continue_as_new_is_answered(
    short_history: Driver, world: FakeBosun
) -> None:
    commit_a = world.git.push(deployment("web"))
    app = await short_history.start(application("shop-can-race", automated=False))
    first, current = await run_ids(app)
    assert current == first  # one reconcile: short enough

    world.compare_gate = asyncio.Event()
    await app.handle.signal(ApplicationWorkflow.refresh, RefreshRequest())  # a second reconcile
    await asyncio.wait_for(world.compare_started.wait(), WAIT_SECONDS)
    update = await app.handle.start_update(
        "sync", SyncRequest(), result_type=OperationResult, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    world.compare_gate.set()  # the reconcile ends; the history is now long enough to continue as new

    result = await asyncio.wait_for(update.result(), HANG_SECONDS)

    assert (result.phase, result.revision) == ("Succeeded", commit_a)
    assert world.cluster.applied == [WEB]
    await eventually(
        lambda: run_ids(app), lambda ids: ids[1] != first, what="the run to continue as new once the sync was answered"
    )
    assert [h.id for h in await app.history()] == [result.id]


# --------------------------------------------------------------------------- delete


async def test_delete_with_cascade_prunes_the_apps_resources_and_completes(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-delete"))
    world.cluster.create_unmanaged(config_map("someone-elses", owner="ops"))

    message = await app.handle.execute_update("delete", DeleteRequest(cascade=True), result_type=str)

    assert message == "application shop-delete deleted with its resources"
    assert set(world.cluster.pruned) == {WEB, WEB_SVC} and len(world.cluster.pruned) == 2
    assert list(world.cluster.objects) == [key("ConfigMap", "someone-elses")]
    await eventually(
        lambda: workflow_status(bosun, app.handle.id),
        lambda s: s == WorkflowExecutionStatus.COMPLETED,
        what="the app workflow to complete",
    )
    assert await app.handle.result() == "deleted (cascade=True)"


async def test_delete_without_cascade_leaves_the_resources(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-orphan"))

    message = await app.handle.execute_update("delete", DeleteRequest(cascade=False), result_type=str)

    assert message == "application shop-orphan deleted"
    assert world.cluster.pruned == []
    assert set(world.cluster.objects) == {WEB, WEB_SVC}
    await eventually(
        lambda: workflow_status(bosun, app.handle.id),
        lambda s: s == WorkflowExecutionStatus.COMPLETED,
        what="the app workflow to complete",
    )


async def test_delete_answers_a_pending_sync_and_completes(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await bosun.start(application("shop-delete-race", automated=False))

    world.compare_gate = asyncio.Event()
    await app.handle.signal(ApplicationWorkflow.refresh, RefreshRequest())
    await asyncio.wait_for(world.compare_started.wait(), WAIT_SECONDS)
    sync = await app.handle.start_update(
        "sync", SyncRequest(), result_type=OperationResult, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    delete = await app.handle.start_update(
        "delete", DeleteRequest(cascade=True), result_type=str, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    world.compare_gate.set()

    await asyncio.wait_for(delete.result(), HANG_SECONDS)
    # The person running `bosun app sync` gets an answer …
    result = await asyncio.wait_for(sync.result(), HANG_SECONDS)
    assert (result.phase, result.message) == ("Failed", "the application was deleted first")
    assert world.cluster.applied == []
    # … and the app workflow ends.
    await eventually(
        lambda: workflow_status(bosun, app.handle.id),
        lambda s: s == WorkflowExecutionStatus.COMPLETED,
        what="the app workflow to complete",
    )


# --------------------------------------------------------------------------- replay


async def test_a_history_replays_when_a_local_read_outlived_its_workflow_task(bosun: Driver, world: FakeBosun) -> None:
    """get_project slower than the workflow task timeout: the SDK heartbeats the task, and the
    project-check patch, asked after that local activity in a later task, did not replay
    ("Non-deprecated patch marker encountered", 1,000-app benchmark) when the task's deadline fell
    between the local activity's end and the ask, a race this test cannot force: it checks the
    patch is asked at the start, and that a history with slow local reads replays."""
    world.git.push(deployment("web"))
    world.project_delay = 1.5
    app = await bosun.start(application("slow-project"), task_timeout=timedelta(seconds=1))
    await app.tick()
    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    history = await app.handle.fetch_history()
    patches = [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert "project-check-before-fetch" not in patches and "project-check-asked-at-start" in patches
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_histories_of_a_first_sync_replay(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"), service("web"))
    app = await bosun.start(application("shop-replay"))
    await app.tick()
    app_history = await app.handle.fetch_history()
    sync_history = await bosun.client.get_workflow_handle("app:shop-replay:sync:1").fetch_history()

    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    for history in (app_history, sync_history):
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None
