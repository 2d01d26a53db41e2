"""``bosun app refresh`` and ``bosun app resources [--orphaned]``: operations on a running app.

Registered on the ``app`` group of :mod:`cli.app` (imported by :mod:`cli.main`),
and thin like the commands there: ``refresh`` is the ``refresh_now`` update; ``resources``
the ``status`` query, or with ``--orphaned`` the ``orphaned_resources`` update, whose
activity lists the destination namespace on the destination cluster's task queue with the
worker's credentials (:mod:`activities.orphans`). The command line then drops objects
whose tracking id names an app that still exists, as Argo CD does.
"""

from __future__ import annotations

import click
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.orphans import ListOrphanedResult
from bosun.protocol import AppUpdate, RefreshRequest, app_workflow_id
from cli.app import (
    EXIT_FAILED,
    CliError,
    _client,
    _running_handle,
    _status,
    app,
    connection_options,
    run_async,
)
from cli.output import emit, paint, table
from workflows.state import AppStatus, OrphanedResourcesRequest
from workflows.sync import cause_message


@app.command("refresh")
@click.argument("name")
@click.option("--hard", is_flag=True, help="Render again, bypassing the render cache (Argo CD's hard refresh).")
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@connection_options
@run_async
async def refresh(name: str, hard: bool, output: str, address: str | None, temporal_namespace: str | None) -> None:
    """Compare an Application with Git and the cluster now, and show the result.

    \b
    Examples:
      bosun app refresh guestbook
      bosun app refresh guestbook --hard
    """
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    status: AppStatus = await handle.execute_update(
        AppUpdate.REFRESH_NOW, RefreshRequest(hard=hard), result_type=AppStatus
    )
    if output != "text":
        emit(status, output)
        return
    click.echo(
        f"{status.name}: {paint(str(status.sync))} / {paint(str(status.health))} "
        f"at {status.revision[:12] or '-'}" + (" (hard refresh)" if hard else "")
    )
    for condition in status.conditions:
        click.echo(f"Condition: {condition.type}: {condition.message}")


@app.command("resources")
@click.argument("name")
@click.option(
    "--orphaned", is_flag=True, help="List the objects of the app's destination namespace that no app tracks instead."
)
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@connection_options
@run_async
async def resources(
    name: str, orphaned: bool, output: str, address: str | None, temporal_namespace: str | None
) -> None:
    """List an Application's resources with their sync and health status.

    With --orphaned: the top-level objects of its destination namespace that no
    Application deployed (Argo CD's orphaned resources; Events, Leases, Endpoints, the
    default ServiceAccount and the kube-root-ca.crt ConfigMap are never listed).
    """
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    if orphaned:
        try:
            found: ListOrphanedResult = await handle.execute_update(
                AppUpdate.ORPHANED_RESOURCES, OrphanedResourcesRequest(), result_type=ListOrphanedResult
            )
        except Exception as exc:  # noqa: BLE001 - the cluster could not be read: say why
            raise CliError(cause_message(exc), EXIT_FAILED) from None
        shown = [r for r in found.resources if not await _app_exists(client, r.tracked_by)]
        for warning in found.warnings:
            click.echo(f"warning: {warning}", err=True)
        if output != "table":
            emit(shown, output)
            return
        click.echo(
            table(
                ["GROUP", "KIND", "NAMESPACE", "NAME", "ORPHANED"],
                [[r.key.group, r.key.kind, r.key.namespace, r.key.name, "Yes"] for r in shown],
            )
        )
        return
    status = await _status(handle)
    if output != "table":
        emit(status.resources, output)
        return
    rows = [
        [
            r.key.group,
            r.key.kind,
            r.key.namespace,
            r.key.name,
            str(r.sync) + (" (prune)" if r.requires_pruning else ""),
            str(r.health) if r.health else "",
            "Yes" if r.hook else "No",
            r.message or r.health_message,
        ]
        for r in status.resources
    ]
    click.echo(table(["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "HOOK", "MESSAGE"], rows))


_EXISTS: dict[str, bool] = {}


async def _app_exists(client: Client, tracked_by: str) -> bool:
    """Whether the app an object's tracking names is still running."""
    if not tracked_by:
        return False
    if tracked_by not in _EXISTS:
        _EXISTS[tracked_by] = await _running(client, tracked_by)
    return _EXISTS[tracked_by]


async def _running(client: Client, name: str) -> bool:
    try:
        description = await client.get_workflow_handle(app_workflow_id(name)).describe()
    except RPCError:
        return False
    return description.status == WorkflowExecutionStatus.RUNNING
