"""Bosun's Secrets in the management cluster's control namespace, as Argo CD keeps them.

Repository credentials (:mod:`activities.credentials`) and destination clusters
(:mod:`activities.clusters`) are both Secrets labelled ``argocd.argoproj.io/secret-type``
in one namespace; the worker reads them and the CLI writes them. :class:`ManagementSecrets`
is the Kubernetes side they share: a lazily built client (:mod:`activities.kubeaccess`: a kubeconfig or the
pod's ServiceAccount), short request
timeouts, and failures turned into the caller's error type with a message that names the
namespace and never a secret value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:  # the kubernetes library loads when a client is first needed (CLI start-up time)
    from activities.kubeaccess import KubeAccess

DEFAULT_NAMESPACE = "bosun"
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
REQUEST_TIMEOUT = 15
CACHE_SECONDS = 5.0
"""How long what was read stays good: every git call or cluster lookup does not hit the API server,
and a change (``bosun repo add``, ``bosun cluster add``) is seen within seconds."""

T = TypeVar("T")


class ManagementError(Exception):
    """The management cluster could not be used; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ManagementSecrets:
    """Secrets (and ConfigMaps) of the control namespace; subclasses say which error they raise."""

    error: ClassVar[type[ManagementError]] = ManagementError

    def __init__(
        self, access: KubeAccess | Path, *, namespace: str = DEFAULT_NAMESPACE, context: str | None = None
    ) -> None:
        """``access``: the management cluster (a kubeconfig file and ``context`` is the CLI's usual case)."""
        from activities.kubeaccess import KubeconfigAccess

        self.access: KubeAccess = KubeconfigAccess.of(access, context) if isinstance(access, Path) else access
        self.namespace = namespace
        self._core: Any = None
        self._lock = threading.Lock()

    @property
    def _api(self) -> Any:
        from kubernetes import client as k8s_client

        from activities.kubeaccess import KubeAccessError

        with self._lock:
            if self._core is None:
                try:
                    api = self.access.api_client()
                except KubeAccessError as exc:  # a bad or missing kubeconfig, no token file
                    raise self.error(f"{exc} (the management cluster)", retryable=False) from None
                self._core = k8s_client.CoreV1Api(api)
            return self._core

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn()
        except ManagementError:
            raise
        except ApiException as exc:
            status = int(exc.status or 0)
            raise self.error(
                f"cannot {what} in namespace {self.namespace} of the management cluster: "
                f"{status} {exc.reason or ''}".rstrip(),
                retryable=status not in (401, 403),
            ) from None
        except Exception as exc:  # noqa: BLE001 - connection errors, timeouts
            raise self.error(
                f"cannot {what}: management cluster unreachable: {type(exc).__name__}", retryable=True
            ) from None

    def secrets(self, label_selector: str, what: str) -> list[dict[str, Any]]:
        """The Secrets matching ``label_selector`` as ``{"metadata": …, "data": …}`` dicts;
        none when the namespace does not exist."""
        from kubernetes.client.exceptions import ApiException

        def read() -> list[Any]:
            try:
                listing = self._api.list_namespaced_secret(
                    self.namespace, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as exc:
                if exc.status == 404:
                    return []
                raise
            return list(listing.items or [])

        return [
            {
                "metadata": {
                    "name": item.metadata.name,
                    "namespace": self.namespace,
                    "labels": item.metadata.labels or {},
                    "annotations": item.metadata.annotations or {},
                },
                "data": item.data or {},
            }
            for item in self._call(f"list {what}", read)
        ]

    def config_map_value(self, name: str, key: str) -> str:
        """One value of a ConfigMap; "" if the ConfigMap or the key does not exist."""
        from kubernetes.client.exceptions import ApiException

        def read() -> str:
            try:
                cm = self._api.read_namespaced_config_map(name, self.namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 404:
                    return ""
                raise
            return str((cm.data or {}).get(key) or "")

        return str(self._call(f"read ConfigMap {name}", read))

    def config_map_data(self, name: str) -> dict[str, str] | None:
        """A ConfigMap's ``data``; None if the ConfigMap does not exist."""
        return self._data(
            f"ConfigMap {name}",
            lambda: self._api.read_namespaced_config_map(name, self.namespace, _request_timeout=REQUEST_TIMEOUT),
        )

    def secret_data(self, name: str) -> dict[str, str] | None:
        """A Secret's ``data`` (base64 values, as the API returns them); None if it does not exist."""
        return self._data(
            f"Secret {name}",
            lambda: self._api.read_namespaced_secret(name, self.namespace, _request_timeout=REQUEST_TIMEOUT),
        )

    def _data(self, what: str, read_object: Callable[[], Any]) -> dict[str, str] | None:
        """The ``data`` of the object ``read_object`` reads (a ConfigMap or a Secret); None on 404."""
        from kubernetes.client.exceptions import ApiException

        def read() -> dict[str, str] | None:
            try:
                found = read_object()
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            return {str(k): str(v) for k, v in (found.data or {}).items()}

        data: dict[str, str] | None = self._call(f"read {what}", read)
        return data

    def ensure_namespace(self) -> None:
        from kubernetes.client.exceptions import ApiException

        def ensure() -> None:
            try:
                self._api.read_namespace(self.namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._api.create_namespace({"metadata": {"name": self.namespace}}, _request_timeout=REQUEST_TIMEOUT)

        self._call(f"create namespace {self.namespace}", ensure)

    def put(self, manifest: dict[str, Any], *, upsert: bool) -> bool:
        """Create the Secret; with ``upsert`` replace an existing one. True if it existed."""
        from kubernetes.client.exceptions import ApiException

        name = manifest["metadata"]["name"]

        def put() -> bool:
            try:
                self._api.create_namespaced_secret(self.namespace, manifest, _request_timeout=REQUEST_TIMEOUT)
                return False
            except ApiException as exc:
                if exc.status != 409:
                    raise
            if not upsert:
                raise self.error(f"Secret {self.namespace}/{name} exists (use --upsert to replace it)", retryable=False)
            self._api.replace_namespaced_secret(name, self.namespace, manifest, _request_timeout=REQUEST_TIMEOUT)
            return True

        return bool(self._call(f"write Secret {name}", put))

    def delete(self, name: str) -> None:
        self._call(
            f"delete Secret {name}",
            lambda: self._api.delete_namespaced_secret(name, self.namespace, _request_timeout=REQUEST_TIMEOUT),
        )


class Cached(Generic[T]):
    """What ``read`` returns, read again at most every ``ttl`` seconds. Thread-safe."""

    def __init__(
        self, read: Callable[[], T], *, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._read_at = 0.0

    def snapshot(self) -> T:
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._read_at >= self._ttl:
                self._value = self._read()
                self._read_at = now
            return self._value
