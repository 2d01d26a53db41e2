"""Schedules and batch deployments end to end: ``bosun schedule`` on the real stack (issue 6)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.trigger import (
    AppScheduleInput,
    BatchSyncInput,
    RemoveAppScheduleInput,
    TriggerActivities,
    scheduled_batch,
    spec_crons,
)
from bosun.protocol import app_schedule_id
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status
from workflows.batch import BatchSyncResult


@pytest.fixture
def schedules(bosun: Bosun) -> Iterator[list[str]]:
    """Names of schedules a test creates; deleted afterwards so none fires on a reused server."""
    names: list[str] = []
    yield names
    for name in names:
        bosun.cli("schedule", "delete", name, check=False)


def app_repo(path: Path, *, labels: dict[str, str] | None = None) -> GitRepo:
    return GitRepo.create(
        path,
        {
            "web.yaml": deployment("web", replicas=1, labels=labels),
            "settings.json": configmap("settings", {"mode": "fast"}),
        },
    )


def history(bosun: Bosun, app: str) -> list[dict[str, Any]]:
    return list(json.loads(bosun.cli("app", "history", app, "-o", "json").stdout))


Batches = dict[str, tuple[WorkflowExecutionStatus | None, BatchSyncResult | None]]


def batches(bosun: Bosun, schedule: str) -> Batches:
    """The BatchSyncWorkflows a schedule started: id → (status, result once completed)."""

    async def read() -> Batches:
        client = await Client.connect(bosun.temporal.address, data_converter=pydantic_data_converter)
        found: Batches = {}
        query = f"WorkflowType = 'BatchSyncWorkflow' AND TemporalScheduledById = '{schedule}'"
        async for execution in client.list_workflows(query):
            result = None
            if execution.status == WorkflowExecutionStatus.COMPLETED:
                result = await client.get_workflow_handle(
                    execution.id, run_id=execution.run_id, result_type=BatchSyncResult
                ).result()
            found[execution.id] = (execution.status, result)
        return found

    return asyncio.run(read())


def test_schedule_triggered_now_syncs_its_app(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path, schedules: list[str]
) -> None:
    app, ns, name = unique("sched"), unique("ns"), unique("monthly")
    bosun.create_app(app, app_repo(tmp_path / "repo"), namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    schedules.append(name)
    created = bosun.cli("schedule", "create", name, "--cron", "0 0 1 * *", "--app", app, "--timezone", "Europe/Berlin")
    assert f"schedule '{name}' created" in created.stdout
    described = json.loads(bosun.cli("schedule", "describe", name, "-o", "json").stdout)
    assert described["apps"] == [app] and described["cron"] == ["0 0 1 * *"]
    assert described["timezone"] == "Europe/Berlin" and described["overlap"] == "skip"
    berlin = ZoneInfo("Europe/Berlin")
    first_run = datetime.fromisoformat(described["next_runs"][0]).astimezone(berlin)
    assert (first_run.day, first_run.hour, first_run.minute) == (1, 0, 0)

    bosun.cli("schedule", "trigger", name)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    ops = history(bosun, app)
    assert [(op["phase"], op["trigger"]) for op in ops] == [("Succeeded", f"schedule {name}")]
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["status"].get("availableReplicas") == 1

    def run_recorded() -> dict[str, Any] | None:
        view = json.loads(bosun.cli("schedule", "describe", name, "-o", "json").stdout)
        runs = view["recent_runs"]
        return view if runs and runs[-1]["status"] == "Completed" else None

    view = eventually(run_recorded, timeout=30, what="the triggered run in describe")
    assert view["recent_runs"][-1]["result"]["phase"] == "Succeeded"
    assert view["recent_runs"][-1]["result"]["apps"][0]["workflow_id"] == ops[0]["workflow_id"]

    def listed() -> list[dict[str, Any]]:
        return [s for s in json.loads(bosun.cli("schedule", "list", "-o", "json").stdout) if s["name"] == name]

    assert eventually(listed, timeout=30, what="schedule in list")[0]["apps"] == [app]
    bosun.cli("schedule", "pause", name, "--note", "freeze")
    paused = json.loads(bosun.cli("schedule", "describe", name, "-o", "json").stdout)
    assert paused["paused"] and paused["note"] == "freeze"
    bosun.cli("schedule", "unpause", name)
    assert not json.loads(bosun.cli("schedule", "describe", name, "-o", "json").stdout)["paused"]
    assert bosun.cli("schedule", "delete", name).returncode == 0
    assert bosun.cli("schedule", "describe", name, check=False).returncode == 3


def test_backfill_runs_one_batch_per_cron_time_in_the_window(
    bosun: Bosun, tmp_path: Path, schedules: list[str]
) -> None:
    app, name = unique("backfill"), unique("hourly")
    bosun.create_app(app, app_repo(tmp_path / "repo"), namespace=unique("ns"), automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    schedules.append(name)
    # hourly on January 1st only: it never fires by itself while the test runs
    bosun.cli("schedule", "create", name, "--cron", "0 * 1 1 *", "--app", app)
    bosun.cli("schedule", "backfill", name, "--from", "2025-01-01T00:30:00Z", "--to", "2025-01-01T03:30:00Z")
    expected = {f"batch:{name}-2025-01-01T0{hour}:00:00Z" for hour in (1, 2, 3)}

    def all_done() -> dict[str, Any] | None:
        found = batches(bosun, name)
        done = all(status == WorkflowExecutionStatus.COMPLETED for status, _ in found.values())
        return found if set(found) == expected and done else None

    found = eventually(all_done, timeout=180, what=f"three batches {sorted(expected)}")
    assert {result.phase for _, result in found.values() if result} == {"Succeeded"}
    ops = history(bosun, app)
    assert [(op["phase"], op["trigger"]) for op in ops] == [("Succeeded", f"schedule {name}")] * 3
    wait_status(bosun, app, sync="Synced", health="Healthy")


def test_batch_in_order_stops_at_the_failing_app_and_concurrent_reports_each(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path, schedules: list[str]
) -> None:
    apps = {key: unique(f"batch{key}") for key in "abc"}
    namespaces = {key: unique("ns") for key in "abc"}
    for key in "abc":
        labels = {"tier": "not a valid label value!"} if key == "b" else None
        bosun.create_app(apps[key], app_repo(tmp_path / key, labels=labels), namespace=namespaces[key], automated=False)
    for app in apps.values():
        wait_status(bosun, app, sync="OutOfSync")
    name = unique("nightly")
    schedules.append(name)
    bosun.cli(
        "schedule",
        "create",
        name,
        "--cron",
        "0 2 * * *",
        "--app",
        apps["a"],
        "--app",
        apps["b"],
        "--app",
        apps["c"],
        "--in-order",
    )

    run = bosun.cli("schedule", "trigger", name, "--wait", "-o", "json", check=False, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    result = BatchSyncResult.model_validate_json(run.stdout)
    assert result.phase == "Failed" and result.failed_app == apps["b"]
    assert [(o.app, o.phase) for o in result.apps] == [
        (apps["a"], "Succeeded"),
        (apps["b"], "Failed"),
        (apps["c"], "Skipped"),
    ]
    assert "not a valid label value!" in result.message and apps["b"] in result.message

    # a was synced and healthy before b started; c was never synced
    a_ops, b_ops = history(bosun, apps["a"]), history(bosun, apps["b"])
    assert [op["phase"] for op in a_ops] == ["Succeeded"]
    assert [op["phase"] for op in b_ops] == ["Failed"]
    assert a_ops[0]["finished_at"] <= b_ops[0]["started_at"]
    web = live(devcluster_a, namespaces["a"], "deployment", "web")
    assert web and web["status"].get("availableReplicas") == 1
    assert history(bosun, apps["c"]) == []
    assert bosun.status(apps["c"])["sync"] == "OutOfSync"
    assert live(devcluster_a, namespaces["c"], "deployment", "web") is None

    # the same apps at once: every app synced, each reported
    together = unique("together")
    schedules.append(together)
    bosun.cli(
        "schedule",
        "create",
        together,
        "--cron",
        "0 2 * * *",
        "--app",
        apps["a"],
        "--app",
        apps["b"],
        "--app",
        apps["c"],
    )
    run = bosun.cli("schedule", "trigger", together, "--wait", "-o", "json", check=False, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    result = BatchSyncResult.model_validate_json(run.stdout)
    assert [(o.app, o.phase) for o in result.apps] == [
        (apps["a"], "Succeeded"),
        (apps["b"], "Failed"),
        (apps["c"], "Succeeded"),
    ]
    assert result.failed_app == apps["b"]
    wait_status(bosun, apps["c"], sync="Synced", health="Healthy")
    assert [op["trigger"] for op in history(bosun, apps["c"])] == [f"schedule {together}"]


def test_app_schedule_activities_create_update_and_remove(bosun: Bosun) -> None:
    """What the ApplicationWorkflow calls for ``bosun.dev/sync-schedule``: idempotent."""
    app = unique("annotated")

    async def scenario() -> list[Any]:
        client = await Client.connect(bosun.temporal.address, data_converter=pydantic_data_converter)
        trigger = TriggerActivities(client=client, task_queue=bosun.task_queue)
        env = ActivityEnvironment()
        monthly = AppScheduleInput(app=app, cron="0 0 1 * *", timezone="Europe/Berlin")
        seen: list[Any] = [
            (await env.run(trigger.ensure_app_schedule, monthly)).action,
            (await env.run(trigger.ensure_app_schedule, monthly)).action,
            (await env.run(trigger.ensure_app_schedule, monthly.model_copy(update={"cron": "0 6 * * 1"}))).action,
        ]
        description = await client.get_schedule_handle(app_schedule_id(app)).describe()
        seen.append(spec_crons(description.schedule.spec))
        seen.append(scheduled_batch(description.schedule))
        try:
            await env.run(trigger.ensure_app_schedule, monthly.model_copy(update={"cron": "nope"}))
        except ApplicationError as exc:
            seen.append((exc.type, exc.non_retryable))
        remove = RemoveAppScheduleInput(app=app)
        seen.append((await env.run(trigger.remove_app_schedule, remove)).removed)
        seen.append((await env.run(trigger.remove_app_schedule, remove)).removed)
        return seen

    created, again, changed, crons, batch, invalid, removed, removed_again = asyncio.run(scenario())
    assert (created, again, changed) == ("created", "unchanged", "updated")
    assert crons == ["0 6 * * 1"]
    assert batch == BatchSyncInput(apps=[app], in_order=False, trigger=f"schedule sync:{app}")
    assert invalid == ("InvalidSchedule", True)
    assert (removed, removed_again) == (True, False)
