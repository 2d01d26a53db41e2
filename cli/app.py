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
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    QueryRejectCondition,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.temporal_connection import TemporalConnectionError
from bosun import search_attributes as sa
from bosun.app_edits import SYNC_POLICIES, AppSettings, EditError, apply_settings
from bosun.models import Application, ModelError, load_yaml_documents, parse_application
from bosun.protocol import (
    AppQuery,
    AppSignal,
    AppUpdate,
    DeleteRequest,
    RefreshRequest,
    SyncQuery,
    SyncRequest,
    WorkflowType,
    app_name_of,
    app_workflow_id,
)
from cli.app_select import for_each_selected, parse_selector_flag, select_apps, selector_option
from cli.connection import Connection
from cli.local_diff import local_diff_options
from cli.output import emit, paint, table
from cli.prompt import confirm
from cli.sync_flags import SyncFlags, start_detached, sync_operation_options
from workflows.application import KEYS, LABELS_KEY
from workflows.state import AppStatus, AppWorkflowInput, OperationResult
from workflows.sync import cause_message

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_TIMEOUT = 1, 2, 3, 4
EXIT_UNREACHABLE = TemporalConnectionError.EXIT_CODE  # 5: a wrong Temporal setting or no server
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
    fn = click.option(
        "--namespace",
        "temporal_namespace",
        envvar="BOSUN_NAMESPACE",
        default=None,
        help="Temporal namespace (env BOSUN_NAMESPACE, TEMPORAL_NAMESPACE, or the TEMPORAL_PROFILE profile).",
    )(fn)
    return click.option(
        "--address",
        envvar="BOSUN_TEMPORAL_ADDRESS",
        default=None,
        help="Temporal address host:port (env BOSUN_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS, or the TEMPORAL_PROFILE "
        "profile; TLS and API key from TEMPORAL_TLS_*, TEMPORAL_API_KEY, see docs/temporal.md).",
    )(fn)


async def _client(address: str | None, namespace: str | None) -> Client:
    return await Connection.resolve(address, namespace).client()


async def _running_handle(client: Client, name: str) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle(app_workflow_id(name))
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
    status: AppStatus = await handle.query(
        AppQuery.STATUS, result_type=AppStatus, rpc_timeout=timedelta(seconds=timeout)
    )
    return status


@click.group()
def app() -> None:
    """Manage Applications (Argo CD's argoproj.io/v1alpha1 Application)."""


# ------------------------------------------------------------------------- create


IN_CLUSTER = "https://kubernetes.default.svc"


def _application_from_flags(
    name: str,
    repo: str,
    path: str,
    revision: str,
    dest_server: str,
    dest_namespace: str,
    project: str,
    sync_policy: str | None,
    auto_prune: bool,
    self_heal: bool,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": project,
        "source": {"repoURL": repo, "path": path, "targetRevision": revision},
        "destination": {"server": dest_server, "namespace": dest_namespace},
    }
    if sync_policy in ("automated", "automatic", "auto"):
        spec["syncPolicy"] = {"automated": {"prune": auto_prune, "selfHeal": self_heal}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": name}, "spec": spec}


@app.command("create")
@click.argument("name", required=False)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An Argo CD Application YAML.",
)
@click.option("--repo", help="Git repository URL (https://, ssh, git@host:path, file://).")
@click.option("--path", "source_path", default=".", show_default=True, help="Path inside the repository.")
@click.option("--revision", default="HEAD", show_default=True, help="Branch, tag, HEAD or commit SHA.")
@click.option("--dest-server", default=None, help=f"Cluster API URL  [default: {IN_CLUSTER}]")
@click.option("--dest-name", default=None, help="Cluster name (instead of --dest-server).")
@click.option("--dest-namespace", default="", help="Namespace for resources that set none.")
@click.option("--project", default="default", show_default=True)
@click.option("--sync-policy", type=click.Choice(SYNC_POLICIES), default=None)
@click.option("--auto-prune", is_flag=True, help="With automated sync: delete what Git no longer has.")
@click.option("--self-heal", is_flag=True, help="With automated sync: revert changes made in the cluster.")
@click.option("--helm-set", multiple=True, metavar="KEY=VALUE", help="A Helm parameter (repeatable).")
@click.option("--values", multiple=True, metavar="FILE", help="A Helm values file in the repository (repeatable).")
@click.option("--kustomize-image", multiple=True, metavar="IMAGE", help="A Kustomize image override (repeatable).")
@click.option("--sync-option", multiple=True, metavar="KEY=VALUE", help="e.g. CreateNamespace=true (repeatable).")
@click.option("-l", "--label", multiple=True, metavar="KEY=VALUE", help="A label of the app (repeatable).")
@click.option("--upsert", is_flag=True, help="Update the app if it exists.")
@click.option(
    "--refresh-seconds",
    type=float,
    envvar="BOSUN_REFRESH_SECONDS",
    default=120.0,
    show_default=True,
    help="How often the app is compared with Git and the cluster.",
)
@click.option("--task-queue", envvar="BOSUN_TASK_QUEUE", default="bosun", show_default=True)
@connection_options
@run_async
async def create(
    name: str | None,
    file: Path | None,
    repo: str | None,
    source_path: str,
    revision: str,
    dest_server: str | None,
    dest_name: str | None,
    dest_namespace: str,
    project: str,
    sync_policy: str | None,
    auto_prune: bool,
    self_heal: bool,
    helm_set: tuple[str, ...],
    values: tuple[str, ...],
    kustomize_image: tuple[str, ...],
    sync_option: tuple[str, ...],
    label: tuple[str, ...],
    upsert: bool,
    refresh_seconds: float,
    task_queue: str,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Create Applications from a YAML file (one per document) or one from flags.

    With -f, --dest-name, --helm-set, --values, --kustomize-image, --sync-option and
    --label apply to every document of the file.

    \b
    Examples:
      bosun app create -f apps.yaml
      bosun app create guestbook --repo https://github.com/argoproj/argocd-example-apps.git \\
          --path guestbook --dest-namespace default --sync-policy automated --auto-prune --self-heal
      bosun app create web --repo file:///srv/git/web --path chart --helm-set replicaCount=2 \\
          --values values-prod.yaml --sync-option CreateNamespace=true -l team=web
    """
    if dest_server is not None and dest_name is not None:
        raise CliError(
            "--dest-server and --dest-name: give one (a destination is a server URL or a cluster name)", EXIT_USAGE
        )
    settings = AppSettings(
        dest_name=dest_name,
        helm_set=helm_set,
        values=values,
        kustomize_images=kustomize_image,
        sync_options=sync_option,
        labels=label,
    )
    if file is not None:
        try:
            documents = load_yaml_documents(file.read_text(), source_name=str(file))
        except ModelError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        if not documents:
            raise CliError(f"{file}: no Application in the file", EXIT_USAGE)
        sources = [str(file) if len(documents) == 1 else f"{file}#{n}" for n in range(1, len(documents) + 1)]
    else:
        if not name or not repo:
            raise CliError("give -f FILE, or NAME with --repo", EXIT_USAGE)
        documents = [
            _application_from_flags(
                name,
                repo,
                source_path,
                revision,
                dest_server or ("" if dest_name else IN_CLUSTER),
                dest_namespace,
                project,
                sync_policy,
                auto_prune,
                self_heal,
            )
        ]
        sources = ["command line"]
    apps = []  # every document is checked before any app is created
    for document, source in zip(documents, sources, strict=True):
        try:
            application = parse_application(apply_settings(document, settings), source_name=source)
        except (ModelError, EditError) as exc:
            raise CliError(str(exc) if isinstance(exc, ModelError) else f"{source}: {exc}", EXIT_USAGE) from None
        apps.append(application)
    client = await _client(address, temporal_namespace)
    failed: CliError | None = None
    for application in apps:
        try:
            await start_application(
                client,
                application,
                application.to_manifest(cluster_fields=False),
                task_queue=task_queue,
                refresh_seconds=refresh_seconds,
                upsert=upsert,
            )
        except CliError as exc:  # the others are still created
            click.echo(f"error: {exc}", err=True)
            failed = exc
            continue
        click.echo(f"application '{application.metadata.name}' created")
    if failed is not None:
        sys.exit(failed.code)


async def start_application(
    client: Client,
    application: Application,
    manifest: dict[str, Any],
    *,
    task_queue: str,
    refresh_seconds: float,
    upsert: bool,
) -> None:
    name = application.metadata.name
    dest = application.spec.destination
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(KEYS[sa.APP], name),
            SearchAttributePair(KEYS[sa.PROJECT], application.spec.project),
            SearchAttributePair(KEYS[sa.CLUSTER], dest.server or dest.name or ""),
            SearchAttributePair(KEYS[sa.NAMESPACE], dest.namespace or ""),
            SearchAttributePair(LABELS_KEY, sa.label_items(application.metadata.labels or {})),
        ]
    )
    try:
        await client.start_workflow(
            WorkflowType.APPLICATION,
            AppWorkflowInput(application=manifest, refresh_seconds=refresh_seconds),
            id=app_workflow_id(name),
            task_queue=task_queue,
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
        await client.get_workflow_handle(app_workflow_id(name)).signal(AppSignal.UPDATE_SPEC, manifest)
    except Exception as exc:
        if "already started" in str(exc).lower() or "AlreadyStarted" in type(exc).__name__:
            if not upsert:
                raise CliError(f"application {name!r} already exists (use --upsert to update it)", EXIT_USAGE) from None
            await client.get_workflow_handle(app_workflow_id(name)).signal(AppSignal.UPDATE_SPEC, manifest)
        else:
            raise


# ------------------------------------------------------------------------- list / get


@app.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table")
@selector_option
@click.option("-p", "--project", "projects", multiple=True, help="Only apps of this project (repeatable).")
@connection_options
@run_async
async def list_apps(
    output: str, selector: str | None, projects: tuple[str, ...], address: str | None, temporal_namespace: str | None
) -> None:
    """List Applications with their sync and health status."""
    parsed = parse_selector_flag(selector)
    client = await _client(address, temporal_namespace)
    ids = [app_workflow_id(name) for name in await select_apps(client, parsed, projects)]

    async def status_of(workflow_id: str) -> AppStatus:
        # An app whose worker is not running cannot answer a query: show it, don't hang.
        try:
            return await _status(client.get_workflow_handle(workflow_id), timeout=5.0)
        except RPCError:
            return AppStatus(name=app_name_of(workflow_id), operation="no worker answered")

    statuses = sorted(await asyncio.gather(*(status_of(i) for i in ids)), key=lambda s: s.name)
    if output in ("json", "yaml"):
        emit(statuses, output)
        return
    headers = ["NAME", "PROJECT", "SYNC", "HEALTH", "SYNCPOLICY", "REVISION", "DESTINATION"]
    rows = [
        [
            s.name,
            s.project,
            str(s.sync),
            str(s.health),
            sync_policy_text(s),
            s.revision[:12],
            f"{s.destination_server} {s.destination_namespace}".strip(),
        ]
        for s in statuses
    ]
    if output == "wide":
        headers += ["REPO", "PATH", "OPERATION"]
        for row, s in zip(rows, statuses, strict=True):
            row += [s.repo_url, s.path, s.operation]
    click.echo(table(headers, rows))


def sync_policy_text(status: AppStatus, *, automated: str = "Auto") -> str:
    """Auto (as `argocd app list`; ``automated`` says it otherwise), Manual, or Suspended
    (automated sync suspended with `bosun app suspend`)."""
    if status.suspended:
        return "Suspended"
    return automated if status.automated else "Manual"


@app.command("get")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table")
@click.option("--refresh", is_flag=True, help="Compare with Git and the cluster first.")
@click.option("--hard-refresh", is_flag=True, help="Render again first, bypassing the render cache.")
@connection_options
@run_async
async def get(
    name: str, output: str, refresh: bool, hard_refresh: bool, address: str | None, temporal_namespace: str | None
) -> None:
    """Show an Application: status, conditions and a row per resource."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    status = await (
        handle.execute_update(AppUpdate.REFRESH_NOW, RefreshRequest(hard=hard_refresh), result_type=AppStatus)
        if refresh or hard_refresh
        else _status(handle)
    )
    if output in ("json", "yaml"):
        emit(status, output)
        return
    click.echo(
        f"Name:          {status.name}\nProject:       {status.project}\n"
        f"Repo:          {status.repo_url}\nPath:          {status.path}\n"
        f"Target:        {status.target_revision}\n"
        f"Destination:   {status.destination_server} ({status.destination_namespace or '-'})\n"
        f"Sync policy:   {sync_policy_text(status, automated='Automated')}\n"
        f"Sync status:   {paint(str(status.sync))} to {status.revision[:12] or '-'}\n"
        f"Health:        {paint(str(status.health))}\n"
        f"Operation:     {status.operation}"
    )
    if status.last_operation:
        op = status.last_operation
        click.echo(f"Last sync:     {paint(op.phase)} #{op.id} ({op.trigger}) {op.message}")
    if status.pinned_revision:
        click.echo(
            f"Pinned:        {status.pinned_revision[:12]} (rollback; `bosun app unpin {status.name}` releases it)"
        )
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
    if status.depends_on:
        live = {dep: await _dependency_status(client, dep) for dep in status.depends_on}
        click.echo("Depends on:    (bosun.dev/depends-on; syncs wait until each is Synced and Healthy)")
        click.echo(dependency_table(status, live))
    click.echo()
    headers = ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"]
    rows = []
    for r in status.resources:
        sync = "Hook" if r.hook else str(r.sync) + (" (prune)" if r.requires_pruning else "")
        rows.append(
            [
                r.key.group,
                r.key.kind,
                r.key.namespace,
                r.key.name,
                sync,
                str(r.health) if r.health else "",
                r.message or r.health_message,
            ]
        )
    click.echo(table(headers, rows))


async def _dependency_status(client: Client, name: str) -> AppStatus | None:
    """A dependency's status now, or None when no running app has that name (or it does not answer)."""
    try:
        status: AppStatus = await client.get_workflow_handle(app_workflow_id(name)).query(
            AppQuery.STATUS,
            result_type=AppStatus,
            rpc_timeout=timedelta(seconds=10),
            reject_condition=QueryRejectCondition.NOT_OPEN,
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None
    return status


def dependency_table(status: AppStatus, live: dict[str, AppStatus | None]) -> str:
    """The "Depends on" rows of ``bosun app get``: each dependency's sync, health and revision
    now (``live``), and what the app's last check before a sync said of it."""
    checked = {dep.name: dep for dep in status.dependencies}
    rows = []
    for name in status.depends_on:
        now = live.get(name)
        last = checked.get(name)
        seen = "not checked yet" if last is None else (f"waiting: {last.reason}" if last.reason else "ready")
        if now is None:
            rows.append(["  " + name, "-", "-", "-", seen if last is not None and last.reason else "not found"])
        else:
            rows.append(["  " + name, str(now.sync), str(now.health), now.revision[:12] or "-", seen])
    return table(["  APP", "SYNC", "HEALTH", "REVISION", "LAST CHECK"], rows)


# ------------------------------------------------------------------------- diff


@app.command("diff")
@click.argument("name")
@click.option("--no-refresh", is_flag=True, help="Use the last comparison instead of comparing now.")
@local_diff_options
@connection_options
@run_async
async def diff(name: str, no_refresh: bool, address: str | None, temporal_namespace: str | None, **local: Any) -> None:
    """Show what differs between Git and the cluster (exit code 1 when out of sync).

    Secret values are masked. The diff comes through Temporal from whichever worker
    takes it (no worker's disk is read here); a very large diff is cut, with a note.

    \b
    With --local DIR: DIR is rendered here and compared with the live cluster through
    your kubeconfig; no worker is needed (and with -f APP.yaml, no Temporal either):
      bosun app diff guestbook --local ./guestbook -f guestbook-app.yaml
    """
    from activities.contracts import ShownDiff
    from workflows.state import DiffRequest

    if local["local"] is not None:
        from cli.local_diff import run_local_diff

        sys.exit(await run_local_diff(name, address=address, temporal_namespace=temporal_namespace, **local))

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    if no_refresh:
        status = await _status(handle)
    else:
        status = await handle.execute_update(AppUpdate.REFRESH_NOW, RefreshRequest(), result_type=AppStatus)
    if not status.diff_digest:
        raise CliError(
            f"application {name!r} has not been compared yet: " + "; ".join(c.message for c in status.conditions),
            EXIT_FAILED,
        )
    try:
        shown = await handle.execute_update(AppUpdate.DIFF_CONTENT, DiffRequest(), result_type=ShownDiff)
    except Exception as exc:  # noqa: BLE001 - a failed comparison: say why
        raise CliError(cause_message(exc), EXIT_FAILED) from None
    diffs = shown.diffs
    color = sys.stdout.isatty()
    from bosun.diff.render import colorize

    for key in sorted(diffs):
        click.echo(colorize(diffs[key]) if color else diffs[key], nl=not diffs[key].endswith("\n"))
    for r in status.resources:
        if r.requires_pruning:
            click.echo(f"=== {r.key} would be pruned (no longer in Git)")
    if shown.note:
        click.echo(f"note: {shown.note}", err=True)
    sys.exit(EXIT_FAILED if str(status.sync) == "OutOfSync" else 0)


# ------------------------------------------------------------------------- sync


@app.command("sync")
@click.argument("name", required=False)
@selector_option
@click.option("--revision", default="", help="Sync this commit, branch or tag instead of the target.")
@click.option("--prune", is_flag=True, help="Delete resources that are no longer in Git.")
@click.option("--dry-run", is_flag=True, help="Apply with dryRun=All: nothing changes.")
@click.option("--timeout", type=float, default=600.0, show_default=True)
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@sync_operation_options
@connection_options
@run_async
@for_each_selected
async def sync(
    name: str,
    revision: str,
    prune: bool,
    dry_run: bool,
    timeout: float,
    output: str,
    address: str | None,
    temporal_namespace: str | None,
    **operation: Any,
) -> None:
    """Sync an Application (or each app -l selects) now and wait for the result (exit code 1 if it fails).

    \b
    Examples:
      bosun app sync guestbook --prune
      bosun app sync guestbook --resource apps:Deployment:web --resource :Service:web
      bosun app sync guestbook --async --force
      bosun app sync -l team=web
    """
    flags = SyncFlags.pop(operation)
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    request = SyncRequest(
        revision=revision,
        prune=prune,
        dry_run=dry_run,
        trigger="manual (bosun app sync)",
        **await flags.request_fields(handle, name),
    )
    if flags.detach:
        await start_detached(handle, request, output)
        return
    update = await handle.start_update(
        AppUpdate.SYNC, request, result_type=OperationResult, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
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
        rows = [[r.key.kind, r.key.namespace, r.key.name, r.label, r.message] for r in result.resources]
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
            wave: str = await child.query(SyncQuery.PROGRESS, result_type=str, rpc_timeout=timedelta(seconds=5))
            return f"{status.operation_workflow_id}: {wave}"
        return status.operation
    except RPCError:
        return last


@app.command("manifests")
@click.argument("name")
@click.option("--revision", default="", help="Render this commit, branch or tag instead of the target.")
@click.option(
    "--source",
    type=click.Choice(["git", "live"]),
    default="git",
    show_default=True,
    help="git: what would be applied; live: what the cluster has.",
)
@connection_options
@run_async
async def manifests(name: str, revision: str, source: str, address: str | None, temporal_namespace: str | None) -> None:
    """Print the app's manifests as YAML: rendered from Git, or live. Secret values are masked.

    \b
    Example:
      bosun app manifests guestbook --revision v1.2.0
    """
    from bosun.diff import mask_secret
    from workflows.state import ManifestsContent, ManifestsRequest

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    try:
        result = await handle.execute_update(
            AppUpdate.MANIFESTS_CONTENT,
            ManifestsRequest(revision=revision, source=source),
            result_type=ManifestsContent,
        )
    except Exception as exc:  # noqa: BLE001 - a failed render: say why
        raise CliError(cause_message(exc), EXIT_FAILED) from None
    shown = [mask_secret(o) for o in result.objects]  # masked by the worker already; masks Secrets (core group)
    click.echo(yaml.safe_dump_all(shown, sort_keys=False), nl=False)
    if result.note:
        click.echo(f"note: {result.note}", err=True)


@app.command("history")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@connection_options
@run_async
async def history(name: str, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """List the recorded syncs of an Application (revisionHistoryLimit of them)."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    entries = await handle.query(AppQuery.HISTORY, result_type=list[OperationResult])
    if output != "table":
        emit(entries, output)
        return
    rows = [
        [e.id, e.phase, e.revision[:12], e.trigger, e.started_at.isoformat() if e.started_at else "", e.message]
        for e in entries
    ]
    click.echo(table(["ID", "PHASE", "REVISION", "TRIGGER", "STARTED", "MESSAGE"], rows))


# ------------------------------------------------------------------------- wait / delete


@app.command("wait")
@click.argument("name", required=False)
@selector_option
@click.option("--sync", "want_sync", is_flag=True, help="Wait until Synced.")
@click.option("--health", "want_health", is_flag=True, help="Wait until Healthy.")
@click.option("--timeout", type=float, default=300.0, show_default=True)
@connection_options
@run_async
@for_each_selected
async def wait(
    name: str, want_sync: bool, want_health: bool, timeout: float, address: str | None, temporal_namespace: str | None
) -> None:
    """Wait until an Application (or each app -l selects, in turn) is Synced and/or Healthy
    (exit code 4 on timeout)."""
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
        if (
            status is not None
            and status.operation == "idle"
            and (not want_sync or str(status.sync) == "Synced")
            and (not want_health or str(status.health) == "Healthy")
        ):
            click.echo(f"{name}: {status.sync} / {status.health} at {status.revision[:12]}")
            return
        await asyncio.sleep(1.0)
    seen = f"{status.sync} / {status.health}" if status else "not found"
    raise CliError(f"timed out after {timeout:.0f}s waiting for {name!r} (last seen: {seen})", EXIT_TIMEOUT)


@app.command("delete")
@click.argument("name", required=False)
@selector_option
@click.option(
    "--cascade/--no-cascade", default=True, show_default=True, help="Also delete the app's resources from the cluster."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
@run_async
@for_each_selected
async def delete(name: str, cascade: bool, yes: bool, address: str | None, temporal_namespace: str | None) -> None:
    """Delete an Application, or each app -l selects (and, with --cascade, what it deployed).

    On a terminal a cascading delete asks first, as Argo CD does (-y skips it); from a
    script or CI (stdin or stdout not a terminal) it does not ask.
    """
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    if cascade and not yes and not confirm(f"Are you sure you want to delete '{name}' and all its resources?"):
        click.echo(f"The command to delete '{name}' was cancelled.")
        return
    message = await handle.execute_update(AppUpdate.DELETE, DeleteRequest(cascade=cascade), result_type=str)
    await handle.result()
    click.echo(message)


@app.command("rollback")
@click.argument("name")
@click.argument("history_id", type=int)
@click.option("--prune", is_flag=True, help="Also delete resources the old revision does not have.")
@connection_options
@run_async
async def rollback(
    name: str, history_id: int, prune: bool, address: str | None, temporal_namespace: str | None
) -> None:
    """Sync the revision of history entry HISTORY_ID again, and hold automated sync there.

    Unlike Argo CD, automated sync need not be turned off: it stays at the rolled-back
    revision until a commit newer than today's target arrives, or `bosun app unpin`.
    """
    from workflows.state import RollbackRequest

    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    try:
        result = await handle.execute_update(
            AppUpdate.ROLLBACK, RollbackRequest(id=history_id, prune=prune), result_type=OperationResult
        )
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
    await handle.signal(AppSignal.UNPIN)
    click.echo(f"application {name!r} unpinned")


@app.command("terminate-op")
@click.argument("name")
@connection_options
@run_async
async def terminate_op(name: str, address: str | None, temporal_namespace: str | None) -> None:
    """Stop the running sync operation of an Application."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    await handle.signal(AppSignal.TERMINATE_OPERATION)
    click.echo(f"termination of the running operation of {name!r} requested")
