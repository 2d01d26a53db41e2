"""``bosun cluster``: destination clusters, as Argo CD keeps them.

``add`` reads a context from a local kubeconfig (``--kubeconfig``, else the first file of
``KUBECONFIG``, else ``~/.kube/config``) and writes it as a Secret labelled
``argocd.argoproj.io/secret-type: cluster`` into the management cluster; ``list`` and ``rm``
read and delete those Secrets (:mod:`activities.clusters`). The worker reads them there;
they never pass through Temporal.

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
from typing import Any

import click
from pydantic import BaseModel

from activities.clusters import (
    ClusterConfigError,
    ClusterEntry,
    ClusterSecrets,
    cluster_from_kubeconfig,
    secret_manifest,
    secret_name,
)
from bosun.cli.app import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, CliError
from bosun.cli.management import handle_errors, management_secrets, secrets_namespace_option
from bosun.cli.output import emit, table
from bosun.models import IN_CLUSTER_NAME, IN_CLUSTER_SERVER


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
    return ClusterView(name=entry.name, server=entry.server, auth=entry.auth, namespaces=list(entry.namespaces),
                       project=entry.project, insecure=entry.insecure, secret=entry.secret)


def source_kubeconfig(flag: str | None) -> Path:
    """The kubeconfig ``add`` reads from: flag, KUBECONFIG, default (never BOSUN_KUBECONFIG)."""
    for value in (flag, os.environ.get("KUBECONFIG")):
        first = next((p for p in (value or "").split(os.pathsep) if p), None)
        if first:
            return Path(first).expanduser()
    return Path.home() / ".kube" / "config"


def _management_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = secrets_namespace_option("cluster")(fn)
    fn = click.option("--management-context", default=None,
                      help="Context of the management kubeconfig (default: its current context).")(fn)
    return click.option("--management-kubeconfig", default=None,
                        help="The management cluster's kubeconfig (env BOSUN_KUBECONFIG, "
                             "KUBECONFIG).")(fn)


def _secrets(kubeconfig: str | None, context: str | None, namespace: str) -> ClusterSecrets:
    return management_secrets(ClusterSecrets, kubeconfig, context, namespace, flag="--management-kubeconfig")


@click.group()
def cluster() -> None:
    """Destination clusters (Argo CD's cluster Secrets)."""


@cluster.command("add")
@click.argument("context")
@click.option("--name", default="", help="The cluster's name in Applications' destination.name "
                                         "(default: CONTEXT).")
@click.option("--kubeconfig", default=None,
              help="The kubeconfig holding CONTEXT (default: KUBECONFIG, else ~/.kube/config).")
@click.option("--namespace", "namespaces", multiple=True,
              help="Only these namespaces may be deployed to (repeatable; default: all).")
@click.option("--project", default="", help="The AppProject the cluster belongs to.")
@click.option("--upsert", is_flag=True, help="Replace the Secret if it exists.")
@_management_options
@handle_errors
def add(context: str, name: str, kubeconfig: str | None, namespaces: tuple[str, ...], project: str,
        upsert: bool, management_kubeconfig: str | None, management_context: str | None,
        secrets_namespace: str) -> None:
    """Register the cluster of kubeconfig context CONTEXT as a deployment destination.

    \b
    Example:
      bosun cluster add kind-staging --name staging --namespace web --namespace api
    """
    source = source_kubeconfig(kubeconfig)
    if not source.is_file():
        raise CliError(f"kubeconfig {source} not found (use --kubeconfig or KUBECONFIG)", EXIT_USAGE)
    try:
        entry = cluster_from_kubeconfig(source, context, name=name.strip())
        secret_name(entry.server)  # a server that is no URL fails here, before any API call
    except ClusterConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if entry.name == IN_CLUSTER_NAME or entry.server == IN_CLUSTER_SERVER:
        raise CliError(f"{IN_CLUSTER_NAME} and {IN_CLUSTER_SERVER} are reserved for the cluster the worker "
                       "runs in; use --name, and a server URL the worker can reach", EXIT_USAGE)
    ns = sorted({n.strip() for spec in namespaces for n in spec.split(",") if n.strip()})
    entry = replace(entry, namespaces=tuple(ns), project=project.strip())
    store = _secrets(management_kubeconfig, management_context, secrets_namespace)
    existing = store.list().entries
    clash = next((e for e in existing if e.name == entry.name and e.server != entry.server), None)
    if clash is not None:
        raise CliError(f"a cluster named {entry.name!r} exists already ({clash.server}, Secret "
                       f"{store.namespace}/{clash.secret}); choose another --name", EXIT_FAILED)
    # One Secret per server, as Argo CD: one written by someone else is the one to replace.
    same_server = next((e for e in existing if e.server == entry.server), None)
    if same_server is not None:
        entry = replace(entry, secret=same_server.secret)
    manifest = secret_manifest(entry, namespace=store.namespace)
    secret = manifest["metadata"]["name"]
    store.ensure_namespace()
    replaced = store.put(manifest, upsert=upsert)
    click.echo(f"cluster {entry.describe()} {'updated' if replaced else 'added'} "
               f"(Secret {store.namespace}/{secret})")


@cluster.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@_management_options
@handle_errors
def list_clusters(output: str, management_kubeconfig: str | None, management_context: str | None,
                  secrets_namespace: str) -> None:
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
@_management_options
@handle_errors
def rm(name: str, management_kubeconfig: str | None, management_context: str | None,
       secrets_namespace: str) -> None:
    """Remove a destination cluster, by name, server URL or Secret name."""
    store = _secrets(management_kubeconfig, management_context, secrets_namespace)
    snapshot = store.list()
    wanted = name.strip().rstrip("/")
    secrets = sorted({e.secret for e in snapshot.entries if wanted in (e.name, e.server, e.secret)}
                     | {secret for secret, _message in snapshot.errors if secret == wanted})
    if not secrets:
        raise CliError(f"no cluster {name} in namespace {store.namespace}", EXIT_NOT_FOUND)
    for secret in secrets:
        store.delete(secret)
        click.echo(f"removed {name} (Secret {store.namespace}/{secret})")
