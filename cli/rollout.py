"""``bosun rollout list|get|promote|abort|retry|pause|resume``: Argo Rollouts' verbs on
Bosun's RolloutWorkflows.

Each Rollout a Bosun app deploys is driven by a RolloutWorkflow whose id names it
(:func:`bosun.protocol.rollout_workflow_id`: cluster, namespace, name). The commands are
thin Temporal calls, like ``bosun app``'s:

- ``list``: Temporal visibility, workflows of type RolloutWorkflow, with the search
  attributes the workflow keeps (``BosunRolloutPhase``, ``BosunRolloutStep``, ``BosunApp``);
  it works while no worker runs.
- ``get``: the ``describe`` query (:class:`bosun.rollouts.view.RolloutDescription`),
  rendered by :mod:`cli.rollout_render`; ``--watch`` polls it and prints each change.
- ``promote [--full]``, ``abort``, ``retry``, ``pause``, ``resume``: the updates of
  :class:`bosun.protocol.RolloutUpdate`, each a :class:`RolloutCommand` whose ``who`` is
  the OS user (as ``bosun app actions run`` records it); the workflow answers once the
  command took effect, and a refusal (``accepted: false``) exits 1 with its message.

Which workflow: NAME in ``-n`` (default ``default``) on ``--cluster`` (default
``in-cluster``); or ``--app APP``: the Rollout NAME among the app's resources, on
whichever cluster its RolloutWorkflow runs. Exit codes as ``bosun app``'s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from bosun import search_attributes as sa
from bosun.protocol import (
    RolloutCommand,
    RolloutCommandResult,
    RolloutQuery,
    RolloutRef,
    RolloutUpdate,
    WorkflowType,
    rollout_ref_of,
)
from bosun.rollouts.view import RolloutDescription
from cli.app import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CliError,
    _client,
    _running_handle,
    _status,
    run_async,
)
from cli.app_actions import _update, _who
from cli.output import emit, paint
from cli.rollout_render import RolloutRow, render_description, render_list

DEFAULT_CLUSTER = "in-cluster"
DEFAULT_NAMESPACE = "default"
ROLLOUT_GROUP = "argoproj.io"
QUERY_TIMEOUT = 10.0


@click.group("rollout")
def rollout() -> None:
    """Drive Argo Rollouts (canary, blue-green) that Bosun's RolloutWorkflows run."""


def _connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--address`` and ``--temporal-namespace``: ``-n/--namespace`` is the Rollout's, as in
    ``kubectl argo rollouts`` (and in ``bosun app actions``)."""
    fn = click.option(
        "--temporal-namespace",
        envvar="BOSUN_NAMESPACE",
        default=None,
        help="Temporal namespace (env BOSUN_NAMESPACE, TEMPORAL_NAMESPACE).",
    )(fn)
    return click.option(
        "--address",
        envvar="BOSUN_TEMPORAL_ADDRESS",
        default=None,
        help="Temporal address host:port (env BOSUN_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS).",
    )(fn)


def _target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "-n", "--namespace", "namespace", default=None, help="The Rollout's namespace [default: default]."
            ),
            click.option(
                "--cluster", default=None, help=f"The destination cluster's name [default: {DEFAULT_CLUSTER}]."
            ),
            click.option("--app", default=None, help="Find the Rollout among this Bosun app's resources."),
        ]
    ):
        fn = option(fn)
    return fn


# ------------------------------------------------------------------------- finding the workflow


async def list_rollouts(client: Client) -> list[RolloutRow]:
    """Every running RolloutWorkflow, from visibility (no query: works without a worker)."""
    rows = []
    query = f"WorkflowType = '{WorkflowType.ROLLOUT}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        ref = rollout_ref_of(execution.id)
        if ref is None:
            continue
        attributes = {pair.key.name: pair.value for pair in execution.typed_search_attributes}
        step = attributes.get(sa.ROLLOUT_STEP)
        rows.append(
            RolloutRow(
                workflow_id=execution.id,
                cluster=ref.cluster,
                namespace=ref.namespace,
                name=ref.name,
                app=str(attributes.get(sa.APP) or ""),
                phase=str(attributes.get(sa.ROLLOUT_PHASE) or ""),
                step=int(step) if step is not None else None,
            )
        )
    return rows


async def resolve(
    client: Client, name: str, namespace: str | None, cluster: str | None, app: str | None
) -> WorkflowHandle[Any, Any]:
    """The running RolloutWorkflow of Rollout NAME; CliError (exit 3) when there is none."""
    if app:
        return await _resolve_in_app(client, name, namespace, cluster, app)
    ref = RolloutRef(cluster=cluster or DEFAULT_CLUSTER, namespace=namespace or DEFAULT_NAMESPACE, name=name)
    return await _running(client, ref)


async def _running(client: Client, ref: RolloutRef) -> WorkflowHandle[Any, Any]:
    what = f"rollout {ref.namespace}/{ref.name} on cluster {ref.cluster}"
    handle = client.get_workflow_handle(ref.workflow_id())
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"{what} not found (no workflow {ref.workflow_id()})", EXIT_NOT_FOUND) from None
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise CliError(f"{what} not found (its workflow {ref.workflow_id()} has ended)", EXIT_NOT_FOUND)
    return handle


async def _resolve_in_app(
    client: Client, name: str, namespace: str | None, cluster: str | None, app: str
) -> WorkflowHandle[Any, Any]:
    status = await _status(await _running_handle(client, app))
    found = [
        r.key
        for r in status.resources
        if r.key.group == ROLLOUT_GROUP
        and r.key.kind == "Rollout"
        and r.key.name == name
        and (namespace is None or r.key.namespace == namespace)
    ]
    if not found:
        where = f" in namespace {namespace}" if namespace else ""
        raise CliError(f"application {app!r} has no Rollout {name!r}{where}", EXIT_NOT_FOUND)
    if len(found) > 1:
        namespaces = ", ".join(sorted(k.namespace for k in found))
        raise CliError(f"application {app!r} has a Rollout {name!r} in {namespaces}: say which with -n", EXIT_USAGE)
    key = found[0]
    rows = [
        row
        for row in await list_rollouts(client)
        if row.namespace == key.namespace and row.name == name and (cluster is None or row.cluster == cluster)
    ]
    if len(rows) > 1:  # the same Rollout on several clusters: the one this app deploys
        rows = [row for row in rows if row.app == app] or rows
    if not rows:
        raise CliError(
            f"application {app!r} deploys Rollout {key.namespace}/{name}, but no RolloutWorkflow runs for it",
            EXIT_NOT_FOUND,
        )
    if len(rows) > 1:
        clusters = ", ".join(row.cluster for row in rows)
        raise CliError(
            f"Rollout {key.namespace}/{name} runs on clusters {clusters}: say which with --cluster", EXIT_USAGE
        )
    return await _running(client, RolloutRef(cluster=rows[0].cluster, namespace=key.namespace, name=name))


async def describe(handle: WorkflowHandle[Any, Any]) -> RolloutDescription:
    try:
        result: RolloutDescription = await handle.query(
            RolloutQuery.DESCRIBE, result_type=RolloutDescription, rpc_timeout=timedelta(seconds=QUERY_TIMEOUT)
        )
    except RPCError as exc:
        raise CliError(f"{handle.id} did not answer (is a Bosun worker running?): {exc.message}", EXIT_FAILED) from None
    return result


# ------------------------------------------------------------------------- list / get


@rollout.command("list")
@click.option("--app", default=None, help="Only the Rollouts of this Bosun app.")
@click.option("-n", "--namespace", "namespace", default=None, help="Only Rollouts in this namespace.")
@click.option("--cluster", default=None, help="Only Rollouts on this destination cluster.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@_connection_options
@run_async
async def list_cmd(
    app: str | None,
    namespace: str | None,
    cluster: str | None,
    output: str,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """List the Rollouts Bosun drives, with their status and step."""
    client = await _client(address, temporal_namespace)
    rows = [
        row
        for row in await list_rollouts(client)
        if (app is None or row.app == app)
        and (namespace is None or row.namespace == namespace)
        and (cluster is None or row.cluster == cluster)
    ]
    if output != "table":
        emit([row.as_dict() for row in rows], output)
        return
    click.echo(render_list(rows) if rows else "No rollouts found.")


@rollout.command("get")
@click.argument("name")
@_target_options
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@click.option("-w", "--watch", is_flag=True, help="Keep showing the rollout as it changes (Ctrl-C ends).")
@click.option("--timeout", type=float, default=0.0, help="With --watch: stop after this many seconds (0: never).")
@_connection_options
@run_async
async def get(
    name: str,
    namespace: str | None,
    cluster: str | None,
    app: str | None,
    output: str,
    watch: bool,
    timeout: float,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Show a rollout like `kubectl argo rollouts get rollout`: status, strategy, step, weights,
    images, the steps, its ReplicaSets and AnalysisRuns.

    \b
    Examples:
      bosun rollout get canary-demo
      bosun rollout get canary-demo -n shop --cluster prod -w
      bosun rollout get canary-demo --app shop -o json
    """
    client = await _client(address, temporal_namespace)
    handle = await resolve(client, name, namespace, cluster, app)
    if not watch:
        _show(await describe(handle), output)
        return
    deadline = time.monotonic() + timeout if timeout > 0 else None
    shown, warned = "", ""
    while deadline is None or time.monotonic() < deadline:
        try:
            description = await describe(handle)
        except CliError as exc:  # a restarting worker: say so once, keep watching
            if warned != str(exc):
                click.echo(f"warning: {exc}", err=True)
                warned = str(exc)
        else:
            current = description.model_dump_json()
            if current != shown:
                if shown:
                    _separate(output)
                _show(description, output)
                shown, warned = current, ""
        await asyncio.sleep(1.0)


def _separate(output: str) -> None:
    """Between two states: a clear screen on a terminal, a rule in a pipe (``---`` in yaml)."""
    if output == "text" and sys.stdout.isatty():
        click.clear()
    else:
        click.echo("---" if output != "json" else "")


def _show(description: RolloutDescription, output: str) -> None:
    if output == "text":
        click.echo(render_description(description))
    else:
        emit(description, output)


# ------------------------------------------------------------------------- commands


def _command(update: str, summary: str, *, full_flag: bool = False) -> Callable[..., Any]:
    """A command that sends the ``update`` with a RolloutCommand and prints its result."""

    @_target_options
    @click.option("--reason", default="", help="Why (recorded in the workflow's history with who).")
    @click.option("--timeout", type=float, default=300.0, show_default=True, help="How long to wait for the answer.")
    @click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
    @_connection_options
    @run_async
    async def command(
        name: str,
        namespace: str | None,
        cluster: str | None,
        app: str | None,
        reason: str,
        timeout: float,
        output: str,
        address: str | None,
        temporal_namespace: str | None,
        full: bool = False,
    ) -> None:
        client = await _client(address, temporal_namespace)
        handle = await resolve(client, name, namespace, cluster, app)
        request = RolloutCommand(full=full, who=_who(), reason=reason)
        try:
            result: RolloutCommandResult = await asyncio.wait_for(
                _update(handle, update, request, RolloutCommandResult), timeout=timeout
            )
        except TimeoutError:
            raise CliError(f"{update} {name}: no answer within {timeout:.0f}s", EXIT_TIMEOUT) from None
        except CliError as exc:  # the workflow rejected the update: its reason
            raise CliError(f"{update} {name} rejected: {exc}", exc.code) from None
        if output != "text":
            emit(result, output)
        else:
            click.echo(result_text(name, update + (" --full" if full else ""), result))
        if not result.accepted:
            raise SystemExit(EXIT_FAILED)

    command.__doc__ = summary
    if full_flag:
        command = click.option("--full", is_flag=True, help="Skip the remaining steps, pauses and analyses.")(command)
    return rollout.command(update)(click.argument("name")(command))


def result_text(name: str, verb: str, result: RolloutCommandResult) -> str:
    """``rollout 'x' promoted: Progressing, step 2`` or ``rollout 'x' promote refused: why``."""
    if not result.accepted:
        return f"rollout {name!r} {verb} refused: {result.message or 'no reason given'}"
    where = ", ".join(
        part
        for part in (
            paint(result.phase) if result.phase else "",
            f"step {result.current_step_index}" if result.current_step_index is not None else "",
        )
        if part
    )
    text = f"rollout {name!r} {verb}: accepted"
    if where:
        text += f" ({where})"
    return text + (f": {result.message}" if result.message else "")


promote = _command(
    RolloutUpdate.PROMOTE,
    "Promote a paused rollout to its next step (--full: to the end, skipping steps and analysis).",
    full_flag=True,
)
abort = _command(RolloutUpdate.ABORT, "Abort a rollout: the stable ReplicaSet back to full, the canary down; Degraded.")
retry = _command(RolloutUpdate.RETRY, "Retry an aborted rollout: run its steps again from the first.")
pause = _command(RolloutUpdate.PAUSE, "Pause a rollout where it is (spec.paused), until resume.")
resume = _command(RolloutUpdate.RESUME, "Resume a paused rollout.")
