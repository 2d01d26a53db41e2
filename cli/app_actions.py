"""``bosun app actions``: list and run resource actions (Argo CD's ``argocd app actions``).

``list`` and ``run`` are the app workflow's ``resource_actions`` and
``run_resource_action`` updates; ``history`` is its ``action_history`` query. The
resource is named as in Argo CD: ``--kind``, ``--resource-name`` and, when the app has
several, ``--namespace`` or ``--group``. ``--namespace`` is the resource's namespace
here, so the Temporal namespace is ``--temporal-namespace`` (or BOSUN_NAMESPACE).

Exit codes as in ``bosun app``: 1 the action failed (a Lua error, the cluster refused
the change); 2 bad input (no such action, a disabled one, an ambiguous resource);
3 no such app, or the resource is not one of the app's.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from typing import Any

import click
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError

from bosun.actions import ActionError, parse_params
from bosun.protocol import AppQuery, AppUpdate
from cli.app import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, CliError, _client, _running_handle, run_async
from cli.output import emit, paint, table
from workflows.actions import ActionRecord, ResourceActionsRequest, ResourceActionsResponse, RunResourceActionRequest

EXIT_BY_REASON = {
    "NotFound": EXIT_NOT_FOUND,
    "UnknownAction": EXIT_USAGE,
    "InvalidArgument": EXIT_USAGE,
    "Disabled": EXIT_USAGE,
}


def _resource_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--kind", required=True, help="The resource's kind (Deployment, ConfigMap …)."),
            click.option("--resource-name", required=True, help="The resource's name."),
            click.option(
                "--namespace",
                "resource_namespace",
                default="",
                help="The resource's namespace, where the app has several of that kind and name.",
            ),
            click.option("--group", default=None, help='The resource\'s API group ("" for the core group).'),
            click.option(
                "--address",
                envvar="BOSUN_TEMPORAL_ADDRESS",
                default=None,
                help="Temporal address host:port (env BOSUN_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS).",
            ),
            click.option(
                "--temporal-namespace",
                envvar="BOSUN_NAMESPACE",
                default=None,
                help="Temporal namespace (env BOSUN_NAMESPACE, TEMPORAL_NAMESPACE).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


async def _update(handle: WorkflowHandle[Any, Any], name: str, request: Any, result_type: type[Any]) -> Any:
    """Run an update; a failure becomes a CliError with the exit code its reason calls for."""
    try:
        return await handle.execute_update(name, request, result_type=result_type)
    except Exception as exc:  # noqa: BLE001 - WorkflowUpdateFailedError or an RPC error
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = getattr(cause, "cause", None) or cause.__cause__
        if cause is None:
            raise CliError(str(exc), EXIT_FAILED) from None
        assert isinstance(cause, ApplicationError)
        raise CliError(cause.message, EXIT_BY_REASON.get(cause.type or "", EXIT_FAILED)) from None


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@click.group("actions")
def actions() -> None:
    """List and run resource actions (restart, and argocd-cm's Lua actions)."""


@actions.command("list")
@click.argument("app")
@_resource_options
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@run_async
async def list_actions(
    app: str,
    kind: str,
    resource_name: str,
    resource_namespace: str,
    group: str | None,
    address: str | None,
    temporal_namespace: str | None,
    output: str,
) -> None:
    """List the actions a resource of APP offers."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, app)
    request = ResourceActionsRequest(kind=kind, resource_name=resource_name, namespace=resource_namespace, group=group)
    response: ResourceActionsResponse = await _update(
        handle, AppUpdate.RESOURCE_ACTIONS, request, ResourceActionsResponse
    )
    if output != "table":
        emit(response, output)
        return
    key = response.key
    rows = [[key.group, key.kind, key.name, a.name, "true" if a.disabled else "false"] for a in response.actions]
    click.echo(table(["GROUP", "KIND", "NAME", "ACTION", "DISABLED"], rows) if rows else f"{key.short}: no actions")


@actions.command("run")
@click.argument("app")
@click.argument("action")
@_resource_options
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="An action parameter (Argo CD's actionParams); repeatable.",
)
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@run_async
async def run_action(
    app: str,
    action: str,
    kind: str,
    resource_name: str,
    resource_namespace: str,
    group: str | None,
    address: str | None,
    temporal_namespace: str | None,
    params: tuple[str, ...],
    output: str,
) -> None:
    """Run ACTION on a resource of APP (e.g. restart a Deployment)."""
    try:
        parsed = parse_params(params)
    except ActionError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, app)
    request = RunResourceActionRequest(
        kind=kind,
        resource_name=resource_name,
        namespace=resource_namespace,
        group=group,
        action=action,
        params=parsed,
        initiated_by=_who(),
    )
    record: ActionRecord = await _update(handle, AppUpdate.RUN_RESOURCE_ACTION, request, ActionRecord)
    if output != "text":
        emit(record, output)
        return
    click.echo(f"action {action} on {record.key.short}: {paint(record.phase)}: {record.message}")


@actions.command("history")
@click.argument("app")
@click.option("--address", envvar="BOSUN_TEMPORAL_ADDRESS", default=None, help="Temporal address host:port.")
@click.option("--temporal-namespace", envvar="BOSUN_NAMESPACE", default=None, help="Temporal namespace.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@run_async
async def history(app: str, address: str | None, temporal_namespace: str | None, output: str) -> None:
    """The last resource actions run on APP: when, who, what, how it ended."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, app)
    records = await handle.query(AppQuery.ACTION_HISTORY, result_type=list[ActionRecord])
    if output != "table":
        emit(records, output)
        return
    rows = [
        [r.at.isoformat() if r.at else "", r.initiated_by, r.action, str(r.key), r.phase, r.message] for r in records
    ]
    click.echo(table(["AT", "BY", "ACTION", "RESOURCE", "PHASE", "MESSAGE"], rows))
