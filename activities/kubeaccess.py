"""How Bosun reaches a Kubernetes API server: the one home for "an ApiClient for cluster X".

Every client Bosun makes comes from one of these, built by the kubernetes library's own
loaders (nothing here parses credentials by hand):

:class:`KubeconfigAccess`
    One context of kubeconfig files merged as kubectl merges ``KUBECONFIG`` (the first file
    that defines a name wins; the current context is the first file's that sets one). The
    library supports client certificates, ``token``/``tokenFile`` users, basic auth,
    ``exec`` plugins (EKS/GKE/AKS) and auth providers; an ``exec`` credential is renewed
    by the library's refresh hook when it expires. Refreshed credentials are never written
    back into the file (``persist_config=False``).
:class:`InClusterAccess`
    The pod's ServiceAccount: ``token`` and ``ca.crt`` in
    ``/var/run/secrets/kubernetes.io/serviceaccount`` (``BOSUN_SERVICEACCOUNT_DIR`` overrides
    the directory, for tests and unusual mounts) and ``KUBERNETES_SERVICE_HOST``/``_PORT``,
    through the library's ``InClusterConfigLoader``: it re-reads the token file every minute,
    so a bound ServiceAccount token that the kubelet rotates keeps working.
:func:`client_from_dict`
    A kubeconfig document held in memory (a cluster Secret's, :meth:`ClusterEntry.kubeconfig`).

:func:`management_access` says which one the management cluster is (where Settings, cluster
and repository Secrets and Application resources live): ``BOSUN_KUBECONFIG``, else
``KUBECONFIG``, else in-cluster when running in a pod (``KUBERNETES_SERVICE_HOST`` set),
else ``~/.kube/config`` — as Argo CD, which uses in-cluster config in its pods.

Every client is a :class:`CountingApiClient`: each request it makes is counted in
``argocd_app_k8s_request_total`` (:mod:`bosun.metrics`), labelled with the app whose activity made it.

To add a kind of access, add a class with ``api_client()``, ``describe()`` and ``contexts()``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from kubernetes import config as k8s_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config import incluster_config, kube_config
from temporalio import activity

from bosun import metrics
from bosun.paths import default_kubeconfig

SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where Kubernetes mounts a pod's ServiceAccount token, CA and namespace."""
SERVICEACCOUNT_DIR_ENV = "BOSUN_SERVICEACCOUNT_DIR"
SERVICE_HOST_ENV = incluster_config.SERVICE_HOST_ENV_NAME
SERVICE_PORT_ENV = incluster_config.SERVICE_PORT_ENV_NAME


REQUEST_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds of every request to a cluster that does not set its own: a cluster
that accepts connections and never answers fails the call (retryable) instead of holding one of
its queue's activity slots for ever. Watches set their own (activities/kube.py)."""


class CountingApiClient(ApiClient):
    """The kubernetes library's ApiClient, counting every request it sends (``call_api`` is the one
    method all of them go through: typed APIs, the DynamicClient and watches), each with a timeout
    (:data:`REQUEST_TIMEOUT` unless the call sets one; a watch without one keeps none)."""

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None and len(args) < 4 and "watch=true" not in url.lower():
            kwargs["_request_timeout"] = REQUEST_TIMEOUT
        status = 0
        try:
            response = super().call_api(method, url, *args, **kwargs)
            status = int(getattr(response, "status", 0) or 0)
            return response
        except Exception as exc:  # noqa: BLE001 - counted, then raised unchanged
            status = int(getattr(exc, "status", 0) or 0)
            raise
        finally:
            _count(self.configuration.host, method, url, status)


def _count(server: str, method: str, url: str, status: int) -> None:
    parts = urlsplit(url)
    verb, resource, namespace, dry_run = metrics.describe_k8s_request(method, parts.path, parts.query)
    app_namespace, app = (
        metrics.app_of_workflow(activity.info().workflow_id or "") if activity.in_activity() else ("", "")
    )
    metrics.count_k8s_request(
        server=server,
        verb=verb,
        kind=resource,
        resource_namespace=namespace,
        status=status,
        dry_run=dry_run,
        app=app,
        app_namespace=app_namespace,
    )


class KubeAccessError(Exception):
    """The credentials could not be loaded (a bad kubeconfig, no token file, ...); never retryable."""


class KubeAccess(Protocol):
    """Something that makes API clients for one cluster."""

    def api_client(self) -> ApiClient: ...

    def describe(self) -> str:
        """Where the credentials come from, for messages (never a credential)."""
        ...

    def contexts(self) -> list[tuple[str, str]]:
        """(context, server URL) of every kubeconfig context, the current one first; in-cluster: none."""
        ...


def _temp_dir() -> str:
    """Where the library writes inline certificates as files: private to this user."""
    path = Path(tempfile.gettempdir()) / f"bosun-kube-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)


@dataclass(frozen=True)
class KubeconfigAccess:
    """A context (default: the current one) of kubeconfig ``files``, merged as kubectl does."""

    files: tuple[Path, ...]
    context: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False, hash=False)

    @classmethod
    def of(cls, files: list[Path] | tuple[Path, ...] | Path, context: str | None = None) -> KubeconfigAccess:
        paths = (files,) if isinstance(files, Path) else tuple(files)
        return cls(tuple(p.expanduser() for p in paths), context)

    @property
    def _joined(self) -> str:
        return os.pathsep.join(str(p) for p in self.files)

    def describe(self) -> str:
        where = ", ".join(str(p) for p in self.files)
        return f"kubeconfig {where}" + (f" (context {self.context})" if self.context else "")

    def with_context(self, context: str) -> KubeconfigAccess:
        return KubeconfigAccess(self.files, context)

    def _merged(self) -> dict[str, Any]:
        """The merged document (plain dicts), read again only when a file changes."""
        stamps = []
        for path in self.files:
            try:
                stat = path.stat()
                stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append((str(path), 0, 0))
        with self._lock:
            if self._cache.get("stamps") == stamps:
                return dict(self._cache["merged"])
        existing = [p for p in self.files if p.is_file()]
        if not existing:
            raise KubeAccessError(f"kubeconfig {self._joined} not found")
        try:
            merger: Any = _untyped(kube_config.KubeConfigMerger)(os.pathsep.join(str(p) for p in existing))
            node = merger.config
        except Exception as exc:  # noqa: BLE001 - YAML or I/O errors of the library
            raise KubeAccessError(f"cannot read kubeconfig {self._joined}: {exc}") from None
        if node is None:
            raise KubeAccessError(f"kubeconfig {self._joined} holds no configuration")
        merged = {key: _plain(value) for key, value in dict(node.value).items()}
        # kubectl: the first file that sets current-context wins (the library keeps the last).
        currents = [merger.config_files[str(path)].get("current-context") for path in existing]
        merged["current-context"] = next((c for c in currents if c), merged.get("current-context"))
        with self._lock:
            self._cache.update(stamps=stamps, merged=merged)
        return dict(merged)

    def current_context(self) -> str:
        return self.context or str(self._merged().get("current-context") or "")

    def contexts(self) -> list[tuple[str, str]]:
        merged = self._merged()
        servers = {
            str(c.get("name")): str((c.get("cluster") or {}).get("server") or "") for c in merged.get("clusters") or []
        }
        found = [
            (str(c.get("name")), servers.get(str((c.get("context") or {}).get("cluster")), ""))
            for c in merged.get("contexts") or []
            if isinstance(c, dict) and c.get("name")
        ]
        current = self.current_context()
        return sorted(found, key=lambda c: c[0] != current)

    def api_client(self) -> ApiClient:
        context = self.current_context() or None
        names = [name for name, _ in self.contexts()]
        if context is not None and context not in names:
            raise KubeAccessError(
                f"kubeconfig {self._joined} has no context {context!r} (contexts: {', '.join(sorted(names)) or 'none'})"
            )
        configuration = Configuration()
        try:
            loader = _untyped(kube_config._get_kube_config_loader)(  # noqa: SLF001 - the merging loader
                filename=self._joined, active_context=context, persist_config=False, temp_file_path=_temp_dir()
            )
            loader.load_and_set(configuration)
        except Exception as exc:  # noqa: BLE001 - ConfigException, exec failures, unreadable files
            raise KubeAccessError(f"cannot use {self.describe()}: {exc}") from None
        return CountingApiClient(configuration)

    def user(self, context: str | None = None) -> dict[str, Any]:
        """The user entry of ``context`` (default: this access's), to see how it authenticates."""
        merged = self._merged()
        wanted = context or self.current_context()
        ctx = next((c for c in merged.get("contexts") or [] if c.get("name") == wanted), None)
        user_name = ((ctx or {}).get("context") or {}).get("user")
        user = next((u for u in merged.get("users") or [] if u.get("name") == user_name), None)
        return dict((user or {}).get("user") or {})


def _untyped(fn: Any) -> Any:
    """The kubernetes library's config loaders carry no type hints."""
    return fn


def _plain(value: Any) -> Any:
    """The library's ConfigNode wrappers as plain dicts and lists."""
    if isinstance(value, kube_config.ConfigNode):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class InClusterAccess:
    """The pod's ServiceAccount (token and CA files in ``directory``) and the service host/port."""

    directory: Path
    host: str
    port: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InClusterAccess:
        return cls(
            Path(env.get(SERVICEACCOUNT_DIR_ENV) or SERVICEACCOUNT_DIR),
            env.get(SERVICE_HOST_ENV, ""),
            env.get(SERVICE_PORT_ENV) or "443",
        )

    def describe(self) -> str:
        return f"in-cluster ServiceAccount ({self.directory})"

    def contexts(self) -> list[tuple[str, str]]:
        return []

    def namespace(self) -> str:
        """The pod's namespace (the ``namespace`` file), "" if not mounted."""
        try:
            return (self.directory / "namespace").read_text().strip()
        except OSError:
            return ""

    def api_client(self) -> ApiClient:
        configuration = Configuration()
        loader = _untyped(incluster_config.InClusterConfigLoader)(
            token_filename=str(self.directory / "token"),
            cert_filename=str(self.directory / "ca.crt"),
            try_refresh_token=True,
            environ={SERVICE_HOST_ENV: self.host, SERVICE_PORT_ENV: self.port},
        )
        try:
            loader.load_and_set(configuration)
        except Exception as exc:  # noqa: BLE001 - ConfigException, unreadable files
            raise KubeAccessError(f"cannot use the {self.describe()}: {exc}") from None
        return CountingApiClient(configuration)


def client_from_dict(config: dict[str, Any], context: str) -> ApiClient:
    """A client from a kubeconfig document in memory (a cluster Secret's credentials)."""
    load: Any = k8s_config.load_kube_config_from_dict  # untyped
    configuration = Configuration()
    try:
        load(
            config,
            context=context,
            client_configuration=configuration,
            persist_config=False,
            temp_file_path=_temp_dir(),
        )
    except Exception as exc:  # noqa: BLE001 - ConfigException
        raise KubeAccessError(f"cannot use the credentials of cluster {context!r}: {exc}") from None
    return CountingApiClient(configuration)


def kubeconfig_files(value: str | None) -> list[Path]:
    """A ``KUBECONFIG``-style list as paths."""
    return [Path(p).expanduser() for p in (value or "").split(os.pathsep) if p]


def management_access(env: Mapping[str, str] | None = None) -> KubeAccess:
    """The management cluster, as the worker and CLI find it (see the module docstring)."""
    env = os.environ if env is None else env
    explicit = env.get("BOSUN_KUBECONFIG") or env.get("KUBECONFIG")
    if explicit:
        return KubeconfigAccess.of(kubeconfig_files(explicit))
    if env.get(SERVICE_HOST_ENV):
        return InClusterAccess.from_env(env)
    return KubeconfigAccess.of(default_kubeconfig())
