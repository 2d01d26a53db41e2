"""A reconcile with nothing to do costs no activity task (issue #15 item 6).

The app workflow asks its own worker's caches first (the ``check_unchanged`` local activity,
activities/unchanged.py): same commits, same project, same render, same live objects. Read
from the workflow's real history on the real stack: between two such checks that found
nothing, no activity was scheduled and only a handful of events were written; a change made
by hand in the cluster makes the next reconcile compare again, through the activities.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Replayer

from activities.payloads import DATA_CONVERTER
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, wait_status
from workflows.application import ApplicationWorkflow
from workflows.sync import SyncWorkflow


@dataclass(frozen=True)
class Event:
    id: int
    type: int
    activity: str = ""
    """The activity type of an ActivityTaskScheduled event."""
    check: bool | None = None
    """For a check_unchanged marker: what it answered (True: unchanged)."""
    reason: str = ""
    """For a check_unchanged marker that said "changed": why."""


def history(bosun: Bosun, app: str) -> list[Event]:
    async def read() -> list[Event]:
        client = await Client.connect(bosun.temporal.address)
        events: list[Event] = []
        async for e in client.get_workflow_handle(f"app:{app}").fetch_history_events():
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = e.activity_task_scheduled_event_attributes.activity_type.name
                events.append(Event(e.event_id, e.event_type, activity=name))
            elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
                details = e.marker_recorded_event_attributes.details
                data = details["data"].payloads[0].data if "data" in details else b""
                if b"check_unchanged" in data and "result" in details:
                    answer = json.loads(details["result"].payloads[0].data)
                    events.append(
                        Event(
                            e.event_id, e.event_type, check=bool(answer["unchanged"]), reason=answer.get("reason", "")
                        )
                    )
            else:
                events.append(Event(e.event_id, e.event_type))
        return events

    return asyncio.run(read())


def unchanged_checks(events: list[Event]) -> list[Event]:
    return [e for e in events if e.check]


def after_each_check(events: list[Event], checks: list[Event]) -> list[list[Event]]:
    """For each check, the events that follow it until the workflow waits again (its timer)."""
    spans = []
    for check in checks:
        later = [e for e in events if e.id > check.id]
        until = next((i for i, e in enumerate(later) if e.type == EventType.EVENT_TYPE_TIMER_STARTED), len(later))
        spans.append(later[: until + 1])
    return spans


def test_a_no_op_reconcile_schedules_no_activity(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    files = {f"cm{i:02d}.json": configmap(f"cm-{i:02d}", {"value": str(i)}) for i in range(20)}
    repo = GitRepo.create(tmp_path / "repo", files)
    app, ns = unique("quiet"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, refresh_seconds=2, automated=False)
    wait_status(bosun, app, sync="OutOfSync", timeout=120)
    bosun.cli("app", "sync", app)
    wait_status(bosun, app, sync="Synced", timeout=120)

    eventually(lambda: len(unchanged_checks(history(bosun, app))) >= 6, timeout=120, what="six no-op reconciles")
    events = history(bosun, app)
    checks = unchanged_checks(events)
    # After a check that found nothing changed, the workflow waits again with no activity at all.
    spans = after_each_check(events, checks)
    assert [[e.activity for e in span if e.activity] for span in spans] == [[] for _ in spans]
    # Events from one no-op check to the next with no full reconcile between (timer fired,
    # workflow task, marker, timer started).
    full = {e.id for e in events if e.check is False or e.activity}
    gaps = [b.id - a.id for a, b in zip(checks, checks[1:], strict=False) if not any(a.id < i < b.id for i in full)]
    per_reconcile = sum(gaps) / len(gaps)
    print(f"history events per no-op reconcile: {per_reconcile:.1f}")  # a figure for the note (pytest -s)
    assert per_reconcile <= 8, per_reconcile
    # A check that could not say "unchanged" says why (a busy machine may make one "cannot tell").
    changed = [e.reason for e in events if e.check is False]
    assert all(changed), changed
    print(f"checks that ran the full reconcile: {changed}")
    last = checks[-1].id

    # A change by hand: the next reconcile sees it and compares through the cluster's activities.
    kubectl(devcluster_a, "-n", ns, "patch", "configmap", "cm-07", "--type=merge", "-p", '{"data": {"value": "x"}}')
    status = wait_status(bosun, app, sync="OutOfSync", timeout=60)
    assert [r["key"]["name"] for r in status["resources"] if r["sync"] == "OutOfSync"] == ["cm-07"]
    after = [e.activity for e in history(bosun, app) if e.id > last and e.activity]
    assert "compare" in after, after
    assert replays(bosun, app)  # the quick path and the full one are deterministic


def replays(bosun: Bosun, app: str) -> bool:
    async def replay() -> bool:
        client = await Client.connect(bosun.temporal.address)
        replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=DATA_CONVERTER)
        result = await replayer.replay_workflow(await client.get_workflow_handle(f"app:{app}").fetch_history())
        assert result.replay_failure is None, result.replay_failure
        return True

    return asyncio.run(replay())
