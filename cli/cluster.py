"""``bosun cluster``: destination clusters, as Argo CD keeps them.

``add`` connects with a context of local kubeconfig files (``--kubeconfig``, else ``KUBECONFIG``,
merged as kubectl merges them, else ``~/.kube/config``; any user the kubernetes library supports,
``exec`` plugins included), installs Argo CD's ``argocd-manager`` as ``bosun-manager`` there
(:mod:`activities.clustermanager`: ServiceAccount, ClusterRole or per-namespace Roles, token
Secret) and writes that token as a Secret labelled ``argocd.argoproj.io/secret-type: cluster``
into the management cluster. ``--service-account`` uses an existing ServiceAccount's token
instead (Argo CD's flag), ``--use-own-credentials`` stores the context's own token, client
certificate or basic auth (an ``exec`` context is refused: what it yields expires). The Secret
records the installed ServiceAccount and the context (annotations ``bosun.dev/manager``,
``bosun.dev/manager-context``) so that ``rm`` removes bosun-manager again through that context
(its own token cannot delete itself). ``list`` and ``rm`` read and delete those Secrets
(:mod:`activities.clusters`). The worker reads them there; they never pass through Temporal.

The management cluster is another kubeconfig, as for ``bosun repo``:
``--management-kubeconfig``, else the first file of ``BOSUN_KUBECONFIG``, else
``KUBECONFIG``, else ``~/.kube/config`` (its current context, or ``--management-context``);
the Secrets go to namespace ``bosun`` (``--secrets-namespace`` /
``BOSUN_CONTROL_NAMESPACE`` / ``BOSUN_SECRETS_NAMESPACE``, as the worker).

``in-cluster`` and ``https://kubernetes.default.svc`` are reserved: they name the cluster
the worker runs in. ``list`` never prints a token, password or key.

Exit codes: 0 success; 1 the operation failed; 2 bad input; 3 no such cluster;
5 the management cluster is unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel

from activities.clustermanager import SYSTEM_NAMESPACE
from activities.clusters import (
    ClusterConfigError,
    ClusterEntry,
    ClusterSecrets,
    cluster_endpoint,
    cluster_from_kubeconfig,
    secret_manifest,
    secret_name,
)
from bosun.models import IN_CLUSTER_NAME, IN_CLUSTER_SERVER
from bosun.paths import default_kubeconfig
from cli.app import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, CliError
from cli.management import handle_errors, management_secrets, secrets_namespace_option
from cli.output import emit, table

if TYPE_CHECKING:  # the kubernetes library loads only for the commands that talk to a cluster
    from activities.kubeaccess import KubeconfigAccess


class ClusterView(BaseModel):
    """What ``bosun cluster list -o json`` prints for one Secret: never a credential."""

    name: str
    server: str
    auth: str
    namespaces: list[str] = []
    project: str = ""
    insecure: bool = False
    secret: str


def _view(entry: ClusterEntry) -> ClusterView:
    return ClusterView(
        name=entry.name,
        server=entry.server,
        auth=entry.auth,
        namespaces=list(entry.namespaces),
        project=entry.project,
        insecure=entry.insecure,
        secret=entry.secret,
    )


def source_kubeconfigs(flag: str | None) -> list[Path]:
    """The kubeconfig files ``add`` reads from, merged: flag, KUBECONFIG, default (never BOSUN_KUBECONFIG)."""
    from activities.kubeaccess import kubeconfig_files

    return kubeconfig_files(flag) or kubeconfig_files(os.environ.get("KUBECONFIG")) or [default_kubeconfig()]


def _management_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = secrets_namespace_option("cluster")(fn)
    fn = click.option(
        "--management-context",
        default=None,
        help="Context of the management kubeconfig (default: its current context).",
    )(fn)
    return click.option(
        "--management-kubeconfig",
        default=None,
        help="The management cluster's kubeconfig (env BOSUN_KUBECONFIG, KUBECONFIG).",
    )(fn)


def _secrets(kubeconfig: str | None, context: str | None, namespace: str) -> ClusterSecrets:
    return management_secrets(ClusterSecrets, kubeconfig, context, namespace, flag="--management-kubeconfig")


@click.group()
def cluster() -> None:
    """Destination clusters (Argo CD's cluster Secrets)."""


@cluster.command("add")
@click.argument("context")
@click.option("--name", default="", help="The cluster's name in Applications' destination.name (default: CONTEXT).")
@click.option(
    "--kubeconfig",
    default=None,
    help="The kubeconfig holding CONTEXT (default: KUBECONFIG, its files merged, else ~/.kube/config).",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="Only these namespaces may be deployed to (repeatable; default: all); bosun-manager then gets "
    "Roles in these namespaces only.",
)
@click.option("--project", default="", help="The AppProject the cluster belongs to.")
@click.option("--upsert", is_flag=True, help="Replace the Secret if it exists.")
@click.option(
    "--service-account",
    default="",
    help="Use this existing ServiceAccount of --system-namespace (its token) instead of installing bosun-manager.",
)
@click.option(
    "--system-namespace", default=SYSTEM_NAMESPACE, show_default=True, help="Where bosun-manager is installed."
)
@click.option(
    "--use-own-credentials",
    is_flag=True,
    help="Store CONTEXT's own credentials (token, client certificate, basic auth) instead of a "
    "bosun-manager token; exec-based contexts cannot be stored.",
)
@_management_options
@handle_errors
def add(
    context: str,
    name: str,
    kubeconfig: str | None,
    namespaces: tuple[str, ...],
    project: str,
    upsert: bool,
    service_account: str,
    system_namespace: str,
    use_own_credentials: bool,
    management_kubeconfig: str | None,
    management_context: str | None,
    secrets_namespace: str,
) -> None:
    """Register the cluster of kubeconfig context CONTEXT as a deployment destination.

    As ``argocd cluster add``: by default a ``bosun-manager`` ServiceAccount with a ClusterRole
    (or, with --namespace, Roles in those namespaces) and a token Secret is installed in
    --system-namespace of that cluster, and its token is stored, not your own credentials.

    \b
    Example:
      bosun cluster add kind-staging --name staging --namespace web --namespace api
    """
    from activities.kubeaccess import KubeconfigAccess

    files = source_kubeconfigs(kubeconfig)
    if not any(f.is_file() for f in files):
        raise CliError(
            f"kubeconfig {os.pathsep.join(map(str, files))} not found (use --kubeconfig or KUBECONFIG)", EXIT_USAGE
        )
    if use_own_credentials and service_account:
        raise CliError("--use-own-credentials and --service-account exclude each other", EXIT_USAGE)
    try:
        # A server that is no URL, an unknown context, an exec user with --use-own-credentials:
        # all fail here, before any API call.
        entry = cluster_from_kubeconfig(files, context, name=name.strip()) if use_own_credentials else None
        target = KubeconfigAccess.of(files, context)
        endpoint = entry or cluster_endpoint(target, context, name=name.strip())
        secret_name(endpoint.server)
    except ClusterConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if endpoint.name == IN_CLUSTER_NAME or endpoint.server == IN_CLUSTER_SERVER:
        raise CliError(
            f"{IN_CLUSTER_NAME} and {IN_CLUSTER_SERVER} are reserved for the cluster the worker "
            "runs in; use --name, and a server URL the worker can reach",
            EXIT_USAGE,
        )
    ns = sorted({n.strip() for spec in namespaces for n in spec.split(",") if n.strip()})
    store = _secrets(management_kubeconfig, management_context, secrets_namespace)
    existing = store.list().entries
    clash = next((e for e in existing if e.name == endpoint.name and e.server != endpoint.server), None)
    if clash is not None:
        raise CliError(
            f"a cluster named {endpoint.name!r} exists already ({clash.server}, Secret "
            f"{store.namespace}/{clash.secret}); choose another --name",
            EXIT_FAILED,
        )
    # One Secret per server, as Argo CD: one written by someone else is the one to replace.
    same_server = next((e for e in existing if e.server == endpoint.server), None)
    if same_server is not None and not upsert:
        raise CliError(
            f"Secret {store.namespace}/{same_server.secret} exists (use --upsert to replace it)", EXIT_FAILED
        )
    if entry is None:
        entry = _with_manager_token(endpoint, target, ns, service_account=service_account, system=system_namespace)
    entry = replace(entry, namespaces=tuple(ns), project=project.strip())
    if same_server is not None:
        entry = replace(entry, secret=same_server.secret)
    manifest = secret_manifest(entry, namespace=store.namespace)
    secret = manifest["metadata"]["name"]
    store.ensure_namespace()
    replaced = store.put(manifest, upsert=upsert)
    click.echo(f"cluster {entry.describe()} {'updated' if replaced else 'added'} (Secret {store.namespace}/{secret})")


def _with_manager_token(
    endpoint: ClusterEntry, target: KubeconfigAccess, namespaces: list[str], *, service_account: str, system: str
) -> ClusterEntry:
    """``endpoint`` with the token of bosun-manager, installed now (or of ``service_account``)."""
    from activities.clustermanager import MANAGER_ROLE, MANAGER_SERVICE_ACCOUNT, ClusterManager, ClusterManagerError
    from activities.kubeaccess import KubeAccessError

    try:
        manager = ClusterManager(target.api_client(), system_namespace=system)
        if service_account:
            token = manager.token(service_account)
        else:
            token = manager.install(namespaces)
            click.echo(
                f"installed ServiceAccount {system}/{MANAGER_SERVICE_ACCOUNT} with "
                + (f"Roles in {', '.join(namespaces)}" if namespaces else f"ClusterRole {MANAGER_ROLE}"),
                err=True,
            )
    except (KubeAccessError, ClusterManagerError) as exc:
        raise CliError(f"cluster {endpoint.describe()}: {exc}", EXIT_FAILED) from None
    return replace(
        endpoint,
        bearer_token=token.token,
        ca_data=endpoint.ca_data or token.ca_data,
        manager="" if service_account else f"{system}/{MANAGER_SERVICE_ACCOUNT}",
        manager_context="" if service_account else target.current_context(),
    )


@cluster.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@_management_options
@handle_errors
def list_clusters(
    output: str, management_kubeconfig: str | None, management_context: str | None, secrets_namespace: str
) -> None:
    """List destination clusters (never their credentials)."""
    snapshot = _secrets(management_kubeconfig, management_context, secrets_namespace).list()
    for _secret, message in snapshot.errors:
        click.echo(f"warning: {message}", err=True)
    views = [_view(e) for e in snapshot.entries]
    if output != "table":
        emit(views, output)
        return
    rows = [[v.name, v.server, v.auth, v.secret] for v in views]
    click.echo(table(["NAME", "SERVER", "AUTH", "SECRET"], rows))


@cluster.command("rm")
@click.argument("name")
@click.option(
    "--kubeconfig",
    default=None,
    help="The kubeconfig to remove bosun-manager with (default: KUBECONFIG, else ~/.kube/config).",
)
@click.option(
    "--context",
    default=None,
    help="Its context reaching the cluster (default: the one `cluster add` installed bosun-manager from).",
)
@click.option("--keep-manager", is_flag=True, help="Remove only the Secret; leave bosun-manager in the cluster.")
@_management_options
@handle_errors
def rm(
    name: str,
    kubeconfig: str | None,
    context: str | None,
    keep_manager: bool,
    management_kubeconfig: str | None,
    management_context: str | None,
    secrets_namespace: str,
) -> None:
    """Remove a destination cluster, by name, server URL or Secret name, and the bosun-manager
    ServiceAccount, roles and token that ``cluster add`` installed there (as ``argocd cluster rm``)."""
    from activities.clustermanager import ClusterManager, ClusterManagerError
    from activities.kubeaccess import KubeAccessError

    store = _secrets(management_kubeconfig, management_context, secrets_namespace)
    snapshot = store.list()
    wanted = name.strip().rstrip("/")
    entries = [e for e in snapshot.entries if wanted in (e.name, e.server, e.secret)]
    secrets = sorted({e.secret for e in entries} | {secret for secret, _message in snapshot.errors if secret == wanted})
    if not secrets:
        raise CliError(f"no cluster {name} in namespace {store.namespace}", EXIT_NOT_FOUND)
    managed = [] if keep_manager else [e for e in entries if e.manager]
    managers = [(e, _manager_access(e, kubeconfig, context)) for e in managed]  # every context known first
    for entry, target in managers:
        system, _, _account = entry.manager.partition("/")
        try:
            removed = ClusterManager(target.api_client(), system_namespace=system).uninstall(entry.namespaces)
        except (KubeAccessError, ClusterManagerError) as exc:
            raise CliError(
                f"cluster {entry.describe()}: {exc} (its Secret is kept; --keep-manager removes only the Secret)",
                EXIT_FAILED,
            ) from None
        click.echo(f"removed from {entry.describe()}: {', '.join(removed) or 'nothing (already gone)'}")
    for secret in secrets:
        store.delete(secret)
        click.echo(f"removed {name} (Secret {store.namespace}/{secret})")


def _manager_access(entry: ClusterEntry, kubeconfig: str | None, context: str | None) -> KubeconfigAccess:
    """The operator's context for removing ``entry``'s bosun-manager (its own token cannot remove itself)."""
    from activities.kubeaccess import KubeAccessError, KubeconfigAccess

    files = source_kubeconfigs(kubeconfig)
    wanted = context or entry.manager_context or entry.name
    try:
        access = KubeconfigAccess.of(files, wanted)
        contexts = dict(access.contexts())
    except KubeAccessError as exc:
        contexts, problem = {}, str(exc)
    else:
        problem = f"{', '.join(map(str, files))} has no context {wanted!r}"
    if wanted not in contexts:
        raise CliError(
            f"cluster {entry.describe()} has bosun-manager ({entry.manager}) installed from context {wanted!r}, "
            f"but {problem}: give --kubeconfig/--context reaching {entry.server}, or --keep-manager",
            EXIT_USAGE,
        )
    if contexts[wanted].rstrip("/") != entry.server:
        raise CliError(
            f"context {wanted!r} reaches {contexts[wanted]}, not {entry.server} (cluster {entry.name}): "
            "give the --context that reaches it, or --keep-manager",
            EXIT_USAGE,
        )
    return access
