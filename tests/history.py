"""Reading workflow histories in tests: which activities a workflow ran, tasks and local ones alike."""

from __future__ import annotations

import json
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent


def activity_types(events: Iterable[HistoryEvent]) -> list[str]:
    """The activity types in ``events``, in order: each scheduled activity task, and each local
    activity (recorded as a marker whose data names its type)."""
    found = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = event.marker_recorded_event_attributes.details
            if "data" in details and details["data"].payloads:
                data = json.loads(details["data"].payloads[0].data)
                if isinstance(data, dict) and data.get("activity_type"):
                    found.append(str(data["activity_type"]))
    return found
