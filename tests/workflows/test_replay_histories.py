"""Histories recorded from real runs of the previous release replay with today's workflows.

Running workflows (an app's ``app:<name>`` loop lives for months) are replayed by the new
worker after an upgrade: if today's code issues other commands than the old code did at
the same point, the workflow is stuck with a nondeterminism error. Each JSON file in
``tests/workflows/histories/`` (listed in its ``index.json``, recorded by
``python -m tests.workflows.histories.record`` on the real stack) is replayed with the
workflows the worker registers and the worker's data converter.

A failure names the history file and the workflow task whose recorded commands today's
code no longer issues, with those events. Guard an intended change with
``workflow.patched(...)`` (see CONTRIBUTING.md) instead of re-recording.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker.main import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
INDEX: dict[str, Any] = json.loads((HISTORIES / "index.json").read_text())
ENTRIES: list[dict[str, Any]] = INDEX["histories"]


def replayer() -> Replayer:
    """What the worker runs (worker/main.py): its workflows, its data converter, the sandbox."""
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


def load(entry: dict[str, Any]) -> WorkflowHistory:
    return WorkflowHistory.from_json(entry["workflow_id"], (HISTORIES / entry["file"]).read_text())


def test_index_lists_every_history_file() -> None:
    files = {p.name for p in HISTORIES.glob("*.json")} - {"index.json"}
    listed = [e["file"] for e in ENTRIES]
    assert sorted(listed) == sorted(files), "index.json and the history files disagree (the recorder writes both)"
    assert {e["state"] for e in ENTRIES} == {"running", "completed"}, "both open and closed histories are replayed"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"].removesuffix(".json") for e in ENTRIES])
async def test_recorded_history_replays(entry: dict[str, Any]) -> None:
    history = load(entry)
    assert len(history.events) == entry["events"], f"{entry['file']} does not hold what index.json says"
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        pytest.fail(await explain(entry, history, result.replay_failure), pytrace=False)


# --------------------------------------------------------------------------- the failure message


async def explain(entry: dict[str, Any], history: WorkflowHistory, failure: Exception) -> str:
    """Which history and which recorded events today's code diverges from.

    Prefixes of the history that end at a WorkflowTaskStarted event are exactly what a
    worker receives; the shortest one that fails to replay ends just after the workflow
    task whose recorded commands (the events after its WorkflowTaskCompleted) today's
    code does not issue. Replay failures only grow with the prefix, so a bisection finds it.
    """
    events = list(history.events)
    cuts = [i + 1 for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    cuts.append(len(events))
    low, high = 0, len(cuts) - 1  # cuts[high] fails (the whole history does)
    while low < high:
        middle = (low + high) // 2
        prefix = WorkflowHistory(history.workflow_id, events[: cuts[middle]])
        if (await replayer().replay_workflow(prefix, raise_on_replay_failure=False)).replay_failure:
            high = middle
        else:
            low = middle + 1
    end = cuts[high]
    completed = max(
        (i for i in range(end) if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), default=0
    )
    recorded = [
        describe(e)
        for e in events[completed + 1 : end]
        if e.event_type
        not in (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    ]
    return (
        f"{entry['file']} ({entry['workflow_type']} {entry['workflow_id']}, {entry['state']}: {entry['story']}) "
        f"no longer replays.\n"
        f"Today's code diverges after the workflow task completed at event {events[completed].event_id} "
        f"({describe(events[completed])}); what the history records after it:\n  "
        + ("\n  ".join(recorded) or "(nothing recorded: the old code issued no command there)")
        + f"\nReplayer: {type(failure).__name__}: {failure}\n"
        "Running workflows of the previous release would fail the same way: keep the old behaviour for "
        "them with workflow.patched(...) (CONTRIBUTING.md, 'Workflow histories')."
    )


def describe(event: HistoryEvent) -> str:
    """``#12 ActivityTaskScheduled render ("render . at 3f2a…")``."""
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").title().replace("_", "")
    which = event.WhichOneof("attributes")
    name = ""
    if which:
        attributes = getattr(event, which)
        fields = attributes.DESCRIPTOR.fields_by_name
        for field in ("activity_type", "workflow_type"):
            if field in fields and attributes.HasField(field):
                name = getattr(attributes, field).name
        for field in ("marker_name", "signal_name", "timer_id"):
            if field in fields:
                name = name or getattr(attributes, field)
    summary = ""
    if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
        summary = event.user_metadata.summary.data.decode("utf-8", "replace")
    return " ".join(part for part in (f"#{event.event_id}", kind, name, f"({summary})" if summary else "") if part)


async def test_a_history_the_code_diverges_from_is_reported_with_its_file_and_event() -> None:
    """The failure message names the file and the event: shown on a history whose first
    render was recorded under another activity name, as if the workflow had changed."""
    entry = next(e for e in ENTRIES if e["workflow_type"] == "ApplicationWorkflow")
    history = json.loads((HISTORIES / entry["file"]).read_text())
    render = next(
        e
        for e in history["events"]
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name") == "render"
    )
    render["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "render_v0"
    changed = WorkflowHistory.from_json(entry["workflow_id"], history)

    result = await replayer().replay_workflow(changed, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    message = await explain(entry, changed, result.replay_failure)

    assert message.startswith(f"{entry['file']} (ApplicationWorkflow {entry['workflow_id']}")
    assert f"#{render['eventId']} ActivityTaskScheduled render_v0" in message
    assert "workflow.patched" in message
