"""Repository credentials, worker-side: Argo CD's declarative Secrets, and how git gets them.

Credentials live in the management cluster (the worker's first kubeconfig), in namespace
``bosun`` (``BOSUN_SECRETS_NAMESPACE``), as Argo CD keeps them — same labels, same
fields, so a Secret written for Argo CD works here unchanged::

    apiVersion: v1
    kind: Secret
    metadata:
      name: private-app
      labels:
        argocd.argoproj.io/secret-type: repository    # one repository
    stringData:
      type: git
      url: https://git.example.com/team/app.git
      username: deploy
      password: <password or token>
    ---
    metadata:
      labels:
        argocd.argoproj.io/secret-type: repo-creds    # a template for every repo under a prefix
    stringData:
      type: git
      url: git@git.example.com:team
      sshPrivateKey: |
        -----BEGIN OPENSSH PRIVATE KEY-----
        ...

Matching is Argo CD's — a ``repository`` Secret whose url is the repo URL wins, and
credentials it leaves empty come from the template; otherwise the ``repo-creds`` template
with the longest URL prefix — but on parsed URLs (:func:`match`, :mod:`bosun.repo_urls`):
scheme, host, port (the default one or none is the same) and SSH user must be equal, then
the template's path segments must begin the repo's; case, a trailing ``.git`` or ``/`` and
scp-style ``git@host:path`` do not count. A string prefix is not enough (a template for
``https://github.com`` once served ``https://github.com@evil.example/x.git``, and Argo CD
had the same class of bug), and a URL with a user or password, a leading ``-``, or a local
path gets no credentials at all. ``bosun repo add|list|rm`` writes and reads these Secrets
(:class:`RepoSecrets`).

Only activities read them (:class:`SecretCredentialStore`, cached for a few seconds so
every git call does not hit the API server), by the repository URL the workflow passed;
nothing here ever enters a workflow input, result or history. :func:`git_auth` hands them
to exactly one git process: HTTPS username/password through environment variables read by
a ``GIT_ASKPASS`` helper that answers only a prompt for the repository's own origin
(scheme, host, port: a redirect elsewhere gets nothing) — never argv, the URL or a git
config file — an SSH key through a
0600 file that is deleted when the process ends. :func:`scrub` removes the values from
whatever git printed before it reaches a message or a log.

SSH host keys, as Argo CD: when the ConfigMap ``argocd-ssh-known-hosts-cm`` (key
``ssh_known_hosts``) exists in the same namespace, host keys are verified against it,
unless the repository's Secret says ``insecure: "true"``. Without that ConfigMap any host
key is accepted (``StrictHostKeyChecking=no``): the connection is encrypted but not
protected against an attacker in the middle, so production setups should create it.
``insecure: "true"`` also skips TLS verification for HTTPS.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from activities.kubeaccess import KubeAccess
from activities.management import (
    CACHE_SECONDS,
    DEFAULT_NAMESPACE,
    MANAGED_BY_LABEL,
    SECRET_TYPE_LABEL,
    Cached,
    ManagementError,
    ManagementSecrets,
)
from bosun.hashing import fnv32a
from bosun.repo_urls import RepoURL, RepoURLError, is_ssh_url, parse_repo_url

REPOSITORY = "repository"
REPO_CREDS = "repo-creds"
KNOWN_HOSTS_CONFIGMAP = "argocd-ssh-known-hosts-cm"
KNOWN_HOSTS_KEY = "ssh_known_hosts"


class CredentialError(ManagementError):
    """Credentials could not be read; ``retryable`` says whether trying again may help."""


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class RepoCredentials:
    """One ``repository`` or ``repo-creds`` Secret (the secret values stay out of repr)."""

    url: str
    kind: str = REPOSITORY
    """``repository`` (one repo) or ``repo-creds`` (a template matched by URL prefix)."""
    secret: str = ""
    """The Secret's name, for messages."""
    name: str = ""
    repo_type: str = "git"
    project: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    ssh_private_key: str = field(default="", repr=False)
    insecure: bool = False
    ssh_known_hosts: str = field(default="", repr=False)
    """Set by the store at lookup: the known-hosts ConfigMap's content, if there is one."""

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password or self.ssh_private_key)

    @property
    def auth(self) -> str:
        """``ssh-key``, ``basic`` or ``none``: what ``repo list`` may show."""
        if self.ssh_private_key:
            return "ssh-key"
        return "basic" if (self.username or self.password) else "none"

    def secret_values(self) -> tuple[str, ...]:
        """Every string that must never appear in a message or a log."""
        values = [self.password, self.ssh_private_key.strip()]
        values += [
            line.strip()
            for line in self.ssh_private_key.splitlines()
            if len(line.strip()) >= 16 and "PRIVATE KEY" not in line
        ]
        return tuple(v for v in values if v)

    def inherit(self, template: RepoCredentials) -> RepoCredentials:
        """Argo CD: a repository without credentials takes its template's."""
        if self.has_credentials:
            return self
        return replace(
            self,
            username=template.username,
            password=template.password,
            ssh_private_key=template.ssh_private_key,
            insecure=self.insecure or template.insecure,
        )

    def describe(self) -> str:
        return f"Secret {self.secret}" if self.secret else f"the {self.kind} entry {self.url}"


def is_remote_url(url: str) -> bool:
    """Whether git reaches ``url`` over the network (only then are credentials looked up)."""
    url = url.strip().lower()
    return url.startswith(("http://", "https://", "ssh://", "git://")) or is_ssh_url(url)


def match(entries: Sequence[RepoCredentials], url: str, *, repo_type: str = "git") -> RepoCredentials | None:
    """The credentials for ``url``: its repository Secret, else the template with the longest
    matching URL prefix — compared on parsed URLs (:class:`~bosun.repo_urls.RepoURL`: scheme,
    host, port, SSH user, then path segment by segment), never as strings, so a template for
    ``https://github.com`` does not serve ``https://github.com@evil.example/x.git``. A URL
    Bosun refuses (a user or password in it, a leading ``-``…) gets no credentials, and
    neither does a local repository."""
    wanted = _parsed(url, repo_type)
    if wanted is None or wanted.scheme == "file":
        return None
    template: RepoCredentials | None = None
    template_depth = -1
    repository: RepoCredentials | None = None
    for entry in entries:
        if (entry.repo_type or "git") != repo_type:
            continue
        stored = _parsed(entry.url, repo_type)
        if stored is None or stored.scheme == "file":
            continue  # a Secret with a URL Bosun refuses serves nothing
        if entry.kind == REPO_CREDS and stored.covers(wanted) and len(stored.path) > template_depth:
            template, template_depth = entry, len(stored.path)
        elif entry.kind == REPOSITORY and repository is None and stored.names(wanted):
            repository = entry
    if repository is not None:
        return repository.inherit(template) if template is not None else repository
    return template


def _parsed(url: str, repo_type: str) -> RepoURL | None:
    """``url`` parsed for matching; a scheme-less Helm URL is an OCI registry (as Argo CD writes it)."""
    if repo_type == "helm" and "://" not in url.strip():
        url = "oci://" + url.strip()
    try:
        return parse_repo_url(url)
    except RepoURLError:
        return None


def credentials_from_secret(secret: Mapping[str, Any]) -> RepoCredentials | None:
    """A Secret (as the API returns it: ``data`` base64, or ``stringData``) as credentials."""
    meta = secret.get("metadata") or {}
    kind = (meta.get("labels") or {}).get(SECRET_TYPE_LABEL, "")
    if kind not in (REPOSITORY, REPO_CREDS):
        return None
    values: dict[str, str] = {}
    for key, raw in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(raw or "").decode()
        except (ValueError, UnicodeDecodeError):
            continue
    values.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    if not values.get("url"):
        return None
    return RepoCredentials(
        url=values["url"].strip(),
        kind=kind,
        secret=str(meta.get("name") or ""),
        name=values.get("name", ""),
        repo_type=values.get("type", "") or "git",
        project=values.get("project", ""),
        username=values.get("username", ""),
        password=values.get("password", ""),
        ssh_private_key=values.get("sshPrivateKey", ""),
        insecure=values.get("insecure", "").strip().lower() == "true",
    )


# ----------------------------------------------------------------------------- stores


class CredentialStore(Protocol):
    def lookup(self, url: str, *, repo_type: str = "git") -> RepoCredentials | None:
        """The credentials for ``url`` (a git or helm repo), or None; raises CredentialError."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """Everything read from the management cluster in one go."""

    entries: tuple[RepoCredentials, ...] = ()
    ssh_known_hosts: str = ""


class SecretCredentialStore(Cached[Snapshot]):
    """Credentials from Secrets, re-read at most every ``ttl`` seconds. Thread-safe."""

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: KubeAccess | Path,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        context: str | None = None,
        ttl: float = CACHE_SECONDS,
    ) -> SecretCredentialStore:
        secrets = RepoSecrets(kubeconfig, namespace=namespace, context=context)
        return cls(secrets.snapshot, ttl=ttl)

    def lookup(self, url: str, *, repo_type: str = "git") -> RepoCredentials | None:
        snapshot = self.snapshot()
        found = match(snapshot.entries, url, repo_type=repo_type)
        if found is None:
            return None
        return replace(found, ssh_known_hosts=snapshot.ssh_known_hosts)


class StaticCredentialStore:
    """A test double: fixed credentials, no cluster."""

    def __init__(self, entries: Sequence[RepoCredentials] = (), *, ssh_known_hosts: str = "") -> None:
        self._store = SecretCredentialStore(lambda: Snapshot(tuple(entries), ssh_known_hosts), ttl=float("inf"))

    def lookup(self, url: str, *, repo_type: str = "git") -> RepoCredentials | None:
        return self._store.lookup(url, repo_type=repo_type)


class RepoSecrets(ManagementSecrets):
    """The repository Secrets in the management cluster: read (worker), write (CLI)."""

    error = CredentialError

    def list(self) -> list[RepoCredentials]:
        """Every repository and repo-creds Secret in the namespace."""
        found = []
        for secret in self.secrets(f"{SECRET_TYPE_LABEL} in ({REPOSITORY},{REPO_CREDS})", "repository Secrets"):
            creds = credentials_from_secret(secret)
            if creds is not None:
                found.append(creds)
        return sorted(found, key=lambda c: (c.kind, c.url, c.secret))

    def known_hosts(self) -> str:
        return self.config_map_value(KNOWN_HOSTS_CONFIGMAP, KNOWN_HOSTS_KEY)

    def snapshot(self) -> Snapshot:
        return Snapshot(tuple(self.list()), self.known_hosts())


def secret_name(url: str, kind: str = REPOSITORY, project: str = "") -> str:
    """Argo CD's name for a repository Secret it creates: ``repo-<fnv32a of url+project>``."""
    return f"{'creds' if kind == REPO_CREDS else 'repo'}-{fnv32a(url + project)}"


def secret_manifest(creds: RepoCredentials, *, namespace: str) -> dict[str, Any]:
    """The Secret ``bosun repo add`` writes, exactly as Argo CD's CLI would."""
    values = {
        "url": creds.url,
        "type": creds.repo_type or "git",
        "name": creds.name,
        "project": creds.project,
        "username": creds.username,
        "password": creds.password,
        "sshPrivateKey": creds.ssh_private_key,
        "insecure": "true" if creds.insecure else "",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": creds.secret or secret_name(creds.url, creds.kind, creds.project),
            "namespace": namespace,
            "labels": {SECRET_TYPE_LABEL: creds.kind, MANAGED_BY_LABEL: "bosun"},
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items() if v},
    }


# ----------------------------------------------------------------------------- git


@dataclass(frozen=True)
class GitAuth:
    """What one git process needs: environment additions, and the values to scrub."""

    env: dict[str, str] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    credentials: RepoCredentials | None = None


_ASKPASS = """#!/bin/sh
# git asks "Username for 'https://host': " then "Password for 'https://user@host': ";
# answer from this process's env, and only for the origin the credentials were looked up
# for: a redirect to another host gets nothing (git then fails "could not read Username").
asked=${1#*\\'}
asked=${asked%%\\'*}
scheme=${asked%%://*}
rest=${asked#*://}
rest=${rest##*@}
asked=$(printf '%s://%s' "$scheme" "$rest" | tr '[:upper:]' '[:lower:]')
[ "$asked" = "$BOSUN_GIT_ORIGIN" ] || exit 1
case "$1" in
    Username*) printf '%s\\n' "$BOSUN_GIT_USERNAME" ;;
    *) printf '%s\\n' "$BOSUN_GIT_PASSWORD" ;;
esac
"""
_SSH_OPTIONS = ["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


@contextmanager
def git_auth(creds: RepoCredentials | None, *, url: str = "", tmp_dir: Path | None = None) -> Iterator[GitAuth]:
    """Environment for one git process fetching ``url`` (default: the credentials' own URL) with
    ``creds``; the username and password are given only to a prompt for ``url``'s origin (scheme,
    host and port). Temp files are gone afterwards."""
    if creds is None or not (creds.has_credentials or creds.insecure):
        yield GitAuth(credentials=creds)
        return
    directory = Path(tempfile.mkdtemp(prefix="git-auth-", dir=tmp_dir))  # mode 0700
    try:
        env: dict[str, str] = {}
        if creds.username or creds.password:
            askpass = directory / "askpass"
            askpass.write_text(_ASKPASS)
            askpass.chmod(stat.S_IRWXU)
            env.update(
                GIT_ASKPASS=str(askpass),
                BOSUN_GIT_ORIGIN=http_origin(url or creds.url),
                BOSUN_GIT_USERNAME=creds.username,
                BOSUN_GIT_PASSWORD=creds.password,
            )
        if creds.insecure:
            env["GIT_SSL_NO_VERIFY"] = "true"
        if creds.ssh_private_key:
            key = directory / "key"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                text = creds.ssh_private_key.replace("\r\n", "\n").strip()
                out.write(text + "\n")  # OpenSSH refuses a key without its final newline
            command = ["ssh", "-i", str(key), *_SSH_OPTIONS]
            if creds.ssh_known_hosts and not creds.insecure:
                known = directory / "known_hosts"
                known.write_text(creds.ssh_known_hosts.strip() + "\n")
                command += [
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    f"UserKnownHostsFile={known}",
                    "-o",
                    "GlobalKnownHostsFile=/dev/null",
                ]
            else:
                command += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
            env["GIT_SSH_COMMAND"] = shlex.join(command)
        yield GitAuth(env=env, secrets=creds.secret_values(), credentials=creds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def http_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` as git names it in a credential prompt, lowercased."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}".lower()


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value (longest first) replaced by ``***``."""
    for value in sorted(set(secrets), key=len, reverse=True):
        if value:
            text = text.replace(value, "***")
    return text


_AUTH_FAILED = re.compile(
    r"Authentication failed|could not read (Username|Password)|returned error: 40[13]"
    r"|Permission denied \(|Invalid username or password|access denied",
    re.IGNORECASE,
)
_HOST_KEY_FAILED = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION", re.IGNORECASE)
_BAD_KEY = re.compile(r"Load key .*: (invalid format|error in libcrypto)|invalid format", re.IGNORECASE)


def failure_message(url: str, stderr: str, auth: GitAuth | None) -> str | None:
    """A message a user can act on when git failed for want of (good) credentials."""
    creds = auth.credentials if auth is not None else None
    configured = creds is not None and creds.has_credentials
    source = f" (credentials from {creds.describe()})" if creds is not None and configured else ""
    hint = "check the repository credentials (bosun repo add)"
    if _HOST_KEY_FAILED.search(stderr):
        if not configured:
            return f"SSH host key verification failed for {url}, and no credentials are configured for it: {hint}"
        return (
            f"SSH host key verification failed for {url}: add the server's key to ConfigMap "
            f"{KNOWN_HOSTS_CONFIGMAP}, or mark the repository insecure"
        )
    if _BAD_KEY.search(stderr) and creds is not None and creds.ssh_private_key:
        return f"the SSH private key{source} for {url} is not a valid private key: {hint}"
    if _AUTH_FAILED.search(stderr):
        used = source or " (no credentials are configured for it)"
        return f"authentication failed for {url}{used}: {hint}"
    return None
