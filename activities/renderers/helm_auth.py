"""Credentials for private Helm repositories and OCI registries, handed to helm safely.

Argo CD keeps them as repository Secrets with ``type: helm`` (:mod:`activities.credentials`)::

    stringData:
      type: helm
      url: https://charts.example.com/stable      # or oci://registry.example.com/charts
      username: deploy
      password: <password or token>
      insecure: "true"                             # optional: skip TLS verification

They are looked up by the chart's ``repoURL`` (an OCI registry with or without its
``oci://``, since Argo CD writes both) and given to helm the way ``helm`` itself is meant
to be scripted: the password goes to ``helm repo add --password-stdin`` (HTTP
repositories) or ``helm registry login --password-stdin`` (OCI), never to argv, where
any user of the machine could read it in ``/proc``. What those commands write — a
``repositories.yaml``, an index cache, a registry ``config.json`` — lives in a 0700
directory inside the render's scratch directory that is deleted as soon as the pull or
``helm dependency build`` is done; later commands name it with ``--repository-config``,
``--repository-cache`` and ``--registry-config``. The secret values are registered with
the :class:`~activities.renderers.tools.ToolRun`, which scrubs them from every message.

Credentials reach only the host they were stored for: they are matched on the parsed URL
(scheme, host, port, path segments: :func:`activities.credentials.match`), a repository URL
carrying a user or password, or starting with ``-``, is refused before helm runs
(:func:`lookup_helm_credentials`), ``helm repo add`` is never given ``--pass-credentials`` (so
helm does not send them to a chart URL of the index on another host), and ``helm registry
login`` stores them for that one registry host.

A repository that answers 401/403 gives a message naming its URL and saying whether
credentials are missing or were refused (:func:`auth_failure`), never their values.

Not supported yet: TLS client certificates and CA bundles (``tlsClientCertData``, …),
and GCP/Azure workload identity.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from activities.credentials import CredentialStore, RepoCredentials
from activities.renderers.paths import RenderError
from activities.renderers.tools import ToolRun, find_tool
from bosun.repo_urls import RepoURLError, parse_repo_url

__all__ = [
    "HelmAuth",
    "auth_failure",
    "check_helm_url",
    "is_loopback",
    "login_credentials",
    "lookup_helm_credentials",
]

_REFUSED = re.compile(
    r"\b40[13]\b|unauthorized|forbidden|basic credential not found"
    r"|authentication required",
    re.IGNORECASE,
)


def lookup_helm_credentials(store: CredentialStore | None, url: str) -> RepoCredentials | None:
    """The ``type: helm`` credentials for ``url``; an OCI registry matches with or without
    ``oci://``. Raises :class:`~activities.credentials.CredentialError` if they cannot be read,
    and RenderError if ``url`` is not one helm may be pointed at (:func:`check_helm_url`)."""
    check_helm_url(url)
    if store is None:
        return None
    candidates = [url]
    if url.startswith("oci://"):
        candidates.append(url.removeprefix("oci://"))
    elif "://" not in url:
        candidates.append(f"oci://{url}")
    for candidate in candidates:
        found = store.lookup(candidate, repo_type="helm")
        if found is not None:
            return found
    return None


def check_helm_url(url: str) -> None:
    """RenderError naming ``url`` if it is no Helm repository or registry Bosun fetches from: a
    user or password in it, a leading ``-``, a scheme other than http(s) or oci."""
    spelled = url.strip()
    try:
        parsed = parse_repo_url(spelled if "://" in spelled else f"oci://{spelled}")
    except RepoURLError as exc:
        raise RenderError(str(exc).replace("repository URL", "Helm repository URL", 1)) from None
    if parsed.scheme not in ("http", "https", "oci"):
        raise RenderError(f"Helm repository URL {spelled!r}: use https://, http:// or oci://")


def login_credentials(creds: RepoCredentials | None) -> RepoCredentials | None:
    """``creds`` if helm must log in with them; else None, and helm runs as without any."""
    return creds if creds is not None and (creds.username or creds.password) else None


def auth_failure(url: str, message: str, creds: RepoCredentials | None) -> str | None:
    """A message a user can act on when ``url`` refused helm (401/403), else None."""
    if not _REFUSED.search(message):
        return None
    if login_credentials(creds) is None or creds is None:
        return (
            f"Helm repository {url} requires credentials and none are configured for it "
            f"(add them with `bosun repo add {url} --type helm --username <user> --password -`)"
        )
    return (
        f"Helm repository {url} refused the credentials from {creds.describe()}: they are "
        f"missing or wrong (check them with `bosun repo add {url} --type helm --upsert`)"
    )


def is_loopback(host_port: str) -> bool:
    host = host_port.rsplit(":", 1)[0] if not host_port.endswith("]") else host_port
    host = host.strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


class HelmAuth:
    """A private helm configuration holding the logins of one pull or dependency build.

    ``HelmAuth.open(run)`` makes the directory; :meth:`add_repository` and :meth:`login`
    put credentials in it; :meth:`flags` point a helm command at it."""

    def __init__(self, run: ToolRun, directory: Path) -> None:
        self._run = run
        self._directory = directory
        self._repositories = 0

    @classmethod
    @contextlib.contextmanager
    def open(cls, run: ToolRun) -> Iterator[HelmAuth]:
        directory = Path(tempfile.mkdtemp(prefix="helm-auth-", dir=run.home))  # mode 0700
        try:
            yield cls(run, directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def flags(self) -> list[str]:
        return [
            f"--repository-config={self._directory / 'repositories.yaml'}",
            f"--repository-cache={self._directory / 'cache'}",
            f"--registry-config={self._directory / 'registry.json'}",
        ]

    def add_repository(self, url: str, creds: RepoCredentials) -> str:
        """``helm repo add`` of the HTTP(S) repository ``url`` with ``creds``; its name."""
        self._repositories += 1
        name = f"bosun-{self._repositories}"
        args = [str(find_tool("helm")), "repo", "add", *self._login_flags(creds), *self.flags()]
        if creds.insecure:
            args.append("--insecure-skip-tls-verify")
        self._authenticate([*args, "--", name, url], url, creds, what=f"helm repo add {url}")
        return name

    def login(self, registry: str, url: str, creds: RepoCredentials) -> None:
        """``helm registry login`` to the OCI ``registry`` (host:port) serving ``url``."""
        args = [
            str(find_tool("helm")),
            "registry",
            "login",
            *self._login_flags(creds),
            f"--registry-config={self._directory / 'registry.json'}",
        ]
        if creds.insecure:
            args.append("--insecure")
        if is_loopback(registry):
            args.append("--plain-http")  # as Docker treats localhost registries
        self._authenticate([*args, "--", registry], url, creds, what=f"helm registry login {registry}")

    def _login_flags(self, creds: RepoCredentials) -> list[str]:
        if not creds.username:
            # helm asks for a username on the terminal otherwise; there is none here.
            raise RenderError(
                f"{creds.describe()} has a password but no username, which Helm "
                "repositories need (any name the server accepts, for a token)"
            )
        return [f"--username={creds.username}", "--password-stdin"]

    def _authenticate(self, args: list[str], url: str, creds: RepoCredentials, *, what: str) -> None:
        self._run.hide(*creds.secret_values())
        try:
            self._run.run(args, what=what, cwd=self._directory, stdin=creds.password.encode())
        except RenderError as exc:
            refused = auth_failure(url, str(exc), creds)
            if refused is not None:
                raise RenderError(f"{refused}: {exc}") from None
            raise
