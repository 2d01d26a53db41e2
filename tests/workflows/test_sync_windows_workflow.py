"""Sync windows in the ApplicationWorkflow, on the time-skipping server (issue 5).

A deny window delays an automated sync durably: the workflow keeps reconciling (and
reporting OutOfSync) while the window is active, and syncs at the first reconcile after
it closes — hours of workflow time that take a second of wall time here.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from bosun.resources import SyncCode
from tests.workflows.conftest import Driver
from tests.workflows.fakes import FakeBosun, application, deployment, key

WEB = key("Deployment", "web")


def project_with(window: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}], "syncWindows": [window]},
    }


async def test_deny_window_delays_an_automated_sync_until_it_opens(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    now = await env.get_current_time()
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=3)
    world.project = project_with(
        {
            "kind": "deny",
            "schedule": f"0 {start.hour} * * *",
            "duration": "3h",
            "applications": ["shop-*"],
            "manualSync": False,
        }
    )
    world.git.push(deployment("web"))

    app = await bosun.start(application("shop-windowed"))
    status = await app.status()
    assert status.sync is SyncCode.OUT_OF_SYNC
    assert status.sync_window is not None and not status.sync_window.automated_allowed
    assert status.sync_window.next_change == end
    assert world.cluster.applied == []

    for _ in range(3):  # an hour of refresh timers inside the window: still no sync
        status = await app.tick()
        assert status.sync is SyncCode.OUT_OF_SYNC
    assert world.cluster.applied == [] and await app.history() == []

    await env.sleep((end - await env.get_current_time()).total_seconds() + 1)
    status = await app.settled(after=end, what="the first reconcile after the window")
    assert status.sync is SyncCode.SYNCED
    assert world.cluster.applied == [WEB]
    (entry,) = await app.history()
    assert entry.phase == "Succeeded" and entry.started_at is not None and entry.started_at >= end


async def test_allow_window_blocks_outside_it_and_manual_sync_follows_manual_sync_flag(
    bosun: Driver, world: FakeBosun, env: WorkflowEnvironment
) -> None:
    from workflows.state import OperationResult, SyncRequest

    now = await env.get_current_time()
    later = now + timedelta(hours=5)
    world.project = project_with(
        {
            "kind": "allow",
            "schedule": f"0 {later.hour} * * *",
            "duration": "1h",
            "applications": ["*"],
            "manualSync": True,
        }
    )
    world.git.push(deployment("web"))
    app = await bosun.start(application("shop-allow"))
    status = await app.status()
    assert status.sync_window is not None and not status.sync_window.automated_allowed
    assert world.cluster.applied == []

    result = await app.handle.execute_update("sync", SyncRequest(trigger="manual (test)"), result_type=OperationResult)
    assert result.phase == "Succeeded"  # manualSync: true lets a person through
    assert world.cluster.applied == [WEB]
