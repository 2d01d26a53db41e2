"""What ``bosun repo`` and ``bosun cluster`` share: finding the management cluster, the
control namespace option, and turning its failures into exit codes.

The management cluster is a flag's kubeconfig, else found as the worker finds it
(:func:`activities.kubeaccess.management_access`: ``BOSUN_KUBECONFIG``, ``KUBECONFIG``, the
pod's ServiceAccount, ``~/.kube/config``; several files merged as kubectl merges them).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from activities.management import DEFAULT_NAMESPACE, ManagementError, ManagementSecrets
from cli.app import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, CliError

if TYPE_CHECKING:
    from activities.kubeaccess import KubeAccess

S = TypeVar("S", bound=ManagementSecrets)


def management_cluster(kubeconfig: str | None, context: str | None, *, flag: str) -> KubeAccess:
    """The management cluster: the ``flag``'s kubeconfig files, else as the worker finds it
    (BOSUN_KUBECONFIG, KUBECONFIG, the pod's ServiceAccount, ~/.kube/config; all files merged)."""
    from activities.kubeaccess import KubeconfigAccess, kubeconfig_files, management_access

    access = KubeconfigAccess.of(kubeconfig_files(kubeconfig)) if kubeconfig else management_access()
    if isinstance(access, KubeconfigAccess):
        if not any(path.is_file() for path in access.files):
            where = os.pathsep.join(str(p) for p in access.files)
            raise CliError(f"kubeconfig {where} not found (use {flag} or BOSUN_KUBECONFIG)", EXIT_USAGE)
        if context:
            access = access.with_context(context)
    return access


def management_secrets(kind: type[S], kubeconfig: str | None, context: str | None, namespace: str, *, flag: str) -> S:
    """``kind`` (RepoSecrets, ClusterSecrets) for the management cluster; ``flag`` names the
    option that sets its kubeconfig, for the error message."""
    return kind(management_cluster(kubeconfig, context, flag=flag), namespace=namespace)


def secrets_namespace_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--secrets-namespace",
        envvar=["BOSUN_CONTROL_NAMESPACE", "BOSUN_SECRETS_NAMESPACE"],
        default=DEFAULT_NAMESPACE,
        show_default=True,
        help=f"Namespace of the {what} Secrets, as the worker's (env BOSUN_CONTROL_NAMESPACE, "
        "BOSUN_SECRETS_NAMESPACE).",
    )


def handle_errors(fn: Callable[..., None]) -> Callable[..., None]:
    """Print ``error: …`` and exit with the CLI's codes (5: the management cluster is unreachable)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except CliError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.code)
        except ManagementError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_UNREACHABLE if exc.retryable else EXIT_FAILED)

    return wrapper
