"""``bosun schedule``: cron-scheduled syncs and batch deployments, as Temporal Schedules.

A schedule's action starts a ``BatchSyncWorkflow`` (:mod:`workflows.batch`) on the
worker's task queue: one app is a batch of one; several apps sync at once, or with
``--in-order`` one after another, each Healthy before the next, stopping at the first
failure. Schedules are plain Temporal Schedules, so the Temporal UI's Schedules page
and ``temporal schedule ...`` show and drive them too; ``list`` shows only Bosun's
(those whose action is a BatchSyncWorkflow).

Exit codes as ``bosun app``: 0 success; 1 a triggered batch failed; 2 bad input;
3 no such schedule; 4 timeout; 5 Temporal unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from pydantic import BaseModel, Field
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleListActionStartWorkflow,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.trigger import (
    OVERLAP_POLICIES,
    ScheduleSpecError,
    batch_schedule,
    overlap_name,
    scheduled_batch,
    spec_crons,
    upsert_schedule,
)
from bosun.protocol import BatchQuery, WorkflowType, app_workflow_id
from cli.app import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CliError,
    connection_options,
    run_async,
)
from cli.connection import Connection
from cli.output import emit, paint, table
from workflows.batch import BatchSyncResult

T = TypeVar("T")
OVERLAP_CHOICE = click.Choice(list(OVERLAP_POLICIES))


class RunView(BaseModel):
    """One batch a schedule started."""

    workflow_id: str
    run_id: str = ""
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    status: str = ""
    """Running, Completed, Failed, Terminated, Canceled, TimedOut (the workflow's)."""
    result: BatchSyncResult | None = None


class ScheduleView(BaseModel):
    """What ``bosun schedule describe -o json`` prints (and ``list``, without runs)."""

    name: str
    apps: list[str] = Field(default_factory=list)
    in_order: bool = False
    cron: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    overlap: str = ""
    paused: bool = False
    note: str = ""
    task_queue: str = ""
    workflow_id: str = ""
    actions: int = 0
    skipped_overlap: int = 0
    next_runs: list[datetime] = Field(default_factory=list)
    recent_runs: list[RunView] = Field(default_factory=list)


async def _client(address: str | None, namespace: str | None) -> Client:
    return await Connection.resolve(address, namespace).client()


async def _call(name: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run a schedule RPC; a missing schedule becomes exit code 3."""
    try:
        return await call()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"schedule {name!r} not found", EXIT_NOT_FOUND) from None
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise CliError(f"schedule {name!r}: {exc.message}", EXIT_USAGE) from None
        raise


async def _describe(handle: ScheduleHandle) -> ScheduleDescription:
    description = await _call(handle.id, handle.describe)
    if scheduled_batch(description.schedule) is None:
        raise CliError(
            f"schedule {handle.id!r} is not a Bosun schedule (its action does not start a {WorkflowType.BATCH_SYNC})",
            EXIT_NOT_FOUND,
        )
    return description


def _view(description: ScheduleDescription) -> ScheduleView:
    schedule, info = description.schedule, description.info
    batch = scheduled_batch(schedule)
    action = schedule.action
    return ScheduleView(
        name=description.id,
        apps=batch.apps if batch else [],
        in_order=batch.in_order if batch else False,
        cron=spec_crons(schedule.spec),
        timezone=schedule.spec.time_zone_name or "UTC",
        overlap=overlap_name(schedule.policy.overlap),
        paused=schedule.state.paused,
        note=schedule.state.note or "",
        task_queue=action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else "",
        workflow_id=action.id if isinstance(action, ScheduleActionStartWorkflow) else "",
        actions=info.num_actions,
        skipped_overlap=info.num_actions_skipped_overlap,
        next_runs=list(info.next_action_times[:5]),
        recent_runs=[
            RunView(
                workflow_id=getattr(a.action, "workflow_id", ""),
                run_id=getattr(a.action, "first_execution_run_id", ""),
                scheduled_at=a.scheduled_at,
                started_at=a.started_at,
            )
            for a in info.recent_actions
        ],
    )


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    """RUNNING → Running, TIMED_OUT → TimedOut: as the Temporal UI and CLI show it."""
    return "".join(part.title() for part in status.name.split("_")) if status else "Unknown"


async def _fill_run(client: Client, run: RunView) -> None:
    """Add the batch's workflow status and, once it completed, its result."""
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id or None, result_type=BatchSyncResult)
    try:
        description = await handle.describe()
    except RPCError:
        run.status = "Unknown"
        return
    run.status = _status_name(description.status)
    if run.status == "Completed":
        run.result = await handle.result()
    elif run.status == "Running":
        with contextlib.suppress(RPCError):
            run.result = await handle.query(BatchQuery.PROGRESS, result_type=BatchSyncResult)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _parse_time(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{option} {value!r} is not an ISO 8601 time (e.g. 2025-01-31T00:00:00Z)", EXIT_USAGE) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _echo_result(result: BatchSyncResult) -> None:
    click.echo(f"{paint(result.phase)}: {result.message}")
    rows = [[o.app, o.phase, o.revision[:12], o.workflow_id, o.message] for o in result.apps]
    click.echo(table(["APP", "PHASE", "REVISION", "SYNC WORKFLOW", "MESSAGE"], rows))


@click.group()
def schedule() -> None:
    """Cron-scheduled syncs and batch deployments (Temporal Schedules).

    \b
    Examples:
      bosun schedule create monthly-reports --cron "0 0 1 * *" --app reports
      bosun schedule create nightly --cron "0 2 * * *" --timezone Europe/Berlin \\
          --app db --app api --app web --in-order
      bosun schedule trigger nightly --wait
      bosun schedule describe nightly
    """


# ------------------------------------------------------------------------- create


@schedule.command("create")
@click.argument("name")
@click.option("--cron", required=True, help='When to sync, as a cron expression ("0 0 1 * *": midnight on the 1st).')
@click.option("--app", "apps", multiple=True, required=True, help="An Application to sync; repeat for a batch.")
@click.option(
    "--in-order",
    is_flag=True,
    help="Sync the apps one after another, each Healthy before the next; stop at the first failure.",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA time zone the cron is read in (Europe/Berlin, America/New_York).",
)
@click.option(
    "--overlap",
    type=OVERLAP_CHOICE,
    default="skip",
    show_default=True,
    help="When a run is due while the previous one still runs.",
)
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--note", default="", help="A note shown with the schedule.")
@click.option("--upsert", is_flag=True, help="Update the schedule if it exists.")
@click.option(
    "--task-queue",
    envvar="BOSUN_TASK_QUEUE",
    default="bosun",
    show_default=True,
    help="The Bosun worker's task queue (env BOSUN_TASK_QUEUE).",
)
@connection_options
@run_async
async def create(
    name: str,
    cron: str,
    apps: tuple[str, ...],
    in_order: bool,
    timezone: str,
    overlap: str,
    paused: bool,
    note: str,
    upsert: bool,
    task_queue: str,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Create a schedule that syncs one or more apps on a cron.

    \b
    Examples:
      bosun schedule create monthly-reports --cron "0 0 1 * *" --app reports
      bosun schedule create nightly --cron "30 2 * * 1-5" --timezone Europe/Berlin \\
          --app db --app api --app web --in-order --overlap buffer-one
    """
    try:
        spec = batch_schedule(
            schedule_id=name,
            apps=list(apps),
            cron=cron,
            timezone=timezone,
            in_order=in_order,
            overlap=overlap,
            task_queue=task_queue,
            paused=paused,
            note=note,
        )
    except ScheduleSpecError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    client = await _client(address, temporal_namespace)
    if upsert:
        action = await _call(name, lambda: upsert_schedule(client, name, spec))
    else:
        try:
            await _call(name, lambda: client.create_schedule(name, spec))
        except ScheduleAlreadyRunningError:
            raise CliError(f"schedule {name!r} already exists (use --upsert to update it)", EXIT_USAGE) from None
        action = "created"
    missing = [a for a in apps if not await _app_exists(client, a)]
    if missing:
        click.echo(
            f"warning: no running application {', '.join(missing)} (yet): its sync will fail until it exists", err=True
        )
    description = await _describe(client.get_schedule_handle(name))
    next_run = _when(description.info.next_action_times[0]) if description.info.next_action_times else "-"
    click.echo(f"schedule '{name}' {action}: next run {next_run}")


async def _app_exists(client: Client, app: str) -> bool:
    try:
        description = await client.get_workflow_handle(app_workflow_id(app)).describe()
    except RPCError:
        return False
    return description.status == WorkflowExecutionStatus.RUNNING


# ------------------------------------------------------------------------- read


@schedule.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table")
@connection_options
@run_async
async def list_schedules(output: str, address: str | None, temporal_namespace: str | None) -> None:
    """List Bosun's schedules with their apps, cron and next run.

    The list comes from Temporal's visibility store, which lags a new schedule by a
    moment; ``describe`` reads the schedule itself.

    \b
    Example:
      bosun schedule list -o json
    """
    client = await _client(address, temporal_namespace)
    names = []
    async for entry in await client.list_schedules():
        action = entry.schedule.action if entry.schedule else None
        if isinstance(action, ScheduleListActionStartWorkflow) and action.workflow == WorkflowType.BATCH_SYNC:
            names.append(entry.id)
    views = []
    for name in sorted(names):
        try:
            views.append(_view(await _describe(client.get_schedule_handle(name))))
        except CliError:
            continue  # deleted since the list was read
    if output in ("json", "yaml"):
        emit(views, output)
        return
    headers = ["NAME", "APPS", "CRON", "TIMEZONE", "PAUSED", "NEXT RUN", "LAST RUN"]
    rows: list[list[Any]] = []
    for v in views:
        last = v.recent_runs[-1].started_at if v.recent_runs else None
        rows.append(
            [
                v.name,
                (" → " if v.in_order else ", ").join(v.apps),
                " | ".join(v.cron),
                v.timezone,
                "yes" if v.paused else "no",
                _when(v.next_runs[0]) if v.next_runs and not v.paused else "-",
                _when(last),
            ]
        )
    if output == "wide":
        headers += ["OVERLAP", "RUNS", "TASK QUEUE", "NOTE"]
        for row, v in zip(rows, views, strict=True):
            row += [v.overlap, v.actions, v.task_queue, v.note]
    click.echo(table(headers, rows))


@schedule.command("describe")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@connection_options
@run_async
async def describe(name: str, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """Show a schedule: apps, cron, next runs and its recent batches with their results.

    \b
    Example:
      bosun schedule describe nightly -o yaml
    """
    client = await _client(address, temporal_namespace)
    view = _view(await _describe(client.get_schedule_handle(name)))
    await asyncio.gather(*(_fill_run(client, run) for run in view.recent_runs))
    if output != "text":
        emit(view, output)
        return
    click.echo(
        f"Name:        {view.name}\n"
        f"Apps:        {(' → ' if view.in_order else ', ').join(view.apps)}"
        f"{' (in order, stop at the first failure)' if view.in_order else ''}\n"
        f"Cron:        {' | '.join(view.cron)} ({view.timezone})\n"
        f"Overlap:     {view.overlap}\n"
        f"Paused:      {'yes' if view.paused else 'no'}"
        f"{f' ({view.note})' if view.note else ''}\n"
        f"Task queue:  {view.task_queue}\n"
        f"Runs:        {view.actions} started, {view.skipped_overlap} skipped (overlap)\n"
        f"Next runs:   {', '.join(_when(t) for t in view.next_runs[:3]) or '-'}"
    )
    if view.recent_runs:
        click.echo()
        rows = [
            [_when(r.scheduled_at), r.workflow_id, r.status, r.result.message if r.result else ""]
            for r in reversed(view.recent_runs)
        ]
        click.echo(table(["SCHEDULED", "WORKFLOW", "STATUS", "RESULT"], rows))


# ------------------------------------------------------------------------- act


@schedule.command("pause")
@click.argument("name")
@click.option("--note", default="", help="Why (shown by describe and in the Temporal UI).")
@connection_options
@run_async
async def pause(name: str, note: str, address: str | None, temporal_namespace: str | None) -> None:
    """Pause a schedule: no runs until it is unpaused (trigger still works)."""
    client = await _client(address, temporal_namespace)
    handle = client.get_schedule_handle(name)
    await _describe(handle)
    await _call(name, lambda: handle.pause(note=note or "paused with bosun schedule pause"))
    click.echo(f"schedule '{name}' paused")


@schedule.command("unpause")
@click.argument("name")
@click.option("--note", default="", help="Why (shown by describe and in the Temporal UI).")
@connection_options
@run_async
async def unpause(name: str, note: str, address: str | None, temporal_namespace: str | None) -> None:
    """Resume a paused schedule (runs missed while paused are not made up)."""
    client = await _client(address, temporal_namespace)
    handle = client.get_schedule_handle(name)
    await _describe(handle)
    await _call(name, lambda: handle.unpause(note=note or "unpaused with bosun schedule unpause"))
    click.echo(f"schedule '{name}' unpaused")


@schedule.command("trigger")
@click.argument("name")
@click.option(
    "--overlap", type=OVERLAP_CHOICE, default=None, help="Override the schedule's overlap policy for this run."
)
@click.option("--wait", is_flag=True, help="Wait for the batch and print its result (exit code 1 if an app failed).")
@click.option("--timeout", type=float, default=1800.0, show_default=True, help="With --wait: how long to wait.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    help="With --wait: how to print the result.",
)
@connection_options
@run_async
async def trigger(
    name: str,
    overlap: str | None,
    wait: bool,
    timeout: float,
    output: str,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Run a schedule's batch now.

    \b
    Examples:
      bosun schedule trigger nightly
      bosun schedule trigger nightly --wait -o json
    """
    client = await _client(address, temporal_namespace)
    handle = client.get_schedule_handle(name)
    before = await _describe(handle)
    seen = {getattr(a.action, "workflow_id", "") for a in before.info.recent_actions}
    policy = OVERLAP_POLICIES[overlap] if overlap else None
    await _call(name, lambda: handle.trigger(overlap=policy))
    if not wait:
        click.echo(f"schedule '{name}' triggered")
        return
    deadline = time.monotonic() + timeout
    run: RunView | None = None
    while run is None:
        if time.monotonic() > deadline:
            raise CliError(f"schedule {name!r} started no run within {timeout:.0f}s", EXIT_TIMEOUT)
        await asyncio.sleep(0.5)
        now = await _describe(handle)
        if now.info.num_actions_skipped_overlap > before.info.num_actions_skipped_overlap:
            raise CliError(
                f"schedule {name!r}: the run was skipped, the previous one still runs "
                f"(overlap {overlap or overlap_name(now.schedule.policy.overlap)})",
                EXIT_FAILED,
            )
        run = next((r for r in _view(now).recent_runs if r.workflow_id not in seen), None)
    if output == "text":
        click.echo(f"started {run.workflow_id}", err=True)
    workflow = client.get_workflow_handle(run.workflow_id, run_id=run.run_id or None, result_type=BatchSyncResult)
    try:
        result = await asyncio.wait_for(workflow.result(), max(1.0, deadline - time.monotonic()))
    except TimeoutError:
        raise CliError(f"{run.workflow_id} still running after {timeout:.0f}s", EXIT_TIMEOUT) from None
    if output == "text":
        _echo_result(result)
    else:
        emit(result, output)
    if result.phase != "Succeeded":
        sys.exit(EXIT_FAILED)


@schedule.command("backfill")
@click.argument("name")
@click.option(
    "--from", "start", required=True, help="Start of the window, ISO 8601 (2025-01-01T00:00:00Z; no zone means UTC)."
)
@click.option("--to", "end", required=True, help="End of the window, ISO 8601.")
@click.option(
    "--overlap",
    type=OVERLAP_CHOICE,
    default="buffer-all",
    show_default=True,
    help="Backfilled runs fall due at once: buffer-all runs them one after another.",
)
@connection_options
@run_async
async def backfill(
    name: str, start: str, end: str, overlap: str, address: str | None, temporal_namespace: str | None
) -> None:
    """Run the batches a schedule would have run between two times, now.

    \b
    Example (the monthly syncs of the first quarter, one after another):
      bosun schedule backfill monthly-reports --from 2025-01-01T00:00:00Z \\
          --to 2025-03-31T23:59:59Z
    """
    start_at, end_at = _parse_time(start, "--from"), _parse_time(end, "--to")
    if end_at <= start_at:
        raise CliError("--to must be after --from", EXIT_USAGE)
    client = await _client(address, temporal_namespace)
    handle = client.get_schedule_handle(name)
    await _describe(handle)
    await _call(
        name,
        lambda: handle.backfill(ScheduleBackfill(start_at=start_at, end_at=end_at, overlap=OVERLAP_POLICIES[overlap])),
    )
    click.echo(f"schedule '{name}' backfilling {_when(start_at)} to {_when(end_at)} (overlap {overlap})")


@schedule.command("delete")
@click.argument("name")
@connection_options
@run_async
async def delete(name: str, address: str | None, temporal_namespace: str | None) -> None:
    """Delete a schedule (batches it started keep running)."""
    client = await _client(address, temporal_namespace)
    handle = client.get_schedule_handle(name)
    await _describe(handle)
    await _call(name, handle.delete)
    click.echo(f"schedule '{name}' deleted")
