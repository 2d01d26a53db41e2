"""``bosun app``: create, inspect, diff, sync, wait for and delete Applications.

Each command is a thin Temporal client call on the app's workflow ``app:<name>``:
start (create), query ``status``/``history`` (get, list, history), update ``sync``,
``refresh_now`` and ``delete``. Exit codes: 0 success; 1 the operation failed or (for
``diff``) the app is out of sync; 2 bad input; 3 not found; 4 timeout; 5 Temporal
unreachable.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateStage
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from bosun import search_attributes as sa
from bosun.cli.connection import Connection
from bosun.cli.output import emit, paint, table
from bosun.models import Application, ModelError, parse_application
from workflows.application import KEYS, workflow_id
from workflows.state import AppStatus, AppWorkflowInput, DeleteRequest, OperationResult, RefreshRequest, SyncRequest
from workflows.sync import cause_message

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_TIMEOUT, EXIT_UNREACHABLE = 1, 2, 3, 4, 5
T = TypeVar("T")


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async command; turn our errors into a message and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        code = 0
        try:
            asyncio.run(fn(*args, **kwargs))
        except CliError as exc:
            click.echo(f"error: {exc}", err=True)
            code = exc.code
        except ConnectionError as exc:
            click.echo(f"error: {exc}", err=True)
            code = EXIT_UNREACHABLE
        except SystemExit as exc:
            code = int(exc.code or 0)
        # The Temporal client's native runtime can abort the interpreter while it
        # finalizes; a command that is done has nothing left to clean up.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    return wrapper


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--namespace", "temporal_namespace", envvar="BOSUN_NAMESPACE", default=None,
                      help="Temporal namespace (env BOSUN_NAMESPACE, TEMPORAL_NAMESPACE).")(fn)
    return click.option("--address", envvar="BOSUN_TEMPORAL_ADDRESS", default=None,
                        help="Temporal address host:port (env BOSUN_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS).")(fn)


async def _client(address: str | None, namespace: str | None) -> Client:
    return await Connection.resolve(address, namespace).client()


async def _running_handle(client: Client, name: str) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle(workflow_id(name))
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"application {name!r} not found", EXIT_NOT_FOUND) from None
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise CliError(f"application {name!r} not found (its workflow has ended)", EXIT_NOT_FOUND)
    return handle


async def _status(handle: WorkflowHandle[Any, Any], *, timeout: float = 30.0) -> AppStatus:
    status: AppStatus = await handle.query("status", result_type=AppStatus,
                                           rpc_timeout=timedelta(seconds=timeout))
    return status


@click.group()
def app() -> None:
    """Manage Applications (Argo CD's argoproj.io/v1alpha1 Application)."""


# ------------------------------------------------------------------------- create


def _application_from_flags(name: str, repo: str, path: str, revision: str, dest_server: str,
                            dest_namespace: str, project: str, sync_policy: str | None,
                            auto_prune: bool, self_heal: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": project,
        "source": {"repoURL": repo, "path": path, "targetRevision": revision},
        "destination": {"server": dest_server, "namespace": dest_namespace},
    }
    if sync_policy == "automated":
        spec["syncPolicy"] = {"automated": {"prune": auto_prune, "selfHeal": self_heal}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name}, "spec": spec}


@app.command("create")
@click.argument("name", required=False)
@click.option("-f", "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An Argo CD Application YAML.")
@click.option("--repo", help="Git repository URL (https://, ssh, git@host:path, file://).")
@click.option("--path", "source_path", default=".", show_default=True, help="Path inside the repository.")
@click.option("--revision", default="HEAD", show_default=True, help="Branch, tag, HEAD or commit SHA.")
@click.option("--dest-server", default="https://kubernetes.default.svc", show_default=True)
@click.option("--dest-namespace", default="", help="Namespace for resources that set none.")
@click.option("--project", default="default", show_default=True)
@click.option("--sync-policy", type=click.Choice(["automated", "none"]), default=None)
@click.option("--auto-prune", is_flag=True, help="With automated sync: delete what Git no longer has.")
@click.option("--self-heal", is_flag=True, help="With automated sync: revert changes made in the cluster.")
@click.option("--upsert", is_flag=True, help="Update the app if it exists.")
@click.option("--refresh-seconds", type=float, envvar="BOSUN_REFRESH_SECONDS", default=120.0,
              show_default=True, help="How often the app is compared with Git and the cluster.")
@click.option("--task-queue", envvar="BOSUN_TASK_QUEUE", default="bosun", show_default=True)
@connection_options
@run_async
async def create(name: str | None, file: Path | None, repo: str | None, source_path: str, revision: str,
                 dest_server: str, dest_namespace: str, project: str, sync_policy: str | None,
                 auto_prune: bool, self_heal: bool, upsert: bool, refresh_seconds: float, task_queue: str,
                 address: str | None, temporal_namespace: str | None) -> None:
    """Create an Application from a YAML file or from flags.

    \b
    Examples:
      bosun app create -f guestbook.yaml
      bosun app create guestbook --repo https://github.com/argoproj/argocd-example-apps.git \\
          --path guestbook --dest-namespace default --sync-policy automated --auto-prune --self-heal
    """
    if file is not None:
        try:
            document = yaml.safe_load(file.read_text())
            application = parse_application(document, source_name=str(file))
        except yaml.YAMLError as exc:
            raise CliError(f"{file}: not valid YAML: {exc}", EXIT_USAGE) from None
        except ModelError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        manifest = application.to_manifest(cluster_fields=False)
    else:
        if not name or not repo:
            raise CliError("give -f FILE, or NAME with --repo", EXIT_USAGE)
        manifest = _application_from_flags(name, repo, source_path, revision, dest_server, dest_namespace,
                                           project, sync_policy, auto_prune, self_heal)
        try:
            application = parse_application(manifest, source_name="command line")
        except ModelError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    client = await _client(address, temporal_namespace)
    await start_application(client, application, manifest, task_queue=task_queue,
                            refresh_seconds=refresh_seconds, upsert=upsert)
    click.echo(f"application '{application.metadata.name}' created")


async def start_application(client: Client, application: Application, manifest: dict[str, Any], *,
                            task_queue: str, refresh_seconds: float, upsert: bool) -> None:
    name = application.metadata.name
    dest = application.spec.destination
    attributes = TypedSearchAttributes([
        SearchAttributePair(KEYS[sa.APP], name),
        SearchAttributePair(KEYS[sa.PROJECT], application.spec.project),
        SearchAttributePair(KEYS[sa.CLUSTER], dest.server or dest.name or ""),
        SearchAttributePair(KEYS[sa.NAMESPACE], dest.namespace or ""),
    ])
    try:
        await client.start_workflow(
            "ApplicationWorkflow",
            AppWorkflowInput(application=manifest, refresh_seconds=refresh_seconds),
            id=workflow_id(name), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=attributes,
            static_summary=f"Application {name}",
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        if not upsert:
            raise CliError(f"application {name!r} already exists (use --upsert to update it)", EXIT_USAGE) from None
        await client.get_workflow_handle(workflow_id(name)).signal("update_spec", manifest)
    except Exception as exc:
        if "already started" in str(exc).lower() or "AlreadyStarted" in type(exc).__name__:
            if not upsert:
                raise CliError(f"application {name!r} already exists (use --upsert to update it)",
                               EXIT_USAGE) from None
            await client.get_workflow_handle(workflow_id(name)).signal("update_spec", manifest)
        else:
            raise


# ------------------------------------------------------------------------- list / get


@app.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table")
@connection_options
@run_async
async def list_apps(output: str, address: str | None, temporal_namespace: str | None) -> None:
    """List Applications with their sync and health status."""
    client = await _client(address, temporal_namespace)
    query = "WorkflowType = 'ApplicationWorkflow' AND ExecutionStatus = 'Running'"
    ids = [execution.id async for execution in client.list_workflows(query)]

    async def status_of(workflow_id: str) -> AppStatus:
        # An app whose worker is not running cannot answer a query: show it, don't hang.
        try:
            return await _status(client.get_workflow_handle(workflow_id), timeout=5.0)
        except RPCError:
            return AppStatus(name=workflow_id.removeprefix("app:"), operation="no worker answered")

    statuses = sorted(await asyncio.gather(*(status_of(i) for i in ids)), key=lambda s: s.name)
    if output in ("json", "yaml"):
        emit(statuses, output)
        return
    headers = ["NAME", "PROJECT", "SYNC", "HEALTH", "REVISION", "DESTINATION"]
    rows = [[s.name, s.project, str(s.sync), str(s.health), s.revision[:12],
             f"{s.destination_server} {s.destination_namespace}".strip()] for s in statuses]
    if output == "wide":
        headers += ["REPO", "PATH", "OPERATION"]
        for row, s in zip(rows, statuses, strict=True):
            row += [s.repo_url, s.path, s.operation]
    click.echo(table(headers, rows))


@app.command("get")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table")
@connection_options
@run_async
async def get(name: str, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """Show an Application: status, conditions and a row per resource."""
    client = await _client(address, temporal_namespace)
    status = await _status(await _running_handle(client, name))
    if output in ("json", "yaml"):
        emit(status, output)
        return
    click.echo(f"Name:          {status.name}\nProject:       {status.project}\n"
               f"Repo:          {status.repo_url}\nPath:          {status.path}\n"
               f"Target:        {status.target_revision}\n"
               f"Destination:   {status.destination_server} ({status.destination_namespace or '-'})\n"
               f"Sync policy:   {'Automated' if status.automated else 'Manual'}\n"
               f"Sync status:   {paint(str(status.sync))} to {status.revision[:12] or '-'}\n"
               f"Health:        {paint(str(status.health))}\n"
               f"Operation:     {status.operation}")
    if status.last_operation:
        op = status.last_operation
        click.echo(f"Last sync:     {paint(op.phase)} #{op.id} ({op.trigger}) {op.message}")
    if status.pinned_revision:
        click.echo(f"Pinned:        {status.pinned_revision[:12]} "
                   f"(rollback; `bosun app unpin {status.name}` releases it)")
    window = status.sync_window
    if window is not None:
        state = "automated syncs allowed" if window.automated_allowed else f"automated syncs blocked: {window.reason}"
        when = f"; changes at {window.next_change.isoformat()}" if window.next_change else ""
        manual = "" if window.manual_allowed else "; manual syncs blocked"
        click.echo(f"Sync windows:  {state}{manual}{when}")
        for text in window.active:
            click.echo(f"               active: {text}")
    for condition in status.conditions:
        click.echo(f"Condition:     {condition.type}: {condition.message}")
    click.echo()
    headers = ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"]
    rows = []
    for r in status.resources:
        sync = "Hook" if r.hook else str(r.sync) + (" (prune)" if r.requires_pruning else "")
        rows.append([r.key.group, r.key.kind, r.key.namespace, r.key.name, sync,
                     str(r.health) if r.health else "", r.message or r.health_message])
    click.echo(table(headers, rows))


# ------------------------------------------------------------------------- diff


@app.command("diff")
@click.argument("name")
@click.option("--no-refresh", is_flag=True, help="Use the last comparison instead of comparing now.")
@connection_options
@run_async
async def diff(name: str, no_refresh: bool, address: str | None, temporal_namespace: str | None) -> None:
    """Show what differs between Git and the cluster (exit code 1 when out of sync).

    Secret values are masked. The diff body is read from Bosun's content store
    ($BOSUN_HOME/store), which the CLI shares with the worker on this machine.
    """
    from activities.store import ContentStore, StoreMiss

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    if no_refresh:
        status = await _status(handle)
    else:
        status = await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)
    if not status.diff_digest:
        raise CliError(f"application {name!r} has not been compared yet: "
                       + "; ".join(c.message for c in status.conditions), EXIT_FAILED)
    home = Path(os.environ.get("BOSUN_HOME") or Path.home() / ".bosun")
    try:
        diffs: dict[str, str] = ContentStore(home / "store").get_json(status.diff_digest)
    except StoreMiss as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    color = sys.stdout.isatty()
    from bosun.diff.render import colorize

    for key in sorted(diffs):
        click.echo(colorize(diffs[key]) if color else diffs[key], nl=not diffs[key].endswith("\n"))
    for r in status.resources:
        if r.requires_pruning:
            click.echo(f"=== {r.key} would be pruned (no longer in Git)")
    sys.exit(EXIT_FAILED if str(status.sync) == "OutOfSync" else 0)


# ------------------------------------------------------------------------- sync


@app.command("sync")
@click.argument("name")
@click.option("--revision", default="", help="Sync this commit, branch or tag instead of the target.")
@click.option("--prune", is_flag=True, help="Delete resources that are no longer in Git.")
@click.option("--dry-run", is_flag=True, help="Apply with dryRun=All: nothing changes.")
@click.option("--timeout", type=float, default=600.0, show_default=True)
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@connection_options
@run_async
async def sync(name: str, revision: str, prune: bool, dry_run: bool, timeout: float, output: str,
               address: str | None, temporal_namespace: str | None) -> None:
    """Sync an Application now and wait for the result (exit code 1 if it fails).

    \b
    Example:
      bosun app sync guestbook --prune
    """
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    request = SyncRequest(revision=revision, prune=prune, dry_run=dry_run, trigger="manual (bosun app sync)")
    update = await handle.start_update("sync", request, result_type=OperationResult,
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    result_task = asyncio.ensure_future(update.result())
    deadline = time.monotonic() + timeout
    last = ""
    while not result_task.done():
        if time.monotonic() > deadline:
            raise CliError(f"sync of {name!r} still running after {timeout:.0f}s", EXIT_TIMEOUT)
        if output == "text":
            progress = await _progress(client, handle, last)
            if progress != last and progress != "idle":
                click.echo(f"  {progress}", err=True)
                last = progress
        await asyncio.wait([result_task], timeout=0.5)
    result = result_task.result()
    if output != "text":
        emit(result, output)
    else:
        click.echo(f"Operation #{result.id}: {paint(result.phase)} at {result.revision[:12]}: {result.message}")
        rows = [[r.key.kind, r.key.namespace, r.key.name, r.status, r.message] for r in result.resources]
        if rows:
            click.echo(table(["KIND", "NAMESPACE", "NAME", "RESULT", "MESSAGE"], rows))
    if result.phase != "Succeeded":
        sys.exit(EXIT_FAILED)


async def _progress(client: Client, handle: WorkflowHandle[Any, Any], last: str) -> str:
    """What the sync is doing now: its workflow's phase and wave ("Sync wave 1: applying 3"),
    else the app's operation line."""
    try:
        status = await _status(handle, timeout=5.0)
        if status.operation_workflow_id:
            child = client.get_workflow_handle(status.operation_workflow_id)
            wave: str = await child.query("progress", result_type=str, rpc_timeout=timedelta(seconds=5))
            return f"{status.operation_workflow_id}: {wave}"
        return status.operation
    except RPCError:
        return last


@app.command("manifests")
@click.argument("name")
@click.option("--revision", default="", help="Render this commit, branch or tag instead of the target.")
@click.option("--source", type=click.Choice(["git", "live"]), default="git", show_default=True,
              help="git: what would be applied; live: what the cluster has.")
@connection_options
@run_async
async def manifests(name: str, revision: str, source: str, address: str | None,
                    temporal_namespace: str | None) -> None:
    """Print the app's manifests as YAML: rendered from Git, or live. Secret values are masked.

    \b
    Example:
      bosun app manifests guestbook --revision v1.2.0
    """
    from activities.store import ContentStore, StoreMiss
    from bosun.diff import mask_secret
    from workflows.state import ManifestsRequest, ManifestsResult

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    try:
        result = await handle.execute_update("manifests", ManifestsRequest(revision=revision, source=source),
                                             result_type=ManifestsResult)
    except Exception as exc:  # noqa: BLE001 - a failed render: say why
        raise CliError(cause_message(exc), EXIT_FAILED) from None
    home = Path(os.environ.get("BOSUN_HOME") or Path.home() / ".bosun")
    try:
        objects = ContentStore(home / "store").get_json(result.digest)
    except StoreMiss as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    shown = [mask_secret(o) if o.get("kind") == "Secret" else o for o in objects]
    click.echo(yaml.safe_dump_all(shown, sort_keys=False), nl=False)


@app.command("history")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@connection_options
@run_async
async def history(name: str, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """List the recorded syncs of an Application (revisionHistoryLimit of them)."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    entries = await handle.query("history", result_type=list[OperationResult])
    if output != "table":
        emit(entries, output)
        return
    rows = [[e.id, e.phase, e.revision[:12], e.trigger, e.started_at.isoformat() if e.started_at else "",
             e.message] for e in entries]
    click.echo(table(["ID", "PHASE", "REVISION", "TRIGGER", "STARTED", "MESSAGE"], rows))


# ------------------------------------------------------------------------- wait / delete


@app.command("wait")
@click.argument("name")
@click.option("--sync", "want_sync", is_flag=True, help="Wait until Synced.")
@click.option("--health", "want_health", is_flag=True, help="Wait until Healthy.")
@click.option("--timeout", type=float, default=300.0, show_default=True)
@connection_options
@run_async
async def wait(name: str, want_sync: bool, want_health: bool, timeout: float, address: str | None,
               temporal_namespace: str | None) -> None:
    """Wait until an Application is Synced and/or Healthy (exit code 4 on timeout)."""
    if not (want_sync or want_health):
        want_sync = want_health = True
    client = await _client(address, temporal_namespace)
    deadline = time.monotonic() + timeout
    status: AppStatus | None = None
    while time.monotonic() < deadline:
        try:
            status = await _status(await _running_handle(client, name))
        except CliError:
            status = None
        if status is not None and status.operation == "idle" \
                and (not want_sync or str(status.sync) == "Synced") \
                and (not want_health or str(status.health) == "Healthy"):
            click.echo(f"{name}: {status.sync} / {status.health} at {status.revision[:12]}")
            return
        await asyncio.sleep(1.0)
    seen = f"{status.sync} / {status.health}" if status else "not found"
    raise CliError(f"timed out after {timeout:.0f}s waiting for {name!r} (last seen: {seen})", EXIT_TIMEOUT)


@app.command("delete")
@click.argument("name")
@click.option("--cascade/--no-cascade", default=True, show_default=True,
              help="Also delete the app's resources from the cluster.")
@connection_options
@run_async
async def delete(name: str, cascade: bool, address: str | None, temporal_namespace: str | None) -> None:
    """Delete an Application (and, with --cascade, what it deployed)."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    message = await handle.execute_update("delete", DeleteRequest(cascade=cascade), result_type=str)
    await handle.result()
    click.echo(message)


@app.command("rollback")
@click.argument("name")
@click.argument("history_id", type=int)
@click.option("--prune", is_flag=True, help="Also delete resources the old revision does not have.")
@connection_options
@run_async
async def rollback(name: str, history_id: int, prune: bool, address: str | None,
                   temporal_namespace: str | None) -> None:
    """Sync the revision of history entry HISTORY_ID again, and hold automated sync there.

    Unlike Argo CD, automated sync need not be turned off: it stays at the rolled-back
    revision until a commit newer than today's target arrives, or `bosun app unpin`.
    """
    from workflows.state import RollbackRequest

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    try:
        result = await handle.execute_update("rollback", RollbackRequest(id=history_id, prune=prune),
                                             result_type=OperationResult)
    except Exception as exc:  # noqa: BLE001 - an update rejected by the workflow
        raise CliError(cause_message(exc), EXIT_FAILED) from None
    click.echo(f"Operation #{result.id}: {paint(result.phase)} at {result.revision[:12]}: {result.message}")
    if result.phase != "Succeeded":
        sys.exit(EXIT_FAILED)


@app.command("unpin")
@click.argument("name")
@connection_options
@run_async
async def unpin(name: str, address: str | None, temporal_namespace: str | None) -> None:
    """Release a rollback pin: automated sync follows the target revision again."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    await handle.signal("unpin")
    click.echo(f"application {name!r} unpinned")


@app.command("terminate-op")
@click.argument("name")
@connection_options
@run_async
async def terminate_op(name: str, address: str | None, temporal_namespace: str | None) -> None:
    """Stop the running sync operation of an Application."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    await handle.signal("terminate_operation")
    click.echo(f"termination of the running operation of {name!r} requested")
