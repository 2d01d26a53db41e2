"""``bosun repo``: credentials for private Git and Helm repositories, as Argo CD keeps them.

``add``, ``list`` and ``rm`` write, read and delete Secrets labelled
``argocd.argoproj.io/secret-type: repository`` (one repository) or ``repo-creds``
(``--creds-template``: every repository whose URL starts with this one) in the management
cluster, namespace ``bosun`` (``--secrets-namespace`` / ``BOSUN_CONTROL_NAMESPACE`` /
``BOSUN_SECRETS_NAMESPACE``, as the worker).
``--type helm`` (Argo CD's ``argocd repo add URL --type helm``) is for a Helm chart
repository (``https://…``) or OCI registry (``oci://host/path``, or ``host/path`` with
``--enable-oci``) that apps name in ``spec.source.repoURL`` with ``chart:``, or that a
chart's dependencies come from; the Secret gets ``type: helm`` (and ``enableOCI: "true"``
for a registry), as Argo CD writes it.
The worker reads them there (:mod:`activities.credentials`); they never pass through
Temporal. The cluster comes from ``--kubeconfig``, else the first file of
``BOSUN_KUBECONFIG``, else ``KUBECONFIG``, else ``~/.kube/config`` (its current context,
or ``--context``).

``--password -`` reads the password or token from standard input, so it stays out of the
shell history; ``--username`` without ``--password`` prompts for it on a terminal.
``list`` never prints a password or a key.

Exit codes: 0 success; 1 the operation failed; 2 bad input; 3 no such repository;
5 the management cluster is unreachable.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from activities.credentials import (
    REPO_CREDS,
    REPOSITORY,
    RepoCredentials,
    RepoSecrets,
    is_remote_url,
    secret_manifest,
)
from bosun.repo_urls import RepoURLError, is_ssh_url, normalize_url, parse_repo_url
from cli.app import EXIT_NOT_FOUND, EXIT_USAGE, CliError
from cli.management import handle_errors, management_secrets, secrets_namespace_option
from cli.output import emit, table


class RepoView(BaseModel):
    """What ``bosun repo list -o json`` prints for one Secret: never a secret value."""

    url: str
    kind: str
    type: str
    name: str = ""
    project: str = ""
    auth: str
    username: str = ""
    insecure: bool = False
    secret: str


def _view(creds: RepoCredentials) -> RepoView:
    return RepoView(
        url=creds.url,
        kind=creds.kind,
        type=creds.repo_type,
        name=creds.name,
        project=creds.project,
        auth=creds.auth,
        username=creds.username,
        insecure=creds.insecure,
        secret=creds.secret,
    )


def _cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = secrets_namespace_option("repository")(fn)
    fn = click.option("--context", default=None, help="Kubeconfig context (default: its current context).")(fn)
    return click.option(
        "--kubeconfig", default=None, help="The management cluster's kubeconfig (env BOSUN_KUBECONFIG, KUBECONFIG)."
    )(fn)


def _secrets(kubeconfig: str | None, context: str | None, namespace: str) -> RepoSecrets:
    return management_secrets(RepoSecrets, kubeconfig, context, namespace, flag="--kubeconfig")


@click.group()
def repo() -> None:
    """Credentials for private Git and Helm repositories (Argo CD's repository Secrets)."""


def _read_password(password: str | None, username: str | None) -> str:
    if password == "-":
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise CliError("--password -: nothing on standard input", EXIT_USAGE)
        return value
    if password is None and username:
        if not sys.stdin.isatty():
            raise CliError("--username needs --password (use --password - to read it from standard input)", EXIT_USAGE)
        return str(click.prompt("Password", hide_input=True, err=True))
    return password or ""


def _read_key(path: Path) -> str:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read SSH private key {path}: {exc}", EXIT_USAGE) from None
    if "PRIVATE KEY-----" not in text:
        raise CliError(f"{path} is not a PEM/OpenSSH private key", EXIT_USAGE)
    return text


def _refused(url: str) -> None:
    """A URL the worker would refuse (a user or password in it, a leading ``-`` …) is not stored:
    its Secret would never match (:func:`activities.credentials.match`)."""
    try:
        parse_repo_url(url)
    except RepoURLError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _check_helm_url(url: str, *, enable_oci: bool) -> None:
    _refused(url if "://" in url else f"oci://{url}")
    lowered = url.lower()
    if lowered.startswith(("http://", "https://", "oci://")):
        return
    if enable_oci and "://" not in url and "/" in url.strip("/"):
        return  # Argo CD's scheme-less registry/path
    raise CliError(
        f"{url!r} is not a Helm repository URL (https://, oci://host/path, or host/path with --enable-oci)", EXIT_USAGE
    )


def _check_git_url(url: str, *, username: str | None, password: str | None, ssh_private_key_path: Path | None) -> None:
    _refused(url)
    if not is_remote_url(url):
        raise CliError(f"{url!r} is not a remote Git URL (https://, ssh://, git@host:path)", EXIT_USAGE)
    if ssh_private_key_path is not None and not is_ssh_url(url):
        raise CliError("--ssh-private-key-path needs an SSH URL (ssh:// or git@host:path)", EXIT_USAGE)
    if (username or password) and is_ssh_url(url):
        raise CliError("--username/--password are for HTTPS URLs; use --ssh-private-key-path", EXIT_USAGE)


@repo.command("add")
@click.argument("url")
@click.option(
    "--type",
    "repo_type",
    type=click.Choice(["git", "helm"]),
    default="git",
    show_default=True,
    help="git, or helm: a Helm chart repository or OCI registry.",
)
@click.option("--enable-oci", is_flag=True, help="With --type helm: URL is an OCI registry (implied by oci://).")
@click.option("--username", default=None, help="HTTPS username (for a token, any non-empty name the server accepts).")
@click.option("--password", default=None, help="HTTPS password or token; '-' reads it from standard input.")
@click.option(
    "--ssh-private-key-path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SSH private key file (for ssh:// and git@host:path URLs).",
)
@click.option("--name", default="", help="A display name for the repository.")
@click.option("--project", default="", help="The AppProject the repository belongs to.")
@click.option("--creds-template", is_flag=True, help="Write a repo-creds template used by every repository under URL.")
@click.option(
    "--insecure-skip-server-verification",
    "insecure",
    is_flag=True,
    help="Skip TLS verification (HTTPS) and host key verification (SSH).",
)
@click.option("--upsert", is_flag=True, help="Replace the Secret if it exists.")
@_cluster_options
@handle_errors
def add(
    url: str,
    repo_type: str,
    enable_oci: bool,
    username: str | None,
    password: str | None,
    ssh_private_key_path: Path | None,
    name: str,
    project: str,
    creds_template: bool,
    insecure: bool,
    upsert: bool,
    kubeconfig: str | None,
    context: str | None,
    secrets_namespace: str,
) -> None:
    """Store credentials for repository URL (or, with --creds-template, a URL prefix)."""
    url = url.strip()
    if ssh_private_key_path is not None and (username or password):
        raise CliError("use either --username/--password or --ssh-private-key-path", EXIT_USAGE)
    if repo_type == "helm":
        _check_helm_url(url, enable_oci=enable_oci)
        if ssh_private_key_path is not None:
            raise CliError(
                "--ssh-private-key-path is for Git over SSH; Helm repositories take --username/--password", EXIT_USAGE
            )
    elif enable_oci:
        raise CliError("--enable-oci needs --type helm", EXIT_USAGE)
    else:
        _check_git_url(url, username=username, password=password, ssh_private_key_path=ssh_private_key_path)
    secret = _read_password(password, username)
    if secret and not username:
        raise CliError("--password needs --username", EXIT_USAGE)
    key = _read_key(ssh_private_key_path) if ssh_private_key_path is not None else ""
    creds = RepoCredentials(
        url=url,
        kind=REPO_CREDS if creds_template else REPOSITORY,
        name=name,
        repo_type=repo_type,
        project=project,
        username=username or "",
        password=secret,
        ssh_private_key=key,
        insecure=insecure,
    )
    store = _secrets(kubeconfig, context, secrets_namespace)
    store.ensure_namespace()
    manifest = secret_manifest(creds, namespace=store.namespace)
    if repo_type == "helm" and (enable_oci or url.lower().startswith("oci://")):
        manifest["data"]["enableOCI"] = base64.b64encode(b"true").decode()  # as Argo CD's CLI
    replaced = store.put(manifest, upsert=upsert)
    what = "credential template" if creds_template else f"{repo_type} repository"
    click.echo(
        f"{what} {url} {'updated' if replaced else 'added'} (Secret {store.namespace}/{manifest['metadata']['name']})"
    )


@repo.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@_cluster_options
@handle_errors
def list_repos(output: str, kubeconfig: str | None, context: str | None, secrets_namespace: str) -> None:
    """List repositories and credential templates (never their secrets)."""
    views = [_view(c) for c in _secrets(kubeconfig, context, secrets_namespace).list()]
    if output != "table":
        emit(views, output)
        return
    rows = [
        [
            v.type,
            v.kind,
            v.name,
            v.url,
            v.auth + (f" ({v.username})" if v.username else ""),
            "yes" if v.insecure else "",
            v.secret,
        ]
        for v in views
    ]
    click.echo(table(["TYPE", "KIND", "NAME", "URL", "AUTH", "INSECURE", "SECRET"], rows))


@repo.command("rm")
@click.argument("url")
@click.option("--creds-template", is_flag=True, help="Remove the repo-creds template for URL.")
@_cluster_options
@handle_errors
def rm(url: str, creds_template: bool, kubeconfig: str | None, context: str | None, secrets_namespace: str) -> None:
    """Remove the credentials stored for repository URL."""
    store = _secrets(kubeconfig, context, secrets_namespace)
    kind = REPO_CREDS if creds_template else REPOSITORY
    matches = [c for c in store.list() if c.kind == kind and normalize_url(c.url) == normalize_url(url)]
    if not matches:
        what = "credential template" if creds_template else "repository"
        raise CliError(f"no {what} {url} in namespace {store.namespace}", EXIT_NOT_FOUND)
    for creds in matches:
        store.delete(creds.secret)
        click.echo(f"removed {url} (Secret {store.namespace}/{creds.secret})")
