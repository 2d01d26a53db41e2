"""The Kubernetes API as Bosun's activities need it, behind our own small interface.

:class:`ClusterRegistry` maps an Application destination (server URL or cluster name)
to a :class:`KubeClient`, from the credentials the worker was given (a kubeconfig or its
ServiceAccount, :mod:`activities.kubeaccess`) and cluster Secrets — credentials stay in the
worker. :class:`KubeClient` wraps the kubernetes client's DynamicClient with
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3
from kubernetes import watch as k8s_watch
from kubernetes.client import ApiClient, ApisApi, CoreApi, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import Resource

from activities.contracts import Destination
from activities.kubeaccess import KubeAccess, KubeAccessError, KubeconfigAccess, client_from_dict
from activities.livecache import LiveCache
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


_UNREACHABLE_OR_REFUSED = (ApiException, urllib3.exceptions.HTTPError, OSError)
"""What a discovery lookup raises when it goes to the server: a refusal, or a cluster that
cannot be reached (a cache miss or refresh makes a request; :func:`_translate` names it)."""


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


def _as_parsed(_client: object, document: Manifest) -> Manifest:
    """The dynamic client's serializer for a list: the parsed JSON as it is. Its default
    (``ResourceInstance``, turned back into dicts) was a tenth of a worker's CPU when the
    declarative pass listed a thousand Applications."""
    return document


class KubeClient:
    """One cluster. Thread-safe for the calls activities make.

    ``api_calls`` counts the requests it sent to the API server (watch requests and a
    discovery refresh included), so a caller can tell how many a piece of work cost.
    With ``live_cache`` the client keeps a :class:`activities.livecache.LiveCache` of the
    cluster: :meth:`cached_get` reads from it, and this client's writes go through it.
    """

    def __init__(self, api_client: ApiClient, *, name: str, live_cache: bool = False) -> None:
        self.name = name
        self.api_calls = 0
        self.live: LiveCache | None = LiveCache(self) if live_cache else None
        if live_cache:
            _widen_pool(api_client)
        self._api_client = api_client
        self._dynamic: DynamicClient | None = None
        self._info: tuple[float, str, list[str]] | None = None
        self._lock = threading.Lock()
        self._discovery_lock = threading.Lock()
        self._last_refresh: dict[tuple[str, str], float] = {}
        self._count_lock = threading.Lock()

    def _counted(self) -> None:
        with self._count_lock:
            self.api_calls += 1

    def _wrote(self, obj: Manifest) -> None:
        if self.live is not None:
            self.live.observe(obj)

    @property
    def dynamic(self) -> DynamicClient:
        with self._lock:
            if self._dynamic is None:
                try:
                    self._counted()
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
        self._counted()
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
                    try:
                        self._counted()
                        dynamic.resources.invalidate_cache()  # fetches discovery again
                    except _UNREACHABLE_OR_REFUSED as exc:
                        raise _translate(exc, f"discovery of {api_version} {kind}") from None
                except _UNREACHABLE_OR_REFUSED as exc:
                    raise _translate(exc, f"discovery of {api_version} {kind}") from None
                except (KeyError, ValueError) as exc:  # a discovery document being refreshed
                    raise KubeError(f"discovery of {api_version} {kind}: {exc!r}", retryable=True) from None
        raise UnknownKind(api_version, kind)

    def serves(self, group: str, kind: str) -> bool:
        """Whether discovery lists group/kind in any version (the library refreshes on a miss)."""
        dynamic = self.dynamic
        with self._discovery_lock:
            try:
                return bool(dynamic.resources.search(group=group, kind=kind))
            except ResourceNotFoundError:
                return False
            except _UNREACHABLE_OR_REFUSED as exc:
                raise _translate(exc, f"discovery of {group} {kind}") from None
            except (KeyError, ValueError) as exc:  # a discovery document being refreshed
                raise KubeError(f"discovery of {group} {kind}: {exc!r}", retryable=True) from None

    def refresh_discovery(self) -> None:
        """Forget what discovery knew: after a CRD was created (or deleted) on purpose, the
        next lookup must see it, whatever :meth:`resource`'s throttle would allow."""
        dynamic = self.dynamic
        with self._discovery_lock:
            try:
                self._counted()
                dynamic.resources.invalidate_cache()
            except Exception as exc:  # noqa: BLE001 - discovery: classify it
                raise _translate(exc, f"discovery on cluster {self.name}") from None
            self._last_refresh.clear()

    def preferred_api_version(self, group: str, kind: str) -> str:
        """The apiVersion the cluster prefers for group/kind (``v1`` for the core group)."""
        if not group:
            return "v1"
        with self._discovery_lock:
            try:
                found = self.dynamic.resources.get(group=group, kind=kind, preferred=True)
            except ResourceNotFoundError:
                raise UnknownKind(group, kind) from None
            except _UNREACHABLE_OR_REFUSED as exc:
                raise _translate(exc, f"discovery of {group} {kind}") from None
            except (KeyError, ValueError) as exc:
                raise KubeError(f"discovery of {group} {kind}: {exc!r}", retryable=True) from None
        return str(found.group_version)

    def served_kinds(self, *, namespaced: bool) -> list[tuple[str, str]]:
        """(apiVersion, kind) of every listable resource type the cluster serves, each in
        its group's preferred version (subresources and ``...List`` kinds left out)."""
        dynamic = self.dynamic
        with self._discovery_lock:
            try:
                entries = list(dynamic.resources)
            except _UNREACHABLE_OR_REFUSED as exc:
                raise _translate(exc, f"discovery on cluster {self.name}") from None
            except (KeyError, ValueError) as exc:
                raise KubeError(f"discovery on cluster {self.name}: {exc!r}", retryable=True) from None
        found = [r for entry in entries for r in (entry if isinstance(entry, list) else [entry])]
        kinds = {
            (str(r.group_version), str(r.kind))
            for r in found
            if type(r) is Resource and r.preferred and bool(r.namespaced) == namespaced and "list" in (r.verbs or [])
        }
        return sorted(kinds)

    def namespaced(self, api_version: str, kind: str) -> bool:
        return bool(self.resource(api_version, kind).namespaced)

    def get(self, obj: Manifest) -> Manifest | None:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self._counted()
        try:
            found = self.dynamic.get(resource, name=meta["name"], namespace=meta.get("namespace") or None)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc, f"read {_describe(obj)}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"read {_describe(obj)}") from None
        return dict(found.to_dict())

    def cached_get(self, obj: Manifest, *, keep_all: bool = False) -> Manifest | None:
        """:meth:`get`, answered by the live cache when it can (its kind's watch is synced and
        the object is one it keeps: tracked, or any with ``keep_all``); else from the server."""
        if self.live is not None:
            answered, live = self.live.get(obj, keep_all=keep_all)
            if answered:
                return live
        return self.get(obj)

    def apply(self, obj: Manifest, *, dry_run: bool = False, force: bool = True, validate: bool = True) -> Manifest:
        """Server-side apply as field manager ``bosun`` (dry run: nothing is persisted).
        ``validate=False`` is Argo CD's Validate=false: unknown fields are dropped, not refused."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": force}
        if dry_run:
            kwargs["dry_run"] = "All"
        if not validate:
            kwargs["field_validation"] = "Ignore"
        self._counted()
        try:
            result = self.dynamic.server_side_apply(
                resource, body=obj, name=meta["name"], namespace=meta.get("namespace") or None, **kwargs
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"apply {_describe(obj)}") from None
        applied = dict(result.to_dict())
        if not dry_run:
            self._wrote(applied)
        return applied

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
            self._counted()
            if live is None:
                result = self.dynamic.create(resource, body=obj, namespace=namespace, **kwargs)
            else:
                body = {**obj, "metadata": {**meta, "resourceVersion": live["metadata"]["resourceVersion"]}}
                result = self.dynamic.replace(resource, body=body, name=meta["name"], namespace=namespace, **kwargs)
        except KubeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"replace {_describe(obj)}") from None
        replaced = dict(result.to_dict())
        if not dry_run:
            self._wrote(replaced)
        return replaced

    def delete(self, obj: Manifest, *, propagation_policy: str = "Foreground") -> bool:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation_policy}
        self._counted()
        try:
            self.dynamic.delete(resource, name=meta["name"], namespace=meta.get("namespace") or None, body=body)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _translate(exc, f"delete {_describe(obj)}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"delete {_describe(obj)}") from None
        if self.live is not None and propagation_policy != "Foreground":
            self.live.forget(obj)  # a foreground deletion keeps the object until its dependents are gone
        return True

    def merge_patch(
        self, obj: Manifest, patch: Manifest, *, subresource: str = "", field_manager: str | None = None
    ) -> Manifest | None:
        """A JSON merge patch of ``obj`` (by apiVersion/kind/name/namespace); None if it is gone
        (or the kind has no such ``subresource``). A ``metadata.resourceVersion`` in the patch
        makes it conditional (409 if it changed)."""
        resource: Any = self.resource(obj["apiVersion"], obj["kind"])
        if subresource:
            resource = (getattr(resource, "subresources", None) or {}).get(subresource)
            if resource is None:
                return None
        meta = obj["metadata"]
        extra: dict[str, Any] = {"field_manager": field_manager} if field_manager else {}
        self._counted()
        try:
            result = self.dynamic.patch(
                resource,
                body=patch,
                name=meta["name"],
                namespace=meta.get("namespace") or None,
                content_type="application/merge-patch+json",
                **extra,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc, f"patch {_describe(obj)}") from None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"patch {_describe(obj)}") from None
        patched = dict(result.to_dict())
        self._wrote(patched)
        return patched

    def create(self, obj: Manifest, *, dry_run: bool = False, field_manager: str = FIELD_MANAGER) -> Manifest:
        """Create ``obj`` (409 if it exists): what a resource action's ``create`` operation does."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        kwargs: dict[str, Any] = {"field_manager": field_manager}
        if dry_run:
            kwargs["dry_run"] = "All"
        self._counted()
        try:
            result = self.dynamic.create(
                resource, body=obj, namespace=obj["metadata"].get("namespace") or None, **kwargs
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"create {_describe(obj)}") from None
        created = dict(result.to_dict())
        if not dry_run:
            self._wrote(created)
        return created

    def list_with_version(
        self, api_version: str, kind: str, *, label_selector: str = "", namespace: str | None = None
    ) -> tuple[list[Manifest], str]:
        """The objects of a kind and the list's resourceVersion (to :meth:`watch` from);
        :class:`UnknownKind` if the cluster does not serve the kind.

        Discovery is cached: a kind whose CRD was deleted since is still "known" and its
        list answers 404. Then discovery is refreshed, and a kind that is gone is an
        :class:`UnknownKind` (it has no objects), as it would have been with fresh discovery.
        """
        for attempt in range(2):
            resource = self.resource(api_version, kind)
            self._counted()
            try:
                listing = self.dynamic.get(
                    resource, label_selector=label_selector or None, namespace=namespace, serializer=_as_parsed
                )
                break
            except ApiException as exc:
                if exc.status != 404 or attempt == 1:
                    raise _translate(exc, f"list {kind}") from None
                self.refresh_discovery()
            except Exception as exc:  # noqa: BLE001
                raise _translate(exc, f"list {kind}") from None
        document: Manifest = listing
        items = document.get("items") or []
        for item in items:  # list items lack apiVersion/kind
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return list(items), str((document.get("metadata") or {}).get("resourceVersion") or "")

    def list(
        self, api_version: str, kind: str, *, label_selector: str = "", namespace: str | None = None
    ) -> list[Manifest]:
        return self.list_with_version(api_version, kind, label_selector=label_selector, namespace=namespace)[0]

    def watch(
        self, api_version: str, kind: str, *, resource_version: str, timeout_seconds: int, namespace: str | None = None
    ) -> Iterator[tuple[str, Manifest]]:
        """(event type, object) for each change after ``resource_version``, until the server
        ends the stream (about ``timeout_seconds``). KubeError with status 410 (Gone) when
        that version is too old: list again."""
        resource = self.resource(api_version, kind)
        self._counted()
        watcher = k8s_watch.Watch()
        try:
            for event in watcher.stream(
                resource.get,
                namespace=namespace,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True,
                serialize=False,
                _request_timeout=(10, timeout_seconds + 30),
            ):
                obj = event.get("raw_object") or {}
                yield str(event.get("type") or ""), obj
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"watch {kind}") from None
        finally:
            watcher.stop()


CONNECTIONS = 32
"""Kept-alive connections per cluster with a live cache: each watched kind holds one for its
watch, besides the activity threads' requests (urllib3 opens and discards extra ones)."""


def _widen_pool(api_client: ApiClient) -> None:
    """Let ``api_client`` keep :data:`CONNECTIONS` connections (its pools are made on first use)."""
    pool = getattr(getattr(api_client, "rest_client", None), "pool_manager", None)
    settings = getattr(pool, "connection_pool_kw", None)
    if isinstance(settings, dict):
        settings["maxsize"] = max(int(settings.get("maxsize") or 0), CONNECTIONS)


def _describe(obj: Manifest) -> str:
    return ResourceKey.of(obj).described


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
    access: Any = field(default=None, repr=False, compare=False)
    """Declared by the worker's own credentials (:class:`activities.kubeaccess.KubeAccess`), or else by ``secret``."""
    secret: Any = field(default=None, repr=False, compare=False)
    """The cluster Secret's entry (:class:`activities.clusters.ClusterEntry`): its credentials."""

    def violations(self, objects: list[Manifest]) -> list[str]:
        """What a namespaced cluster's Secret (``namespaces``, ``clusterResources``) forbids here."""
        problems = []
        for obj in objects:
            namespace = obj["metadata"].get("namespace")
            if namespace and self.namespaces and namespace not in self.namespaces:
                problems.append(
                    f"{ResourceKey.of(obj).short}: cluster {self.name!r} permits only namespaces "
                    f"{', '.join(self.namespaces)} (its Secret's namespaces)"
                )
            elif not namespace and not self.cluster_resources:
                problems.append(
                    f"{ResourceKey.of(obj).short}: cluster {self.name!r} does not permit "
                    "cluster-scoped resources (its Secret's clusterResources)"
                )
        return problems


class ClusterSource(Protocol):
    """Argo CD's cluster Secrets, as :class:`activities.clusters.ClusterSecretStore` reads them."""

    def snapshot(self) -> Any: ...


class ClusterRegistry:
    """The clusters the worker can reach, and a client for each.

    Two sources, as Argo CD has: the management cluster the worker was given
    (:mod:`activities.kubeaccess`: its kubeconfig's current context, or the pod's ServiceAccount)
    is the in-cluster destination ``in-cluster`` / ``https://kubernetes.default.svc``, and every
    context of its kubeconfig files is also a cluster named after it; and cluster Secrets
    (``argocd.argoproj.io/secret-type: cluster``) in the management cluster, re-read every few
    seconds so ``bosun cluster add`` needs no worker restart. A destination is matched by server
    URL or by name; credentials never leave the worker.
    """

    def __init__(
        self, management: KubeAccess | None, secrets: ClusterSource | None = None, *, live_caches: bool = False
    ) -> None:
        self._management = management
        self._secrets = secrets
        self._live_caches = live_caches
        """Whether each client keeps a watch cache of its cluster (the worker: yes; the CLI: no)."""
        self._live_listener: Callable[[str, Manifest], None] | None = None
        self._last_entries: tuple[Any, ...] = ()
        self._clients: dict[tuple[str, ...], KubeClient] = {}
        self._lock = threading.Lock()

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
        found: dict[str, KnownCluster] = {}
        management = self._management
        if management is not None:
            try:
                contexts = management.contexts()
            except KubeAccessError as exc:
                raise KubeError(str(exc), retryable=False) from None
            in_cluster = management
            if isinstance(management, KubeconfigAccess) and contexts:
                in_cluster = management.with_context(contexts[0][0])
            found[IN_CLUSTER_NAME] = KnownCluster(
                IN_CLUSTER_NAME, IN_CLUSTER_SERVER, management.describe(), access=in_cluster
            )
            if isinstance(management, KubeconfigAccess):
                for context, url in contexts:
                    access = management.with_context(context)
                    found.setdefault(context, KnownCluster(context, url.rstrip("/"), access.describe(), access=access))
        entries, _ = self._secret_entries()
        for entry in entries:
            found.setdefault(
                entry.name,
                KnownCluster(
                    entry.name,
                    entry.server.rstrip("/"),
                    f"Secret {entry.secret}",
                    namespaces=tuple(entry.namespaces),
                    cluster_resources=entry.cluster_resources or not entry.namespaces,
                    secret=entry,
                ),
            )
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
        raise KubeError(
            f"cluster {destination.describe()!r} is not known to Bosun (add it with `bosun cluster add`)"
            + (f"; unusable cluster Secrets: {hint}" if hint else ""),
            retryable=False,
        )

    def client(self, destination: Destination) -> KubeClient:
        cluster = self.resolve(destination)
        build: Callable[[], ApiClient]
        if cluster.secret is None:
            access = cluster.access
            key: tuple[str, ...] = ("access", cluster.name, access.describe())
            build = access.api_client
        else:
            kubeconfig = cluster.secret.kubeconfig()
            # A changed Secret (rotated token, new server) gets a new client.
            fingerprint = hashlib.sha256(json.dumps(kubeconfig, sort_keys=True).encode()).hexdigest()
            key = ("secret", cluster.name, fingerprint)
            build = lambda: client_from_dict(kubeconfig, cluster.name)  # noqa: E731
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                try:
                    api_client = build()
                except KubeAccessError as exc:
                    raise KubeError(str(exc), retryable=False) from None
                cached = KubeClient(api_client, name=cluster.name, live_cache=self._live_caches)
                if cached.live is not None:
                    cached.live.set_on_change(self._live_listener)
                for old_key in [k for k in self._clients if k[:2] == key[:2]]:
                    old = self._clients.pop(old_key)  # replaced credentials: its watches end
                    if old.live is not None:
                        old.live.stop()
                self._clients[key] = cached
            return cached

    def set_live_listener(self, listener: Callable[[str, Manifest], None] | None) -> None:
        """``listener(cluster, obj)`` for each tracked object a live cache sees change, in
        every cluster (:mod:`worker.drift_refresh` turns it into a refresh of the owning app)."""
        with self._lock:
            self._live_listener = listener
            clients = list(self._clients.values())
        for client in clients:
            if client.live is not None:
                client.live.set_on_change(listener)

    def forget_live_cache(self, name: str) -> None:
        """Stop the watches of cluster ``name`` (no longer served here); its next client
        starts a new cache."""
        with self._lock:
            gone = [self._clients.pop(k) for k in [k for k in self._clients if k[1] == name]]
        for client in gone:
            if client.live is not None:
                client.live.stop()

    def live_clients(self) -> list[KubeClient]:
        """The clients made so far (each with its cluster's live cache, if any)."""
        with self._lock:
            return list(self._clients.values())
