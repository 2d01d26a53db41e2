"""Activities that drive Bosun through Temporal itself: sync an app, keep its cron Schedule.

These are the adapters for *time-based* deployments. A ``BatchSyncWorkflow`` calls
``sync_app`` once per app; ``ensure_app_schedule`` / ``remove_app_schedule`` keep the
Temporal Schedule ``sync:<app>`` that an Application's ``bosun.dev/sync-schedule``
annotation asks for. The ``bosun schedule`` CLI builds the same schedules through
:func:`batch_schedule` / :func:`upsert_schedule`, so a schedule made either way looks
the same in the Temporal UI.

``sync_app`` speaks to the app workflow by its public protocol only — the ``sync``
update and its ``SyncRequest``, both from :mod:`bosun.protocol` — so this
module does not import the workflows package (dependencies point ``workflows →
activities``; ``.importlinter`` enforces it). It sends the update
with an id derived from the activity's identity, so a retried attempt attaches to the
sync already running instead of starting a second one.

Inputs and results are small pydantic models, as in :mod:`activities.contracts`.
"""

from __future__ import annotations

import asyncio
import json
import zoneinfo
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from bosun.protocol import AppUpdate, SyncRequest, WorkflowType, app_schedule_id, app_workflow_id, batch_workflow_id

HEARTBEAT_SECONDS = 10.0

OVERLAP_POLICIES: dict[str, ScheduleOverlapPolicy] = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer-one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer-all": ScheduleOverlapPolicy.BUFFER_ALL,
    "cancel-other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate-other": ScheduleOverlapPolicy.TERMINATE_OTHER,
    "allow-all": ScheduleOverlapPolicy.ALLOW_ALL,
}
"""The ``--overlap`` names of the CLI, Temporal's policies: what a run due while the
previous one still runs does."""


def overlap_name(policy: ScheduleOverlapPolicy) -> str:
    return next((name for name, p in OVERLAP_POLICIES.items() if p == policy), str(policy))


# ------------------------------------------------------------------------- contracts


class BatchSyncInput(BaseModel):
    """Input of BatchSyncWorkflow (and so of every Bosun schedule's action)."""

    apps: list[str]
    in_order: bool = False
    """One after another, each Succeeded (healthy, wave by wave) before the next starts;
    stop at the first failure. Otherwise all at once."""
    trigger: str = "batch"
    """Recorded as the trigger of each app's sync (``bosun app history``)."""


class SyncAppInput(BaseModel):
    app: str
    revision: str = ""
    prune: bool | None = None
    dry_run: bool = False
    trigger: str = "batch"


class SyncAppResult(BaseModel):
    """The parts of the app's OperationResult a batch reports."""

    app: str = ""
    phase: str
    """Succeeded, Failed, Error."""
    message: str = ""
    revision: str = ""
    id: int = 0
    """The operation number in the app's history."""
    workflow_id: str = ""
    """The sync's own workflow (``app:<name>:sync:<n>``)."""


class AppScheduleInput(BaseModel):
    app: str
    cron: str
    timezone: str = "UTC"
    overlap: str = "skip"
    prune: bool | None = None


class AppScheduleResult(BaseModel):
    schedule_id: str
    action: str
    """created, updated, unchanged."""


class RemoveAppScheduleInput(BaseModel):
    app: str


class RemoveAppScheduleResult(BaseModel):
    schedule_id: str
    removed: bool


# ------------------------------------------------------------------------- schedules


class ScheduleSpecError(ValueError):
    """A cron, time zone or overlap policy Bosun cannot use."""


def batch_schedule(
    *,
    schedule_id: str,
    apps: Sequence[str],
    cron: str,
    timezone: str = "UTC",
    in_order: bool = False,
    overlap: str = "skip",
    task_queue: str,
    paused: bool = False,
    note: str = "",
) -> Schedule:
    """A Temporal Schedule whose action starts a BatchSyncWorkflow over ``apps``."""
    if not apps:
        raise ScheduleSpecError("a schedule needs at least one app")
    if not cron.strip():
        raise ScheduleSpecError("a schedule needs a cron expression")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleSpecError(
            f"unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin or UTC)"
        ) from None
    if overlap not in OVERLAP_POLICIES:
        raise ScheduleSpecError(f"unknown overlap policy {overlap!r}; one of: " + ", ".join(OVERLAP_POLICIES))
    names = ", ".join(apps)
    order = " in order" if in_order and len(apps) > 1 else ""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WorkflowType.BATCH_SYNC,
            BatchSyncInput(apps=list(apps), in_order=in_order, trigger=f"schedule {schedule_id}"),
            id=batch_workflow_id(schedule_id),
            task_queue=task_queue,
            static_summary=f"scheduled sync of {names}{order} ({schedule_id})",
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=timezone),
        policy=SchedulePolicy(overlap=OVERLAP_POLICIES[overlap]),
        state=ScheduleState(paused=paused, note=note or None),
    )


async def upsert_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or replace its action, spec and policy: created/updated/unchanged.

    Paused state and notes of an existing schedule are left as a person set them.
    """
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    changed = False

    def updater(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal changed
        old = current.description.schedule
        if _same(old, schedule):
            return None
        changed = True
        return ScheduleUpdate(
            schedule=Schedule(action=schedule.action, spec=schedule.spec, policy=schedule.policy, state=old.state)
        )

    await client.get_schedule_handle(schedule_id).update(updater)
    return "updated" if changed else "unchanged"


def _same(old: Schedule, new: Schedule) -> bool:
    old_action, new_action = old.action, new.action
    if not (
        isinstance(old_action, ScheduleActionStartWorkflow) and isinstance(new_action, ScheduleActionStartWorkflow)
    ):
        return False
    if (old_action.workflow, old_action.task_queue, old_action.id) != (
        new_action.workflow,
        new_action.task_queue,
        new_action.id,
    ):
        return False
    if old.policy.overlap != new.policy.overlap:
        return False
    if spec_crons(old.spec) != spec_crons(new.spec) or (old.spec.time_zone_name or "UTC") != (
        new.spec.time_zone_name or "UTC"
    ):
        # the server keeps a cron as a calendar; one written unlike spec_crons' output
        # ("*/15" vs "0-59/15") reads back different, and is updated once more: harmless.
        return False
    return (
        len(old_action.args) == 1
        and len(new_action.args) == 1
        and _payload_json(old_action.args[0]) == _payload_json(new_action.args[0])
    )


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day_of_month", 1, 31), ("month", 1, 12), ("day_of_week", 0, 6))


def spec_crons(spec: ScheduleSpec) -> list[str]:
    """The spec's times as cron expressions, as a person wrote them.

    The server turns a cron string into a structured calendar, and describe returns
    only that; this renders each calendar back ("0 0 1 * *"), intervals as "every 3600s".
    """
    crons = list(spec.cron_expressions)
    for cal in spec.calendars:
        fields = [_cron_field(getattr(cal, name), low, high) for name, low, high in _CRON_FIELDS]
        seconds = _cron_field(cal.second, 0, 59)
        if seconds != "0":
            fields.insert(0, seconds)
        if cal.year:
            fields.append(_cron_field(cal.year, 0, 0))
        crons.append(" ".join(fields))
    crons += [f"every {int(i.every.total_seconds())}s" for i in spec.intervals]
    return crons


def _cron_field(ranges: Sequence[ScheduleRange], low: int, high: int) -> str:
    if not ranges:
        return "*"
    parts = []
    for r in ranges:
        end = max(r.end, r.start)
        step = f"/{r.step}" if r.step > 1 else ""
        if r.start == low and end == high:
            parts.append("*" + step)
        elif end == r.start:
            parts.append(str(r.start))
        else:
            parts.append(f"{r.start}-{end}{step}")
    return ",".join(parts)


def _payload_json(value: Any) -> Any:
    data = getattr(value, "data", None)
    if isinstance(data, bytes):
        return json.loads(data)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


# ------------------------------------------------------------------------- activities


class TriggerActivities:
    """Activities that act on Bosun's own workflows and schedules through a Temporal client."""

    def __init__(self, *, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name="sync_app")
    async def sync_app(self, input: SyncAppInput) -> SyncAppResult:
        """Run the ``sync`` update on ``app:<name>`` and wait for its result (minutes)."""
        info = activity.info()
        handle = self._client.get_workflow_handle(app_workflow_id(input.app))
        request = SyncRequest(revision=input.revision, prune=input.prune, dry_run=input.dry_run, trigger=input.trigger)
        update_id = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        try:
            update = await handle.start_update(
                AppUpdate.SYNC,
                request,
                id=update_id,
                result_type=SyncAppResult,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            waiting: asyncio.Future[SyncAppResult] = asyncio.ensure_future(update.result())
            while True:
                activity.heartbeat(f"syncing {input.app}")
                done, _ = await asyncio.wait([waiting], timeout=HEARTBEAT_SECONDS)
                if done:
                    break
            result = waiting.result()
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = str(getattr(cause, "message", None) or cause or exc)
            raise ApplicationError(
                f"{input.app}: sync rejected: {message}", type="SyncRejected", non_retryable=True
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApplicationError(
                    f"application {input.app!r} not found (no running workflow app:{input.app})",
                    type="AppNotFound",
                    non_retryable=True,
                ) from None
            raise
        result.app = input.app
        return result

    @activity.defn(name="ensure_app_schedule")
    async def ensure_app_schedule(self, input: AppScheduleInput) -> AppScheduleResult:
        """Create or update the Schedule ``sync:<app>`` (a batch of one) for a cron and zone."""
        schedule_id = app_schedule_id(input.app)
        try:
            schedule = batch_schedule(
                schedule_id=schedule_id,
                apps=[input.app],
                cron=input.cron,
                timezone=input.timezone,
                overlap=input.overlap,
                task_queue=self._task_queue,
            )
        except ScheduleSpecError as exc:
            raise ApplicationError(str(exc), type="InvalidSchedule", non_retryable=True) from None
        try:
            action = await upsert_schedule(self._client, schedule_id, schedule)
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:
                raise ApplicationError(
                    f"schedule {input.cron!r} ({input.timezone}): {exc.message}",
                    type="InvalidSchedule",
                    non_retryable=True,
                ) from None
            raise
        return AppScheduleResult(schedule_id=schedule_id, action=action)

    @activity.defn(name="remove_app_schedule")
    async def remove_app_schedule(self, input: RemoveAppScheduleInput) -> RemoveAppScheduleResult:
        """Delete the Schedule ``sync:<app>``; a schedule already gone is fine."""
        schedule_id = app_schedule_id(input.app)
        try:
            await self._client.get_schedule_handle(schedule_id).delete()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return RemoveAppScheduleResult(schedule_id=schedule_id, removed=False)
            raise
        return RemoveAppScheduleResult(schedule_id=schedule_id, removed=True)


def scheduled_batch(schedule: Schedule) -> BatchSyncInput | None:
    """The BatchSyncInput a schedule starts, or None if it is not a Bosun batch schedule."""
    action = schedule.action
    if (
        not isinstance(action, ScheduleActionStartWorkflow)
        or action.workflow != WorkflowType.BATCH_SYNC
        or len(action.args) != 1
    ):
        return None
    try:
        return BatchSyncInput.model_validate(_payload_json(action.args[0]))
    except ValueError:
        return None
