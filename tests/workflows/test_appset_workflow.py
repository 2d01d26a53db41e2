"""ApplicationSetWorkflow on the time-skipping server with fake activities (:class:`FakeFleet`):
generations on start, on ``changed`` and on the requeue timer; the end when the set is gone;
and the RollingSync state machine — steps synced in order, a step held while an app of an
earlier one is Degraded, ``maxUpdate`` apps of a step at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity, workflow
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.appsets import (
    AppProgressInput,
    AppSetRef,
    AppState,
    ReconcileAppSetResult,
    SyncAppsInput,
    WriteProgressInput,
)
from bosun.protocol import APPLICATION_SET_WORKFLOW, AppSetQuery, AppSetSignal, appset_workflow_id
from tests.workflows.conftest import skip_time
from workflows.appset import DEFAULT_REQUEUE_SECONDS, ApplicationSetWorkflow, AppSetWorkflowInput

POLL = 10.0


def step(env: str, max_update: int | str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"matchExpressions": [{"key": "env", "operator": "In", "values": [env]}]}
    if max_update is not None:
        entry["maxUpdate"] = max_update
    return entry


def rolling_set(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "fleet", "namespace": "bosun", "uid": "u1"},
        "spec": {
            "generators": [{"list": {"elements": [{"name": "a"}]}}],
            "template": {
                "metadata": {"name": "{{name}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://git.example.com/fleet.git", "path": "apps"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "fleet"},
                },
            },
            "strategy": {"type": "RollingSync", "rollingSync": {"steps": steps}},
        },
    }


@dataclass
class FakeApp:
    env: str
    sync: str = "OutOfSync"
    health: str = "Healthy"
    health_after_sync: str = "Healthy"
    phase: str = ""
    revision: str = "c1"
    """The commit Git holds for it (compared); a sync makes it the synced one."""
    synced: str = ""


@dataclass
class FakeFleet:
    """The set's apps as the activities would see them: a sync makes an app Synced with
    ``health_after_sync`` (the cluster settles at once)."""

    apps: dict[str, FakeApp] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    found: bool = True
    error: str = ""
    requeue: int | None = None
    generations: int = 0
    synced: list[list[str]] = field(default_factory=list)
    """Each ``sync_appset_apps`` call's apps, in order."""
    written: list[WriteProgressInput] = field(default_factory=list)

    @activity.defn(name="reconcile_appset")
    async def reconcile_appset(self, ref: AppSetRef) -> ReconcileAppSetResult:
        self.generations += 1
        if not self.found:
            return ReconcileAppSetResult(found=False)
        if self.error:
            return ReconcileAppSetResult(error=self.error)
        return ReconcileAppSetResult(
            applications=sorted(self.apps), manifest=self.manifest, requeue_after_seconds=self.requeue
        )

    @activity.defn(name="appset_app_progress")
    async def appset_app_progress(self, input: AppProgressInput) -> list[AppState]:
        return [
            AppState(
                name=name,
                labels={"env": self.apps[name].env},
                sync_status=self.apps[name].sync,
                health=self.apps[name].health,
                operation_phase=self.apps[name].phase,
                revisions=[self.apps[name].revision],
                synced_revisions=[self.apps[name].synced] if self.apps[name].synced else [],
            )
            for name in input.applications
        ]

    @activity.defn(name="sync_appset_apps")
    async def sync_appset_apps(self, input: SyncAppsInput) -> list[str]:
        self.synced.append(list(input.applications))
        for name in input.applications:
            app = self.apps[name]
            app.sync, app.health, app.phase, app.synced = "Synced", app.health_after_sync, "Succeeded", app.revision
        return list(input.applications)

    @activity.defn(name="write_appset_progress")
    async def write_appset_progress(self, input: WriteProgressInput) -> None:
        self.written.append(input)

    def statuses(self) -> dict[str, str]:
        """The last ``status.applicationStatus`` written: app → status."""
        if not self.written:
            return {}
        return {str(e["application"]): str(e["status"]) for e in self.written[-1].application_status}


async def until(check: Callable[[], bool], *, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, task_queue: str, fleet: FakeFleet
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """An ApplicationSetWorkflow over ``fleet`` (a worker with its fake activities) for the block."""
    activities: Sequence[Callable[..., object]] = [
        fleet.reconcile_appset,
        fleet.appset_app_progress,
        fleet.sync_appset_apps,
        fleet.write_appset_progress,
    ]
    async with Worker(env.client, task_queue=task_queue, workflows=[ApplicationSetWorkflow], activities=activities):
        handle = await env.client.start_workflow(
            ApplicationSetWorkflow.run,
            AppSetWorkflowInput(namespace="bosun", name="fleet", rolling_poll_seconds=POLL),
            id=appset_workflow_id("bosun", f"fleet-{task_queue}"),
            task_queue=task_queue,
        )
        try:
            yield handle
        finally:
            with contextlib.suppress(RPCError):  # it may have ended
                await handle.terminate()
    await skip_time(env, 3600)  # the next test starts with time skipping as it should


async def test_rolling_sync_syncs_the_steps_in_order(env: WorkflowEnvironment, task_queue: str) -> None:
    fleet = FakeFleet(
        apps={"dev-a": FakeApp("dev"), "dev-b": FakeApp("dev"), "qa-a": FakeApp("qa"), "prod-a": FakeApp("prod")},
        manifest=rolling_set([step("dev"), step("qa"), step("prod")]),
    )
    async with running(env, task_queue, fleet) as handle:
        await until(lambda: fleet.synced == [["dev-a", "dev-b"]], what="step 1's syncs")
        await until(lambda: fleet.statuses().get("dev-a") == "Pending", what="step 1 Pending")
        assert fleet.statuses()["qa-a"] == "Waiting" and fleet.statuses()["prod-a"] == "Waiting"
        for _ in range(4):
            await skip_time(env, POLL + 1)
            if len(fleet.synced) == 3:
                break
        await until(lambda: len(fleet.synced) == 3, what="every step synced")
        assert fleet.synced == [["dev-a", "dev-b"], ["qa-a"], ["prod-a"]]
        await skip_time(env, POLL + 1)
        await until(lambda: set(fleet.statuses().values()) == {"Healthy"}, what="every app Healthy")
        assert fleet.written[-1].done
        status = await handle.query(ApplicationSetWorkflow.status)
        assert status.rolling_done and status.applications == ["dev-a", "dev-b", "prod-a", "qa-a"]


async def test_a_degraded_app_of_step_one_holds_step_two(env: WorkflowEnvironment, task_queue: str) -> None:
    fleet = FakeFleet(
        apps={
            "dev-a": FakeApp("dev"),
            "dev-b": FakeApp("dev", health_after_sync="Degraded"),
            "qa-a": FakeApp("qa"),
            "prod-a": FakeApp("prod"),
        },
        manifest=rolling_set([step("dev"), step("qa"), step("prod")]),
    )
    async with running(env, task_queue, fleet) as _:
        await until(lambda: fleet.synced == [["dev-a", "dev-b"]], what="step 1's syncs")
        for _ in range(10):  # ten polls, and a requeue's worth of time: step 2 never starts
            await skip_time(env, POLL + 1)
        await skip_time(env, DEFAULT_REQUEUE_SECONDS)
        assert fleet.synced == [["dev-a", "dev-b"]]
        assert fleet.statuses()["qa-a"] == "Waiting"
        assert fleet.statuses()["dev-b"] != "Healthy"

        fleet.apps["dev-b"].health = "Healthy"  # someone fixed it
        for _ in range(3):
            await skip_time(env, POLL + 1)
            if len(fleet.synced) > 1:
                break
        await until(lambda: len(fleet.synced) >= 2, what="step 2's sync")
        assert fleet.synced[1] == ["qa-a"]


async def test_max_update_syncs_that_many_apps_of_a_step_at_once(env: WorkflowEnvironment, task_queue: str) -> None:
    fleet = FakeFleet(
        apps={"dev-a": FakeApp("dev"), "dev-b": FakeApp("dev"), "dev-c": FakeApp("dev"), "qa-a": FakeApp("qa")},
        manifest=rolling_set([step("dev", max_update=1), step("qa")]),
    )
    async with running(env, task_queue, fleet) as _:
        await until(lambda: len(fleet.synced) == 1, what="the first sync")
        for _ in range(8):
            await skip_time(env, POLL + 1)
            if len(fleet.synced) == 4:
                break
        await until(lambda: len(fleet.synced) == 4, what="every sync")
        assert all(len(batch) == 1 for batch in fleet.synced), fleet.synced
        assert sorted(name for batch in fleet.synced[:3] for name in batch) == ["dev-a", "dev-b", "dev-c"]
        assert fleet.synced[3] == ["qa-a"]


async def test_generations_on_start_on_changed_and_on_the_requeue_timer_and_the_end(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fleet = FakeFleet(apps={"web": FakeApp("dev")}, requeue=30)
    async with running(env, task_queue, fleet) as handle:
        await until(lambda: fleet.generations == 1, what="the first generation")
        await handle.signal(ApplicationSetWorkflow.changed)
        await until(lambda: fleet.generations == 2, what="a generation on `changed`")
        await skip_time(env, 31)
        await until(lambda: fleet.generations == 3, what="a generation on the requeue timer")
        assert fleet.synced == []  # no RollingSync: the apps' own sync policies run them

        fleet.error = 'spec.template.metadata.name: map has no entry for key "missing"'
        await handle.signal(ApplicationSetWorkflow.refresh)
        await until(lambda: fleet.generations == 4, what="a generation on `refresh`")
        await until(lambda: bool(fleet.error), what="the error")
        status = await handle.query(ApplicationSetWorkflow.status)
        assert status.error == fleet.error

        fleet.found = False
        await handle.signal(ApplicationSetWorkflow.changed)
        assert await handle.result() == "ApplicationSet bosun/fleet is gone"


def test_the_workflow_registers_the_protocol_names_and_its_id_keeps_its_wire_form() -> None:
    registered = workflow._Definition.must_from_class(ApplicationSetWorkflow)
    assert registered.name == APPLICATION_SET_WORKFLOW == "ApplicationSetWorkflow"
    assert set(registered.signals) == {AppSetSignal.CHANGED, AppSetSignal.REFRESH} == {"changed", "refresh"}
    assert set(registered.queries) == {AppSetQuery.STATUS} == {"status"}
    assert appset_workflow_id("bosun", "fleet") == "appset:bosun/fleet"
