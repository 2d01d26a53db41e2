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

import json
import threading
import time
from pathlib import Path
from typing import Any

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
            version = VersionApi(self._api_client).get_code()
            core = CoreApi(self._api_client).get_api_versions()
            groups = ApisApi(self._api_client).get_api_versions()
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

    def list(self, api_version: str, kind: str, *, label_selector: str) -> list[Manifest]:
        resource = self.resource(api_version, kind)
        try:
            listing = self.dynamic.get(resource, label_selector=label_selector)
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


class ClusterRegistry:
    """Destinations the worker can reach, from kubeconfig files (first = in-cluster)."""

    def __init__(self, kubeconfigs: list[Path]) -> None:
        self._kubeconfigs = kubeconfigs
        self._clients: dict[tuple[str, str], KubeClient] = {}
        self._lock = threading.Lock()

    def _contexts(self) -> list[tuple[Path, str, str]]:
        """(file, context, server URL) for every context of every kubeconfig."""
        found = []
        for path in self._kubeconfigs:
            config = yaml.safe_load(path.read_text()) or {}
            servers = {c["name"]: c["cluster"].get("server", "") for c in config.get("clusters") or []}
            for ctx in config.get("contexts") or []:
                found.append((path, ctx["name"], servers.get(ctx["context"].get("cluster"), "")))
        return found

    def client(self, destination: Destination) -> KubeClient:
        contexts = self._contexts()
        if not contexts:
            raise KubeError("the worker has no kubeconfig for any cluster (set BOSUN_KUBECONFIG)",
                            retryable=False)
        server, name = destination.server.rstrip("/"), destination.name
        if server == IN_CLUSTER_SERVER or name == IN_CLUSTER_NAME:
            match = contexts[0]
        else:
            candidates = [c for c in contexts if (server and c[2].rstrip("/") == server) or (name and c[1] == name)]
            if not candidates:
                raise KubeError(f"cluster {destination.describe()!r} is not known to Bosun", retryable=False)
            match = candidates[0]
        path, context, url = match
        with self._lock:
            cached = self._clients.get((str(path), context))
            if cached is None:
                api = k8s_config.new_client_from_config(config_file=str(path), context=context)
                cached = KubeClient(api, name=destination.describe() or url)
                self._clients[(str(path), context)] = cached
            return cached
