"""Destination clusters, worker-side: Argo CD's cluster Secrets, and kubeconfigs made from them.

A cluster an Application may deploy to lives in the management cluster (the worker's first
kubeconfig), namespace ``bosun`` (``BOSUN_CONTROL_NAMESPACE``), as Argo CD keeps it — same
label, same fields, so a Secret written for Argo CD works here unchanged::

    apiVersion: v1
    kind: Secret
    metadata:
      name: cluster-k8s.example.com-2596350112        # Argo CD's name: cluster-<host>-<fnv32a>
      labels:
        argocd.argoproj.io/secret-type: cluster
    stringData:
      name: prod                                     # defaults to the server
      server: https://k8s.example.com:6443
      namespaces: web,api                            # optional; empty = every namespace
      project: team                                  # optional
      config: |
        {"bearerToken": "<token>",                   # or "username"/"password"
         "tlsClientConfig": {"insecure": false,
                             "caData": "<base64 PEM>", "certData": "<base64 PEM>",
                             "keyData": "<base64 PEM>", "serverName": "k8s.internal"}}

``bosun cluster add|list|rm`` writes and reads these Secrets (:class:`ClusterSecrets`),
by default with the token of the ``bosun-manager`` ServiceAccount it installs there
(:mod:`activities.clustermanager`), or (``--use-own-credentials``) from a context of a local
kubeconfig (:func:`cluster_from_kubeconfig`). Only token, client certificate and basic auth
are stored: Argo CD's ``execProviderConfig`` and ``awsAuthConfig``, and kubeconfig
``exec``/``auth-provider`` users, are refused with a clear error rather than connecting
without credentials.

Activities read them through :class:`ClusterSecretStore` (cached for a few seconds) and
connect with :meth:`ClusterEntry.kubeconfig`; nothing here enters a workflow input, result
or history, and no error message carries a secret value. A Secret that cannot be parsed is
reported in :attr:`ClusterSnapshot.errors` and does not hide the good ones.

The Kubernetes calls mirror :class:`activities.credentials.RepoSecrets` (same timeouts, same
error classification); adding a field is one line in :func:`cluster_from_secret`, one in
:func:`secret_manifest` and, if it reaches the API server, one in :meth:`ClusterEntry.kubeconfig`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from activities.kubeaccess import KubeAccess, KubeconfigAccess
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

CLUSTER = "cluster"
UNSUPPORTED_CONFIG = ("execProviderConfig", "awsAuthConfig")
UNSUPPORTED_USER = ("exec", "auth-provider")
MANAGER_ANNOTATION = "bosun.dev/manager"
MANAGER_CONTEXT_ANNOTATION = "bosun.dev/manager-context"


class ClusterConfigError(ManagementError):
    """A cluster could not be read or written; ``retryable`` says whether trying again may help."""


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ClusterEntry:
    """One destination cluster (the credentials stay out of repr)."""

    name: str
    server: str
    secret: str = ""
    """The Secret's name, for messages and ``rm``."""
    namespaces: tuple[str, ...] = ()
    """Argo CD: the only namespaces Applications may use there; empty means all."""
    cluster_resources: bool = False
    """Argo CD: with ``namespaces`` set, whether cluster-scoped resources are managed."""
    project: str = ""
    bearer_token: str = field(default="", repr=False)
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    ca_data: str = field(default="", repr=False)
    """PEM text (the Secret holds it base64-encoded)."""
    cert_data: str = field(default="", repr=False)
    key_data: str = field(default="", repr=False)
    insecure: bool = False
    server_name: str = ""
    manager: str = ""
    """``<namespace>/<ServiceAccount>`` that ``bosun cluster add`` installed there (bosun-manager), if it did."""
    manager_context: str = ""
    """The kubeconfig context it was installed from: ``bosun cluster rm`` removes it through that."""

    @property
    def auth(self) -> str:
        """``token``, ``client certificate``, ``basic`` or ``none``: what ``cluster list`` may show."""
        if self.bearer_token:
            return "token"
        if self.cert_data and self.key_data:
            return "client certificate"
        return "basic" if (self.username or self.password) else "none"

    def secret_values(self) -> tuple[str, ...]:
        """Every string that must never appear in a message or a log."""
        key_lines = [
            line.strip() for line in self.key_data.splitlines() if len(line.strip()) >= 16 and "PRIVATE KEY" not in line
        ]
        return tuple(v for v in (self.bearer_token, self.password, self.key_data.strip(), *key_lines) if v)

    def describe(self) -> str:
        """Name and server, for messages (never a credential)."""
        return self.server if self.name in ("", self.server) else f"{self.name} ({self.server})"

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig with one context, ``name``, for ``new_client_from_config_dict``."""
        cluster: dict[str, Any] = {"server": self.server}
        if self.insecure:
            # client-go (and so kubectl) refuses a CA together with insecure-skip-tls-verify.
            cluster["insecure-skip-tls-verify"] = True
        elif self.ca_data:
            cluster["certificate-authority-data"] = _b64(self.ca_data)
        if self.server_name:
            cluster["tls-server-name"] = self.server_name
        user: dict[str, Any] = {}
        if self.cert_data:
            user["client-certificate-data"] = _b64(self.cert_data)
        if self.key_data:
            user["client-key-data"] = _b64(self.key_data)
        if self.bearer_token:
            user["token"] = self.bearer_token
        if self.username or self.password:
            user.update(username=self.username, password=self.password)
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": cluster}],
            "users": [{"name": self.name, "user": user}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
            "current-context": self.name,
        }


@dataclass(frozen=True)
class ClusterSnapshot:
    """Every cluster Secret read in one go; ``errors`` holds (Secret name, message) of bad ones."""

    entries: tuple[ClusterEntry, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    def match(self, *, server: str = "", name: str = "") -> ClusterEntry | None:
        """The cluster of an Application destination: by server URL, else by name (as Argo CD)."""
        server = server.strip().rstrip("/")
        for entry in self.entries:
            if server and entry.server.rstrip("/") == server:
                return entry
        return next((e for e in self.entries if name and e.name == name), None)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(value: str, where: str) -> str:
    """Base64 as Go decodes it (line breaks ignored); the message never quotes the value."""
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ClusterConfigError(f"{where} is not valid base64", retryable=False) from None


def _normalize_server(server: str) -> str:
    return server.strip().rstrip("/")


def secret_name(server: str) -> str:
    """Argo CD's name for a cluster Secret (``URIToSecretName``): ``cluster-<host>-<fnv32a of server>``."""
    parts = urlsplit(server)
    if not parts.scheme or not parts.netloc:
        raise ClusterConfigError(f"server {server!r} is not a URL (https://host:port)", retryable=False)
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("[") and "]" in host:
        try:
            host = str(ipaddress.IPv6Address(host[1 : host.index("]")])).replace(":", "-")
        except ValueError:
            raise ClusterConfigError(f"server {server!r} has an invalid IPv6 address", retryable=False) from None
    else:
        host = host.split(":", 1)[0]
    return f"{CLUSTER}-{host.lower()}-{fnv32a(server)}"


# ----------------------------------------------------------------------------- Secrets


def _secret_values(secret: Mapping[str, Any], where: str) -> dict[str, str]:
    values = {key: _unb64(str(raw or ""), f"{where}: data.{key}") for key, raw in (secret.get("data") or {}).items()}
    values.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return values


def _config(raw: str, where: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        # exc.msg and the position never quote the document.
        raise ClusterConfigError(
            f"{where}: data.config is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            retryable=False,
        ) from None
    if not isinstance(config, dict):
        raise ClusterConfigError(f"{where}: data.config is not a JSON object", retryable=False)
    return config


def _text(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ClusterConfigError(f"{where}.{key} is not a string", retryable=False)
    return value


def cluster_from_secret(secret: Mapping[str, Any]) -> ClusterEntry:
    """A cluster Secret (``data`` base64, or ``stringData``) as an entry; ClusterConfigError if malformed."""
    meta = secret.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    where = f"Secret {namespace}/{name}" if namespace else f"Secret {name}"
    values = _secret_values(secret, where)
    server = _normalize_server(values.get("server", ""))
    if not server:
        raise ClusterConfigError(f"{where} has no server (data.server)", retryable=False)
    config = _config(values.get("config", ""), where)
    for key in UNSUPPORTED_CONFIG:
        if config.get(key):
            raise ClusterConfigError(
                f"{where}: data.config {key} is not supported yet (use bearerToken or a client certificate)",
                retryable=False,
            )
    tls = config.get("tlsClientConfig") or {}
    if not isinstance(tls, dict):
        raise ClusterConfigError(f"{where}: data.config tlsClientConfig is not a JSON object", retryable=False)
    in_config, in_tls = f"{where}: data.config", f"{where}: data.config tlsClientConfig"
    insecure = tls.get("insecure", False)
    if not isinstance(insecure, bool):
        raise ClusterConfigError(f"{in_tls}.insecure is not true or false", retryable=False)
    pem = {
        key: _unb64(text, f"{in_tls}.{key}") if (text := _text(tls, key, in_tls)) else ""
        for key in ("caData", "certData", "keyData")
    }
    return ClusterEntry(
        name=values.get("name", "").strip() or server,
        server=server,
        secret=name,
        namespaces=tuple(n.strip() for n in values.get("namespaces", "").split(",") if n.strip()),
        cluster_resources=values.get("clusterResources", "").strip().lower() == "true",
        project=values.get("project", "").strip(),
        bearer_token=_text(config, "bearerToken", in_config).strip(),
        username=_text(config, "username", in_config),
        password=_text(config, "password", in_config),
        ca_data=pem["caData"],
        cert_data=pem["certData"],
        key_data=pem["keyData"],
        insecure=insecure,
        server_name=_text(tls, "serverName", in_tls),
        manager=str(annotations.get(MANAGER_ANNOTATION) or ""),
        manager_context=str(annotations.get(MANAGER_CONTEXT_ANNOTATION) or ""),
    )


def secret_manifest(entry: ClusterEntry, *, namespace: str) -> dict[str, Any]:
    """The Secret ``bosun cluster add`` writes, in Argo CD's form."""
    config: dict[str, Any] = {}
    if entry.bearer_token:
        config["bearerToken"] = entry.bearer_token
    if entry.username or entry.password:
        config.update(username=entry.username, password=entry.password)
    tls: dict[str, Any] = {"insecure": entry.insecure}
    for key, pem in (("caData", entry.ca_data), ("certData", entry.cert_data), ("keyData", entry.key_data)):
        if pem:
            tls[key] = _b64(pem)
    if entry.server_name:
        tls["serverName"] = entry.server_name
    config["tlsClientConfig"] = tls
    values = {
        "name": entry.name,
        "server": entry.server,
        "config": json.dumps(config),
        "namespaces": ",".join(entry.namespaces),
        "clusterResources": "true" if entry.cluster_resources else "",
        "project": entry.project,
    }
    annotations = {MANAGER_ANNOTATION: entry.manager, MANAGER_CONTEXT_ANNOTATION: entry.manager_context}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": entry.secret or secret_name(entry.server),
            "namespace": namespace,
            "labels": {SECRET_TYPE_LABEL: CLUSTER, MANAGED_BY_LABEL: "bosun"},
            **({"annotations": {k: v for k, v in annotations.items() if v}} if entry.manager else {}),
        },
        "type": "Opaque",
        "data": {k: _b64(v) for k, v in values.items() if v},
    }


# ----------------------------------------------------------------------------- kubeconfig


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ClusterConfigError(f"{what}: cannot read {path}: {reason}", retryable=False) from None


def _configuration(access: KubeconfigAccess, context: str, *, refuse: Sequence[str] = ()) -> Any:
    """The kubernetes library's Configuration for ``context`` (its user's ``refuse`` kinds refused first)."""
    from activities.kubeaccess import KubeAccessError

    where = access.describe()
    try:
        names = [name for name, _ in access.contexts()]
        if context not in names:
            available = ", ".join(sorted(names)) or "none"
            raise ClusterConfigError(f"{where} has no context {context!r} (contexts: {available})", retryable=False)
        user = access.user(context)
        for key in refuse:
            if user.get(key):
                raise ClusterConfigError(
                    f"{where}: context {context!r} authenticates with {key}, whose short-lived credentials a "
                    "cluster Secret cannot hold: let Bosun install its bosun-manager ServiceAccount there "
                    "(leave out --use-own-credentials)",
                    retryable=False,
                )
        return access.with_context(context).api_client().configuration
    except KubeAccessError as exc:
        raise ClusterConfigError(str(exc), retryable=False) from None


def _endpoint(conf: Any, where: str, context: str, name: str) -> ClusterEntry:
    server = _normalize_server(str(conf.host or ""))
    if not server:
        raise ClusterConfigError(f"{where}: context {context!r} has no server", retryable=False)
    return ClusterEntry(
        name=name or context,
        server=server,
        ca_data=_read(conf.ssl_ca_cert, f"{where}: certificate-authority") if conf.ssl_ca_cert else "",
        insecure=not conf.verify_ssl,
        server_name=str(conf.tls_server_name or ""),
    )


def cluster_endpoint(access: KubeconfigAccess, context: str, *, name: str = "") -> ClusterEntry:
    """Where ``context`` reaches its cluster (server, CA, TLS settings), as the kubernetes library
    loads it, without its user's credentials: what a cluster Secret holding a bosun-manager
    token needs besides the token. Raises ClusterConfigError."""
    return _endpoint(_configuration(access, context), access.describe(), context, name)


def cluster_from_kubeconfig(path: Path | Sequence[Path], context: str, *, name: str = "") -> ClusterEntry:
    """The cluster and user of ``context`` in kubeconfig ``path`` (files merged as kubectl merges
    ``KUBECONFIG``), named ``name`` (default: the context): the operator's own credentials, as the
    kubernetes library loads them (``tokenFile``, paths relative to their kubeconfig). ``exec`` and
    auth-provider users are refused: what they yield expires, so a cluster Secret cannot hold it
    (``bosun cluster add`` without ``--use-own-credentials`` installs bosun-manager instead).
    Raises ClusterConfigError (never quoting a credential)."""
    from activities.kubeaccess import KubeconfigAccess

    access = KubeconfigAccess.of(path if isinstance(path, Path) else tuple(path))
    where = access.describe()
    conf = _configuration(access, context, refuse=UNSUPPORTED_USER)
    scheme, _, value = str((conf.api_key or {}).get("BearerToken") or "").partition(" ")
    username = password = token = ""
    if scheme.lower() == "basic":
        username, _, password = base64.b64decode(value).decode().partition(":")
    elif scheme.lower() == "bearer":
        token = value.strip()
    return replace(
        _endpoint(conf, where, context, name),
        bearer_token=token,
        username=username,
        password=password,
        cert_data=_read(conf.cert_file, f"{where}: client-certificate") if conf.cert_file else "",
        key_data=_read(conf.key_file, f"{where}: client-key") if conf.key_file else "",
    )


# ----------------------------------------------------------------------------- management cluster


class ClusterSecrets(ManagementSecrets):
    """The cluster Secrets in the management cluster: read (worker), write (CLI)."""

    error = ClusterConfigError

    def list(self) -> ClusterSnapshot:
        """Every cluster Secret in the namespace; those that cannot be parsed go to ``errors``."""
        entries, errors = [], []
        for secret in self.secrets(f"{SECRET_TYPE_LABEL}={CLUSTER}", "cluster Secrets"):
            try:
                entries.append(cluster_from_secret(secret))
            except ClusterConfigError as exc:
                errors.append((str(secret["metadata"]["name"]), str(exc)))
        return ClusterSnapshot(
            tuple(sorted(entries, key=lambda e: (e.name, e.server, e.secret))), tuple(sorted(errors))
        )


class ClusterSecretStore(Cached[ClusterSnapshot]):
    """Cluster Secrets, re-read at most every ``ttl`` seconds. Thread-safe."""

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: KubeAccess | Path,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        context: str | None = None,
        ttl: float = CACHE_SECONDS,
    ) -> ClusterSecretStore:
        return cls(ClusterSecrets(kubeconfig, namespace=namespace, context=context).list, ttl=ttl)

    @classmethod
    def static(cls, entries: Sequence[ClusterEntry] = (), errors: Sequence[tuple[str, str]] = ()) -> ClusterSecretStore:
        """A test double: fixed clusters, no management cluster."""
        snapshot = ClusterSnapshot(tuple(entries), tuple(errors))
        return cls(lambda: snapshot, ttl=float("inf"))
