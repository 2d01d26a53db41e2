"""What ``bosun repo`` and ``bosun cluster`` share: finding the management cluster, the
control namespace option, and turning its failures into exit codes.

The management cluster's kubeconfig is a flag, else the first file of
``BOSUN_KUBECONFIG`` (as the worker's), else ``KUBECONFIG``, else ``~/.kube/config``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from activities.management import DEFAULT_NAMESPACE, ManagementError, ManagementSecrets
from bosun.cli.app import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, CliError

S = TypeVar("S", bound=ManagementSecrets)


def kubeconfig_path(flag: str | None) -> Path:
    """The management cluster's kubeconfig: flag, BOSUN_KUBECONFIG, KUBECONFIG, default."""
    for value in (flag, os.environ.get("BOSUN_KUBECONFIG"), os.environ.get("KUBECONFIG")):
        first = next((p for p in (value or "").split(os.pathsep) if p), None)
        if first:
            return Path(first).expanduser()
    return Path.home() / ".kube" / "config"


def management_secrets(kind: type[S], kubeconfig: str | None, context: str | None, namespace: str,
                       *, flag: str) -> S:
    """``kind`` (RepoSecrets, ClusterSecrets) for the management cluster; ``flag`` names the
    option that sets its kubeconfig, for the error message."""
    path = kubeconfig_path(kubeconfig)
    if not path.is_file():
        raise CliError(f"kubeconfig {path} not found (use {flag} or BOSUN_KUBECONFIG)", EXIT_USAGE)
    return kind(path, namespace=namespace, context=context)


def secrets_namespace_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--secrets-namespace", envvar=["BOSUN_CONTROL_NAMESPACE", "BOSUN_SECRETS_NAMESPACE"],
                        default=DEFAULT_NAMESPACE, show_default=True,
                        help=f"Namespace of the {what} Secrets, as the worker's (env BOSUN_CONTROL_NAMESPACE, "
                             "BOSUN_SECRETS_NAMESPACE).")


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
