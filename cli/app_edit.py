"""``bosun app set|unset|patch|suspend|resume``: change a running Application.

``set``, ``unset`` and ``patch`` read the app's Application document (the workflow's
``application`` query), change it (:mod:`bosun.app_edits`, with ``argocd app set|unset``'s
flag names), check it with the model (exit code 2 naming the field), and send it with the
``edit_spec`` update: the workflow validates it again and refuses an edit made from a
copy someone changed meanwhile, so the answer (or the error) comes back at once.

An Application declared as a resource in the management cluster (``kubectl apply``, an
app-of-apps) is refused, with the ``kubectl`` command to use instead: discovery keeps the
workflow equal to the resource, so an edit here would be reverted within seconds.

``suspend`` and ``resume`` switch automated sync off and on without touching the spec, as
``flux suspend|resume`` do; unlike Flux, a suspended app is still compared (``app get``,
``app diff`` stay current) and a manual ``bosun app sync`` still runs, as with Argo CD's
automated sync turned off. This works for declared apps too: it is workflow state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from bosun.app_edits import (
    SYNC_POLICIES,
    AppSettings,
    AppUnsettings,
    EditError,
    apply_settings,
    apply_unsettings,
    document_digest,
    json_patch,
    merge_patch,
)
from bosun.models import ModelError, parse_application
from bosun.protocol import AppQuery, AppUpdate, DeclarativeQuery, declarative_workflow_id
from cli.app import (
    EXIT_FAILED,
    EXIT_USAGE,
    CliError,
    _client,
    _running_handle,
    app,
    connection_options,
    run_async,
)
from workflows.declarative import DeclaredApps
from workflows.state import SpecEdit
from workflows.sync import cause_message


def bool_option(name: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A flag with an optional value, as Go's: ``--self-heal``, ``--self-heal=false``; None if not given."""
    return click.option(name, type=click.BOOL, is_flag=False, flag_value=True, default=None, help=help)


async def _declared_resource(client: Client, handle: WorkflowHandle[Any, Any], name: str) -> bool:
    """Whether the app is kept by discovery from an Application resource: it is listed by
    the ``declared`` query of the discovery workflow on the app's task queue."""
    task_queue = (await handle.describe()).task_queue
    discovery = client.get_workflow_handle(declarative_workflow_id(task_queue))
    try:
        declared: DeclaredApps = await discovery.query(
            DeclarativeQuery.DECLARED, result_type=DeclaredApps, rpc_timeout=timedelta(seconds=10)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False  # no discovery on this installation: nothing is declared
        raise CliError(
            f"cannot tell whether {name!r} is declared in the management cluster (no worker answered: {exc.message})",
            EXIT_FAILED,
        ) from None
    return name in declared.apps or name in declared.deleting


async def _edit(name: str, change: Any, address: str | None, temporal_namespace: str | None) -> None:
    """Read the app's document, ``change(document) -> document``, check and send it."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    document: dict[str, Any] = await handle.query(
        AppQuery.APPLICATION, result_type=dict, rpc_timeout=timedelta(seconds=30)
    )
    if await _declared_resource(client, handle, name):
        meta = document.get("metadata") or {}
        namespace = meta.get("namespace") or "bosun"
        short = str(meta.get("name") or name)
        raise CliError(
            f"application {name!r} is declared as a resource in the management cluster "
            f"(Application {namespace}/{short}); Bosun's discovery would undo a change made here. "
            f"Change the resource instead: `kubectl -n {namespace} edit application {short}` or "
            f"`kubectl -n {namespace} patch application {short} --type merge -p '...'`, or in Git "
            f"for an app-of-apps",
            EXIT_USAGE,
        )
    try:
        changed = change(document)
    except EditError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if not isinstance(changed, dict):
        raise CliError("the patched document is not an object", EXIT_USAGE)
    try:
        parse_application(changed, source_name=f"application {name}")
    except ModelError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if changed == document:
        click.echo(f"application {name!r} unchanged")
        return
    try:
        await handle.execute_update(
            AppUpdate.EDIT_SPEC, SpecEdit(application=changed, base_digest=document_digest(document)), result_type=str
        )
    except Exception as exc:  # noqa: BLE001 - rejected by the workflow's validator: say why
        raise CliError(cause_message(exc), EXIT_USAGE) from None
    click.echo(f"application {name!r} updated")


@app.command("set")
@click.argument("name")
@click.option("--repo", help="Git repository URL.")
@click.option("--path", "source_path", help="Path inside the repository.")
@click.option("--revision", help="Branch, tag, HEAD or commit SHA (targetRevision).")
@click.option("--dest-server", help="Cluster API URL (clears --dest-name).")
@click.option("--dest-name", help="Cluster name (clears --dest-server).")
@click.option("--dest-namespace", help="Namespace for resources that set none.")
@click.option("--project")
@click.option("--sync-policy", type=click.Choice(SYNC_POLICIES), help="automated, or none to sync by hand.")
@bool_option("--auto-prune", "With automated sync: delete what Git no longer has (--auto-prune=false: keep).")
@bool_option("--self-heal", "With automated sync: revert changes made in the cluster (--self-heal=false).")
@click.option("--helm-set", multiple=True, metavar="KEY=VALUE", help="A Helm parameter (repeatable).")
@click.option("--helm-set-string", multiple=True, metavar="KEY=VALUE", help="A Helm string parameter.")
@click.option("--values", multiple=True, metavar="FILE", help="A Helm values file in the repository (repeatable).")
@click.option(
    "--values-literal-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A local file whose text becomes the Helm values (helm.values).",
)
@click.option("--release-name", help="Helm release name.")
@click.option(
    "--kustomize-image",
    multiple=True,
    metavar="IMAGE",
    help="A Kustomize image override, replacing one for the same image (repeatable).",
)
@click.option(
    "--sync-option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add or replace a sync option; !KEY removes it (repeatable).",
)
@connection_options
@run_async
async def set_(
    name: str,
    repo: str | None,
    source_path: str | None,
    revision: str | None,
    dest_server: str | None,
    dest_name: str | None,
    dest_namespace: str | None,
    project: str | None,
    sync_policy: str | None,
    auto_prune: bool | None,
    self_heal: bool | None,
    helm_set: tuple[str, ...],
    helm_set_string: tuple[str, ...],
    values: tuple[str, ...],
    values_literal_file: Path | None,
    release_name: str | None,
    kustomize_image: tuple[str, ...],
    sync_option: tuple[str, ...],
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Change an Application's source, destination, sync policy, Helm or Kustomize options.

    \b
    Examples:
      bosun app set web --revision v1.2 --sync-policy automated --self-heal
      bosun app set web --helm-set replicaCount=3 --values values-prod.yaml
      bosun app set web --kustomize-image nginx:1.27 --sync-option '!Prune'
    """
    settings = AppSettings(
        repo=repo,
        path=source_path,
        revision=revision,
        dest_server=dest_server,
        dest_name=dest_name,
        dest_namespace=dest_namespace,
        project=project,
        sync_policy=sync_policy,
        auto_prune=auto_prune,
        self_heal=self_heal,
        helm_set=helm_set,
        helm_set_string=helm_set_string,
        values=values,
        values_literal=values_literal_file.read_text() if values_literal_file else None,
        release_name=release_name,
        kustomize_images=kustomize_image,
        sync_options=sync_option,
    )
    if settings.empty():
        raise CliError("nothing to set: give at least one option (see bosun app set --help)", EXIT_USAGE)
    await _edit(name, lambda doc: apply_settings(doc, settings), address, temporal_namespace)


@app.command("unset")
@click.argument("name")
@click.option("-p", "--parameter", multiple=True, metavar="NAME", help="Remove a Helm parameter (repeatable).")
@click.option("--values", multiple=True, metavar="FILE", help="Remove a Helm values file (repeatable).")
@click.option("--values-literal", is_flag=True, help="Remove the literal Helm values.")
@click.option("--kustomize-image", multiple=True, metavar="NAME", help="Remove the override of this image.")
@click.option("--nameprefix", is_flag=True, help="Remove the Kustomize namePrefix.")
@click.option("--namesuffix", is_flag=True, help="Remove the Kustomize nameSuffix.")
@connection_options
@run_async
async def unset(
    name: str,
    parameter: tuple[str, ...],
    values: tuple[str, ...],
    values_literal: bool,
    kustomize_image: tuple[str, ...],
    nameprefix: bool,
    namesuffix: bool,
    address: str | None,
    temporal_namespace: str | None,
) -> None:
    """Remove Helm parameters, values or Kustomize overrides from an Application.

    \b
    Examples:
      bosun app unset web -p replicaCount --values values-prod.yaml
      bosun app unset web --kustomize-image nginx
    """
    unsettings = AppUnsettings(
        parameters=parameter,
        values=values,
        values_literal=values_literal,
        kustomize_images=kustomize_image,
        nameprefix=nameprefix,
        namesuffix=namesuffix,
    )
    if unsettings.empty():
        raise CliError("nothing to unset: give at least one option (see bosun app unset --help)", EXIT_USAGE)
    await _edit(name, lambda doc: apply_unsettings(doc, unsettings), address, temporal_namespace)


@app.command("patch")
@click.argument("name")
@click.option("--patch", "patch_text", required=True, help="The patch, as JSON.")
@click.option(
    "--type",
    "patch_type",
    type=click.Choice(["merge", "json"]),
    default="merge",
    show_default=True,
    help="merge: a JSON merge patch (RFC 7386); json: a JSON patch (RFC 6902).",
)
@connection_options
@run_async
async def patch(
    name: str, patch_text: str, patch_type: str, address: str | None, temporal_namespace: str | None
) -> None:
    """Patch an Application document (metadata.labels, spec …), as `argocd app patch`.

    \b
    Examples:
      bosun app patch web --patch '{"metadata": {"labels": {"team": "web"}}}'
      bosun app patch web --type json --patch '[{"op": "replace", "path": "/spec/source/path", "value": "v2"}]'
    """
    try:
        parsed = json.loads(patch_text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--patch: not valid JSON: {exc}", EXIT_USAGE) from None
    if patch_type == "merge" and not isinstance(parsed, dict):
        raise CliError("--patch: a merge patch is a JSON object", EXIT_USAGE)
    apply = merge_patch if patch_type == "merge" else json_patch
    await _edit(name, lambda doc: apply(doc, parsed), address, temporal_namespace)


@app.command("suspend")
@click.argument("name")
@connection_options
@run_async
async def suspend(name: str, address: str | None, temporal_namespace: str | None) -> None:
    """Stop automated sync (and a bosun.dev/sync-schedule) until `bosun app resume`.

    The app is still compared with Git and the cluster, and `bosun app sync` still syncs it.
    """
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    click.echo(await handle.execute_update(AppUpdate.SUSPEND, result_type=str))


@app.command("resume")
@click.argument("name")
@connection_options
@run_async
async def resume(name: str, address: str | None, temporal_namespace: str | None) -> None:
    """Turn automated sync back on after `bosun app suspend` (and compare now)."""
    client = await _client(address, temporal_namespace)
    handle = await _running_handle(client, name)
    click.echo(await handle.execute_update(AppUpdate.RESUME, result_type=str))
