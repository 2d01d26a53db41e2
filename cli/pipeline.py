"""``bosun pipeline run|get|approve|reject|abort|history``: promotion pipelines.

A Pipeline is a plain YAML file (:mod:`bosun.pipeline`); ``run`` checks it, then starts a
``PipelineWorkflow`` (``pipeline:<name>``) with it and the revision. There is no Pipeline
resource: the running workflow is the pipeline's state, and its past runs are Temporal
visibility. A second ``run`` of a name while one runs is refused (abort the first).

- ``get``: the workflow's ``get`` query (it answers for an ended run too, from any worker);
- ``approve [--stage] [--by]``, ``reject --reason``, ``abort --reason``: its updates, each a
  :class:`~bosun.protocol.PipelineCommand` whose ``who`` is ``--by`` (default ``$USER``); a
  refusal (nothing waits for an approval, the run has ended) exits 1 with the reason;
- ``history``: the runs of the name from visibility, with each ended run's result.

Exit codes as ``bosun app``'s: 2 a bad file or flag, 3 no such pipeline, 1 refused/failed.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import yaml
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from bosun.pipeline import PipelineError, PipelineStatus, parse_pipeline, short
from bosun.protocol import (
    PIPELINE_WORKFLOW,
    PipelineCommand,
    PipelineQuery,
    PipelineUpdate,
    pipeline_workflow_id,
)
from bosun.safe_yaml import UnsafeYaml, safe_load
from cli.app import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, CliError, _client, connection_options, run_async
from cli.app_actions import _update
from cli.output import emit, table
from workflows.pipeline import PipelineInput


@click.group("pipeline")
def pipeline() -> None:
    """Promote a revision through stages of apps, with gates (soak, analysis, approval, window)."""


def _user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def read_pipeline(path: Path) -> dict[str, Any]:
    """The Pipeline document of ``path``, checked; CliError (exit 2) naming the file and field."""
    try:
        document = safe_load(path.read_text(), source=str(path))
    except (OSError, UnsafeYaml, yaml.YAMLError) as exc:
        raise CliError(f"{path}: {exc}", EXIT_USAGE) from None
    try:
        parse_pipeline(document, source=str(path))
    except PipelineError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    assert isinstance(document, dict)
    return document


@pipeline.command("run")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--revision", required=True, help="Branch, tag or commit; resolved to one commit for every stage.")
@click.option("--by", default=None, help="Who starts the run (default $USER).")
@click.option("--wait", is_flag=True, help="Wait until the run ends; exit 1 if it failed.")
@click.option("--task-queue", envvar="BOSUN_TASK_QUEUE", default="bosun", show_default=True)
@connection_options
@run_async
async def run(
    path: Path,
    revision: str,
    by: str | None,
    wait: bool,
    task_queue: str,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Start a run of the pipeline in FILE for REVISION."""
    document = read_pipeline(path)
    name = str(document["metadata"]["name"])
    client = await _client(address, temporal_namespace)
    try:
        handle = await client.start_workflow(
            PIPELINE_WORKFLOW,
            PipelineInput(pipeline=document, revision=revision, started_by=by or _user()),
            id=pipeline_workflow_id(name),
            task_queue=task_queue,
            result_type=PipelineStatus,
            static_summary=f"pipeline {name}: {revision}",
        )
    except WorkflowAlreadyStartedError:
        running = await _get(client.get_workflow_handle(pipeline_workflow_id(name)), name)
        raise CliError(
            f"pipeline {name!r} is already running (revision {running.revision}, started by "
            f"{running.started_by or 'someone'}); wait for it, or `bosun pipeline abort {name} --reason ...` first",
            EXIT_FAILED,
        ) from None
    click.echo(f"pipeline {name!r} started: revision {revision} (workflow {handle.id})")
    if wait:
        try:
            result: PipelineStatus = await handle.result()
        except WorkflowFailureError as exc:
            raise CliError(f"pipeline {name!r}: {exc.cause}", EXIT_FAILED) from None
        click.echo(render(result))
        if result.phase != "Succeeded":
            raise SystemExit(EXIT_FAILED)


async def _handle(client: Client, name: str, *, running: bool) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle(pipeline_workflow_id(name))
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"pipeline {name!r} not found (never run)", EXIT_NOT_FOUND) from None
        raise
    if running and description.status != WorkflowExecutionStatus.RUNNING:
        raise CliError(f"pipeline {name!r} is not running (its last run has ended)", EXIT_FAILED)
    return handle


async def _get(handle: WorkflowHandle[Any, Any], name: str) -> PipelineStatus:
    try:
        status: PipelineStatus = await handle.query(
            PipelineQuery.GET, result_type=PipelineStatus, rpc_timeout=timedelta(seconds=30)
        )
    except RPCError as exc:
        raise CliError(f"pipeline {name!r}: no answer ({exc.message})", EXIT_FAILED) from None
    return status


@pipeline.command("get")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@connection_options
@run_async
async def get(name: str, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """Show the last run: stages, apps, gates, who approved and when."""
    client = await _client(address, temporal_namespace)
    status = await _get(await _handle(client, name, running=False), name)
    if output == "text":
        click.echo(render(status))
    else:
        emit(status.model_dump(mode="json"), output)


def render(status: PipelineStatus) -> str:
    lines = [
        f"Pipeline:  {status.name}",
        f"Revision:  {status.revision}" + (f" ({status.commit})" if status.commit else ""),
        f"Phase:     {status.phase}",
    ]
    if status.message:
        lines.append(f"Message:   {status.message}")
    if status.started_by:
        lines.append(f"Started:   {_time(status.started_at)} by {status.started_by}")
    if status.finished_at:
        lines.append(f"Finished:  {_time(status.finished_at)}")
    for stage in status.stages:
        lines.append("")
        lines.append(f"STAGE {stage.name}  {stage.phase}" + (f"  {stage.message}" if stage.message else ""))
        for app in stage.apps:
            lines.append(f"  app   {app.name}" + (f"  {app.message}" if app.message else ""))
        for gate in stage.gates:
            who = f"  by {gate.by} at {_time(gate.finished_at)}" if gate.by else ""
            message = f"  {gate.message}" if gate.message else ""
            lines.append(f"  gate  {gate.description}  {gate.phase}{who}{message}")
    return "\n".join(lines)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else ""


async def _command(name: str, update: str, command: PipelineCommand, address: str | None, ns: str | None) -> None:
    client = await _client(address, ns)
    handle = await _handle(client, name, running=True)
    message = await _update(handle, update, command, str)
    click.echo(message)


@pipeline.command("approve")
@click.argument("name")
@click.option("--stage", default="", help="Approve only if the run waits for this stage's approval.")
@click.option("--by", default=None, help="Who approves (default $USER); recorded with the gate.")
@click.option("--reason", default="", help="A note kept with the approval.")
@connection_options
@run_async
async def approve(
    name: str, stage: str, by: str | None, reason: str, address: str | None, temporal_namespace: str | None
) -> None:
    """Approve the approval gate the run waits at."""
    command = PipelineCommand(who=by or _user(), reason=reason, stage=stage)
    await _command(name, PipelineUpdate.APPROVE, command, address, temporal_namespace)


@pipeline.command("reject")
@click.argument("name")
@click.option("--reason", required=True, help="Why; the run ends Failed with it.")
@click.option("--stage", default="", help="Reject only if the run waits for this stage's approval.")
@click.option("--by", default=None, help="Who rejects (default $USER).")
@connection_options
@run_async
async def reject(
    name: str, reason: str, stage: str, by: str | None, address: str | None, temporal_namespace: str | None
) -> None:
    """Reject the approval gate the run waits at: the run ends Failed, later stages untouched."""
    command = PipelineCommand(who=by or _user(), reason=reason, stage=stage)
    await _command(name, PipelineUpdate.REJECT, command, address, temporal_namespace)


@pipeline.command("abort")
@click.argument("name")
@click.option("--reason", required=True, help="Why; the run ends Failed with it.")
@click.option("--by", default=None, help="Who aborts (default $USER).")
@connection_options
@run_async
async def abort(name: str, reason: str, by: str | None, address: str | None, temporal_namespace: str | None) -> None:
    """Stop the run wherever it is (a sync already started finishes in its app)."""
    command = PipelineCommand(who=by or _user(), reason=reason)
    await _command(name, PipelineUpdate.ABORT, command, address, temporal_namespace)


@pipeline.command("history")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@connection_options
@run_async
async def history(name: str, limit: int, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """Past runs of the pipeline (newest first): revision, commit, result, times."""
    client = await _client(address, temporal_namespace)
    workflow_id = pipeline_workflow_id(name).replace("'", "\\'")
    rows: list[dict[str, Any]] = []
    async for execution in client.list_workflows(
        f"WorkflowType = '{PIPELINE_WORKFLOW}' AND WorkflowId = '{workflow_id}'", limit=limit
    ):
        row: dict[str, Any] = {
            "run_id": execution.run_id,
            "started": execution.start_time.isoformat() if execution.start_time else "",
            "finished": execution.close_time.isoformat() if execution.close_time else "",
            "revision": "",
            "commit": "",
            "result": execution.status.name.title() if execution.status else "",
            "message": "",
        }
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=PipelineStatus)
        status: PipelineStatus | None = None
        try:
            if execution.status == WorkflowExecutionStatus.COMPLETED:
                status = await handle.result()
            elif execution.status == WorkflowExecutionStatus.RUNNING:
                status = await handle.query(PipelineQuery.GET, result_type=PipelineStatus)
        except (RPCError, WorkflowFailureError):
            status = None
        if status is not None:
            row.update(revision=status.revision, commit=status.commit, result=str(status.phase), message=status.message)
        rows.append(row)
    if not rows:
        raise CliError(f"pipeline {name!r} has no runs", EXIT_NOT_FOUND)
    if output != "table":
        emit(rows, output)
        return
    click.echo(
        table(
            ["STARTED", "FINISHED", "REVISION", "COMMIT", "RESULT", "MESSAGE"],
            [[r["started"], r["finished"], r["revision"], short(r["commit"]), r["result"], r["message"]] for r in rows],
        )
    )
