"""Orphaned resources: what lives in an app's destination namespace that no app deploys.

``bosun app resources APP --orphaned``, as Argo CD's orphaned-resources view
(``controller/appcontroller.go`` ``getResourceTree``): the top-level objects (no
``ownerReferences``: a controller's ReplicaSets and Pods are its owner's business) of
every namespaced kind in the destination namespace, minus

* the app's own resources (the workflow passes their keys),
* objects whose tracking id names an app — this activity reports the app it names in
  ``tracked_by``, and the command line drops those whose app still exists (Argo CD:
  an object of a deleted app *is* orphaned),
* what Argo CD never shows: the kinds it does not watch by default (Events, Leases,
  metrics, and the Endpoints/EndpointSlices its default ``resource.exclusions`` lists)
  and objects every namespace has (``IGNORED_OBJECTS``).

It runs on the destination cluster's task queue with the worker's credentials, like
every other cluster read. To ignore another kind or object everywhere, add it to the
data below.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.heartbeat import heartbeats
from activities.kube import ClusterRegistry, KubeError
from bosun.resources import ResourceKey, api_group
from bosun.settings import DEFAULT_SETTINGS, Settings
from bosun.tracking import tracked_app

IGNORED_GROUPS = frozenset({"events.k8s.io", "metrics.k8s.io"})
"""API groups Argo CD never watches (its core exclusions)."""
IGNORED_KINDS = frozenset(
    {
        ("", "Event"),
        ("coordination.k8s.io", "Lease"),  # Argo CD's core exclusions
        ("", "Endpoints"),
        ("discovery.k8s.io", "EndpointSlice"),  # its default resource.exclusions
    }
)
IGNORED_OBJECTS = frozenset(
    {
        # Argo CD's isKnownOrphanedResourceExclusion: (group, kind, name), any namespace …
        ("", "ServiceAccount", "default"),
        ("", "ConfigMap", "kube-root-ca.crt"),
    }
)
IGNORED_IN_DEFAULT = frozenset({("", "Service", "kubernetes")})
"""… and in namespace ``default`` only."""


class ListOrphanedInput(BaseModel):
    app: str
    destination: Destination
    managed: list[ResourceKey] = Field(default_factory=list)
    """The app's own resources: never orphaned."""


class OrphanedResource(BaseModel):
    key: ResourceKey
    api_version: str = ""
    tracked_by: str = ""
    """The (Bosun) app this object's tracking names ("" if none)."""


class ListOrphanedResult(BaseModel):
    resources: list[OrphanedResource] = Field(default_factory=list)
    namespace: str = ""
    warnings: list[str] = Field(default_factory=list)
    """Kinds that could not be listed (forbidden, say), one line each."""


def ignored(key: ResourceKey) -> bool:
    """Whether Argo CD leaves ``key`` out of the orphaned resources whatever tracks it."""
    return (
        key.group in IGNORED_GROUPS
        or (key.group, key.kind) in IGNORED_KINDS
        or (key.group, key.kind, key.name) in IGNORED_OBJECTS
        or (key.namespace == "default" and (key.group, key.kind, key.name) in IGNORED_IN_DEFAULT)
    )


class OrphanActivities:
    def __init__(
        self, *, clusters: ClusterRegistry, settings: Callable[[], Settings] = lambda: DEFAULT_SETTINGS
    ) -> None:
        """``settings`` gives Argo CD's settings now (ClusterActivities.current_settings):
        the tracking method, and ``resource.exclusions``, whose kinds are never listed."""
        self._clusters = clusters
        self._settings = settings

    @activity.defn(name="list_orphaned")
    @heartbeats
    def list_orphaned(self, input: ListOrphanedInput) -> ListOrphanedResult:
        namespace = input.destination.namespace
        if not namespace:
            raise ApplicationError(
                "the app has no destination namespace: orphaned resources are those of its "
                "destination namespace (spec.destination.namespace)",
                type="NoNamespace",
                non_retryable=True,
            )
        try:
            client = self._clusters.client(input.destination)
            kinds = client.served_kinds(namespaced=True)
        except KubeError as exc:
            raise ApplicationError(str(exc), type="KubeError", non_retryable=not exc.retryable) from None
        managed = set(input.managed)
        settings = self._settings()
        try:
            tracking = settings.tracking()
        except ValueError as exc:
            raise ApplicationError(str(exc), type="SettingsError", non_retryable=True) from None
        try:
            server = input.destination.server or self._clusters.resolve(input.destination).server
        except KubeError:
            server = input.destination.server
        found: list[OrphanedResource] = []
        warnings: list[str] = []
        for api_version, kind in kinds:
            group = api_group(api_version)
            if group in IGNORED_GROUPS or (group, kind) in IGNORED_KINDS or settings.is_excluded(group, kind, server):
                continue
            activity.heartbeat(f"{kind}.{group}" if group else kind)
            try:
                items = client.list(api_version, kind, namespace=namespace)
            except KubeError as exc:
                if exc.retryable:
                    raise ApplicationError(str(exc), type="KubeError") from None
                warnings.append(str(exc))
                continue
            for item in items:
                key = ResourceKey.of(item)
                if key in managed or ignored(key) or (item.get("metadata") or {}).get("ownerReferences"):
                    continue
                owner = tracked_app(item, tracking) or ""
                found.append(OrphanedResource(key=key, api_version=api_version, tracked_by=owner))
        found.sort(key=lambda r: str(r.key))
        return ListOrphanedResult(resources=found, namespace=namespace, warnings=warnings)
