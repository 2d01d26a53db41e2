"""The Kubernetes API as Bosun's activities need it, behind our own small interface.

:class:`ClusterRegistry` maps an Application destination (server URL or cluster name)
to a :class:`KubeClient`, from kubeconfig files the worker was given — credentials stay
in the worker. :class:`KubeClient` wraps the kubernetes client's DynamicClient with
plain-dict objects and one error type, :class:`KubeError`, that says whether retrying
can help, so activities classify failures without knowing the client library::

    KubeError
      retryable=True   5xx, 429, 409 conflicts, timeouts, connection errors
      retryable=False  other 4xx: invalid object, forbidden, unknown kind
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import urllib3
import yaml
from kubernetes import config as k8s_config
from kubernetes.client import ApiClient, ApisApi, CoreApi, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import Resource

from activities.contracts import Destination
from bosun.resources import Manifest, ResourceKey

FIELD_MANAGER = "bosun"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
INFO_TIMEOUT = (3.0, 10.0)
"""(connect, read) seconds for the server-version calls made outside the cluster's own task queue."""


class KubeError(Exception):
    def __init__(self, message: str, *, retryable: bool, status: int = 0) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class UnknownKind(KubeError):
    """The cluster serves no such apiVersion/kind (yet: its CRD may come in this sync)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"the server has no resource type {kind} in {api_version}", retryable=False, status=404)


def _translate(exc: Exception, what: str) -> KubeError:
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        message = exc.reason or ""
        try:
            body = json.loads(exc.body) if exc.body else {}
            message = body.get("message") or message
        except (ValueError, TypeError, AttributeError):
            pass
        retryable = status >= 500 or status in (0, 408, 409, 429)
        return KubeError(f"{what}: {message}", retryable=retryable, status=status)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return KubeError(f"{what}: cluster unreachable: {exc}", retryable=True)
    return KubeError(f"{what}: {exc}", retryable=False)


class KubeClient:
    """One cluster. Thread-safe for the calls activities make."""

    def __init__(self, api_client: ApiClient, *, name: str) -> None:
        self.name = name
        self._api_client = api_client
        self._dynamic: DynamicClient | None = None
        self._info: tuple[float, str, list[str]] | None = None
        self._lock = threading.Lock()
        self._discovery_lock = threading.Lock()
        self._last_refresh: dict[tuple[str, str], float] = {}

    @property
    def dynamic(self) -> DynamicClient:
        with self._lock:
            if self._dynamic is None:
                try:
                    self._dynamic = DynamicClient(self._api_client)
                except Exception as exc:  # noqa: BLE001 - discovery: classify it
                    raise _translate(exc, f"discovery on cluster {self.name}") from None
            return self._dynamic

    def server_info(self) -> tuple[str, list[str]]:
        """(Kubernetes version, served group/versions) for Helm's --kube-version and
        --api-versions, as Argo CD passes them; cached for five minutes."""
        with self._lock:
            cached = self._info
            if cached is not None and time.monotonic() - cached[0] < 300:
                return cached[1], cached[2]
        try:
            # Bounded: this runs in the render activity, on the worker's main task queue.
            version = VersionApi(self._api_client).get_code(_request_timeout=INFO_TIMEOUT)
            core = CoreApi(self._api_client).get_api_versions(_request_timeout=INFO_TIMEOUT)
            groups = ApisApi(self._api_client).get_api_versions(_request_timeout=INFO_TIMEOUT)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"discovery on cluster {self.name}") from None
        api_versions = list(core.versions or [])
        for group in groups.groups or []:
            api_versions += [v.group_version for v in group.versions or []]
        git_version = str(version.git_version or "")
        with self._lock:
            self._info = (time.monotonic(), git_version, sorted(set(api_versions)))
        return git_version, sorted(set(api_versions))

    def resource(self, api_version: str, kind: str) -> Resource:
        """The API resource for apiVersion/kind, refreshing discovery once on a miss.

        The client library's discovery cache is not thread-safe (a refresh clears it under
        concurrent readers), so lookups are serialised; they are in-memory and fast. A
        miss refreshes discovery — a CRD may have just been created — but at most once a
        second per kind, so a kind that does not exist cannot cause a refresh storm.
        """
        dynamic = self.dynamic
        with self._discovery_lock:
            for attempt in range(2):
                try:
                    return dynamic.resources.get(api_version=api_version, kind=kind)
                except ResourceNotFoundError:
                    last = self._last_refresh.get((api_version, kind), 0.0)
                    if attempt == 1 or time.monotonic() - last < 1.0:
                        break
                    self._last_refresh[(api_version, kind)] = time.monotonic()
                    dynamic.resources.invalidate_cache()
                except ApiException as exc:
                    raise _translate(exc, f"discovery of {api_version} {kind}") from None
                except (KeyError, ValueError) as exc:  # a discovery document being refreshed
                    raise KubeError(f"discovery of {api_version} {kind}: {exc!r}", retryable=True) from None
        raise UnknownKind(api_version, kind)

    def preferred_api_version(self, group: str, kind: str) -> str:
        """The apiVersion the cluster prefers for group/kind (``v1`` for the core group)."""
        if not group:
            return "v1"
        with self._discovery_lock:
            try:
                found = self.dynamic.resources.get(group=group, kind=kind, preferred=True)
            except ResourceNotFoundError:
                raise UnknownKind(group, kind) from None
            except (KeyError, ValueError) as exc:
                raise KubeError(f"discovery of {group} {kind}: {exc!r}", retryable=True) from None
        return str(found.group_version)

    def namespaced(self, api_version: str, kind: str) -> bool:
        return bool(self.resource(api_version, kind).namespaced)

    def get(self, obj: Manifest) -> Manifest | None:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            found = self.dynamic.get(resource, name=meta["name"], namespace=meta.get("namespace") or None)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc, f"read {_describe(obj)}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"read {_describe(obj)}") from None
        return dict(found.to_dict())

    def apply(self, obj: Manifest, *, dry_run: bool = False, force: bool = True,
              validate: bool = True) -> Manifest:
        """Server-side apply as field manager ``bosun`` (dry run: nothing is persisted).
        ``validate=False`` is Argo CD's Validate=false: unknown fields are dropped, not refused."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": force}
        if dry_run:
            kwargs["dry_run"] = "All"
        if not validate:
            kwargs["field_validation"] = "Ignore"
        try:
            result = self.dynamic.server_side_apply(
                resource, body=obj, name=meta["name"], namespace=meta.get("namespace") or None, **kwargs
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"apply {_describe(obj)}") from None
        return dict(result.to_dict())

    def replace(self, obj: Manifest, *, dry_run: bool = False) -> Manifest:
        """Argo CD's Replace=true: create, or PUT over the live object (kubectl replace)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        namespace = meta.get("namespace") or None
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER}
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            live = self.get(obj)
            if live is None:
                result = self.dynamic.create(resource, body=obj, namespace=namespace, **kwargs)
            else:
                body = {**obj, "metadata": {**meta, "resourceVersion": live["metadata"]["resourceVersion"]}}
                result = self.dynamic.replace(resource, body=body, name=meta["name"], namespace=namespace, **kwargs)
        except KubeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"replace {_describe(obj)}") from None
        return dict(result.to_dict())

    def delete(self, obj: Manifest, *, propagation_policy: str = "Foreground") -> bool:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation_policy}
        try:
            self.dynamic.delete(resource, name=meta["name"], namespace=meta.get("namespace") or None, body=body)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _translate(exc, f"delete {_describe(obj)}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"delete {_describe(obj)}") from None
        return True

    def merge_patch(self, obj: Manifest, patch: Manifest) -> Manifest | None:
        """A JSON merge patch of ``obj`` (by apiVersion/kind/name/namespace); None if it is gone.
        A ``metadata.resourceVersion`` in the patch makes it conditional (409 if it changed)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            result = self.dynamic.patch(resource, body=patch, name=meta["name"],
                                        namespace=meta.get("namespace") or None,
                                        content_type="application/merge-patch+json")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc, f"patch {_describe(obj)}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"patch {_describe(obj)}") from None
        return dict(result.to_dict())

    def list(self, api_version: str, kind: str, *, label_selector: str = "",
             namespace: str | None = None) -> list[Manifest]:
        resource = self.resource(api_version, kind)
        try:
            listing = self.dynamic.get(resource, label_selector=label_selector or None, namespace=namespace)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"list {kind}") from None
        items = listing.to_dict().get("items") or []
        for item in items:  # list items lack apiVersion/kind
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return list(items)


def _describe(obj: Manifest) -> str:
    return ResourceKey.of(obj).short + (f" in namespace {obj['metadata'].get('namespace')}"
                                         if obj["metadata"].get("namespace") else "")


@dataclass(frozen=True)
class KnownCluster:
    """A destination cluster by name and API server URL; ``origin`` says where it was declared."""

    name: str
    server: str
    origin: str
    namespaces: tuple[str, ...] = ()
    """Argo CD's namespaced cluster: only these namespaces may be deployed to (empty: all)."""
    cluster_resources: bool = True
    """Whether cluster-scoped objects may be deployed (a namespaced cluster's ``clusterResources``)."""
    kubeconfig: Path | None = None
    """Declared in this kubeconfig file (with ``context``), or else by ``secret``."""
    context: str = ""
    secret: Any = field(default=None, repr=False, compare=False)
    """The cluster Secret's entry (:class:`activities.clusters.ClusterEntry`): its credentials."""

    def violations(self, objects: list[Manifest]) -> list[str]:
        """What a namespaced cluster's Secret (``namespaces``, ``clusterResources``) forbids here."""
        problems = []
        for obj in objects:
            namespace = obj["metadata"].get("namespace")
            if namespace and self.namespaces and namespace not in self.namespaces:
                problems.append(f"{ResourceKey.of(obj).short}: cluster {self.name!r} permits only namespaces "
                                f"{', '.join(self.namespaces)} (its Secret's namespaces)")
            elif not namespace and not self.cluster_resources:
                problems.append(f"{ResourceKey.of(obj).short}: cluster {self.name!r} does not permit "
                                "cluster-scoped resources (its Secret's clusterResources)")
        return problems


class ClusterSource(Protocol):
    """Argo CD's cluster Secrets, as :class:`activities.clusters.ClusterSecretStore` reads them."""

    def snapshot(self) -> Any: ...


class ClusterRegistry:
    """The clusters the worker can reach, and a client for each.

    Two sources, as Argo CD has: kubeconfig files given to the worker (the first file's
    current context is the in-cluster destination ``in-cluster`` /
    ``https://kubernetes.default.svc``; every context is also a cluster named after it),
    and cluster Secrets (``argocd.argoproj.io/secret-type: cluster``) in the management
    cluster, re-read every few seconds so ``bosun cluster add`` needs no worker restart.
    A destination is matched by server URL or by name; credentials never leave the worker.
    """

    def __init__(self, kubeconfigs: list[Path], secrets: ClusterSource | None = None) -> None:
        self._kubeconfigs = kubeconfigs
        self._secrets = secrets
        self._last_entries: tuple[Any, ...] = ()
        self._parsed: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}
        self._clients: dict[tuple[str, ...], KubeClient] = {}
        self._lock = threading.Lock()

    def _contexts(self) -> list[tuple[Path, str, str]]:
        """(file, context, server URL) for every context of every kubeconfig; the first
        file's current context first."""
        found = []
        for i, path in enumerate(self._kubeconfigs):
            config = self._kubeconfig(path)
            servers = {c["name"]: c["cluster"].get("server", "") for c in config.get("clusters") or []}
            contexts = [(path, ctx["name"], servers.get(ctx["context"].get("cluster"), ""))
                        for ctx in config.get("contexts") or []]
            if i == 0:
                current = config.get("current-context")
                contexts.sort(key=lambda c: c[1] != current)
            found += contexts
        return found

    def _kubeconfig(self, path: Path) -> dict[str, Any]:
        """The parsed kubeconfig, read again only when the file changes (every activity
        resolves its destination: parsing YAML each time is measurable)."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._parsed.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        config = yaml.safe_load(path.read_text()) or {}
        with self._lock:
            self._parsed[path] = (stamp, config)
        return config

    def _secret_entries(self) -> tuple[list[Any], list[tuple[str, str]]]:
        """The cluster Secrets' entries and errors. While the management cluster cannot be
        read, the clusters last read stay known: apps on them keep syncing."""
        if self._secrets is None:
            return [], []
        try:
            snapshot = self._secrets.snapshot()
        except Exception as exc:  # noqa: BLE001 - the management cluster is down: keep what we knew
            return list(self._last_entries), [("", f"cluster Secrets unreadable: {exc}")]
        self._last_entries = tuple(snapshot.entries)
        return list(snapshot.entries), list(snapshot.errors)

    def clusters(self) -> list[KnownCluster]:
        """Every cluster, ``in-cluster`` first; a name declared twice keeps its first declaration."""
        contexts = self._contexts()
        found: dict[str, KnownCluster] = {}
        if contexts:
            path, context, _ = contexts[0]
            found[IN_CLUSTER_NAME] = KnownCluster(IN_CLUSTER_NAME, IN_CLUSTER_SERVER, f"kubeconfig {path}",
                                                  kubeconfig=path, context=context)
        for path, context, url in contexts:
            found.setdefault(context, KnownCluster(context, url.rstrip("/"), f"kubeconfig {path}",
                                                   kubeconfig=path, context=context))
        entries, _ = self._secret_entries()
        for entry in entries:
            found.setdefault(entry.name, KnownCluster(
                entry.name, entry.server.rstrip("/"), f"Secret {entry.secret}", namespaces=tuple(entry.namespaces),
                cluster_resources=entry.cluster_resources or not entry.namespaces, secret=entry))
        return list(found.values())

    def resolve(self, destination: Destination) -> KnownCluster:
        """The cluster ``destination`` names (by server URL or name); a clear error if none."""
        server, name = destination.server.rstrip("/"), destination.name
        if not server and not name:
            raise KubeError("the destination names no cluster (spec.destination.server or .name)", retryable=False)
        clusters = self.clusters()
        if not clusters:
            raise KubeError("the worker has no kubeconfig for any cluster (set BOSUN_KUBECONFIG)", retryable=False)
        if server == IN_CLUSTER_SERVER or name == IN_CLUSTER_NAME:
            return clusters[0]
        for cluster in clusters:
            if (server and cluster.server == server) or (name and cluster.name == name):
                return cluster
        _, errors = self._secret_entries()
        hint = "; ".join(f"{secret}: {message}" if secret else message for secret, message in errors)
        raise KubeError(f"cluster {destination.describe()!r} is not known to Bosun (add it with `bosun cluster add`)"
                        + (f"; unusable cluster Secrets: {hint}" if hint else ""), retryable=False)

    def client(self, destination: Destination) -> KubeClient:
        cluster = self.resolve(destination)
        if cluster.secret is None:
            path, context = str(cluster.kubeconfig), cluster.context
            key: tuple[str, ...] = ("kubeconfig", path, context)
            build = lambda: k8s_config.new_client_from_config(config_file=path, context=context)  # noqa: E731
        else:
            kubeconfig = cluster.secret.kubeconfig()
            # A changed Secret (rotated token, new server) gets a new client.
            fingerprint = hashlib.sha256(json.dumps(kubeconfig, sort_keys=True).encode()).hexdigest()
            key = ("secret", cluster.name, fingerprint)
            build = lambda: k8s_config.new_client_from_config_dict(kubeconfig, context=cluster.name)  # noqa: E731
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                cached = KubeClient(build(), name=cluster.name)
                self._clients[key] = cached
            return cached
