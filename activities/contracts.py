"""Inputs and results of every activity: the only data that crosses into workflow history.

Each activity takes one input model and returns one result model, so fields can be
added compatibly. Everything here is small — ids, commit SHAs, digests, resource keys,
statuses — never a rendered manifest, a diff body or a credential. Manifests and diffs
stay in the content-addressed store (:mod:`activities.store`), named by digest.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bosun.plan import SyncPlan
from bosun.resources import HealthCode, ResourceKey, SyncCode


class Destination(BaseModel):
    """Where an app deploys: an API server URL or a cluster name, and a namespace."""

    server: str = ""
    name: str = ""
    namespace: str = ""

    def describe(self) -> str:
        return self.name or self.server


class ResolveRevisionInput(BaseModel):
    repo_url: str
    revision: str = "HEAD"


class ResolveRevisionResult(BaseModel):
    commit: str


class SourceAtCommit(BaseModel):
    """One source of an app, at the commit (or, for a Helm repository chart, the version)
    its revision resolved to."""

    repo_url: str
    commit: str
    source: dict[str, Any] = Field(default_factory=dict)
    """The source as Argo CD JSON (repoURL, path, directory, helm, kustomize, chart, ref …)."""


class RenderInput(BaseModel):
    app: str
    repo_url: str = ""
    commit: str = ""
    source: dict[str, Any] = Field(default_factory=dict)
    """A single-source app's source as Argo CD JSON (path, directory, helm …)."""
    sources: list[SourceAtCommit] = Field(default_factory=list)
    """A multi-source app's sources, in ``spec.sources`` order (used instead of the above)."""
    destination_namespace: str = ""
    destination: Destination | None = None
    """Where the app deploys: its Kubernetes version and API versions are passed to Helm."""
    hard_refresh: bool = False
    """Render again even if the cache has this render (Argo CD's hard refresh)."""
    kube_version: str = ""
    """The destination cluster's Kubernetes version (``helm template --kube-version``)."""
    api_versions: list[str] = Field(default_factory=list)
    """The destination cluster's API versions (``--api-versions``: ``group/version`` and
    ``group/version/Kind``)."""


class RenderResult(BaseModel):
    manifests_digest: str
    resource_count: int
    cached: bool = False


class CompareInput(BaseModel):
    app: str
    manifests_digest: str
    destination: Destination
    project: str = "default"
    repo_urls: list[str] = Field(default_factory=list)
    """The app's source repositories, checked against the project's sourceRepos."""
    ignore_differences: list[dict[str, Any]] = Field(default_factory=list)
    sync_options: dict[str, str] = Field(default_factory=dict)
    prune: bool = False
    known_kinds: list[str] = Field(default_factory=list)
    """``apiVersion/Kind`` of everything this app ever deployed: where to look for
    objects to prune without listing every API of the cluster."""


class ResourceStatus(BaseModel):
    """One row of ``bosun app get``."""

    key: ResourceKey
    api_version: str = ""
    sync: SyncCode = SyncCode.UNKNOWN
    health: HealthCode | None = None
    health_message: str = ""
    requires_pruning: bool = False
    hook: bool = False
    changed_paths: list[str] = Field(default_factory=list)
    message: str = ""


class CompareResult(BaseModel):
    sync: SyncCode
    health: HealthCode
    resources: list[ResourceStatus]
    plan: SyncPlan
    diff_digest: str
    kinds: list[str] = Field(default_factory=list)
    """``apiVersion/Kind`` of the desired objects (see CompareInput.known_kinds)."""


class ResourceResult(BaseModel):
    key: ResourceKey
    status: str
    """created, configured, unchanged, pruned, skipped, failed."""
    message: str = ""


class ApplyInput(BaseModel):
    app: str
    manifests_digest: str
    destination: Destination
    project: str = "default"
    repo_urls: list[str] = Field(default_factory=list)
    keys: list[ResourceKey]
    sync_options: dict[str, str] = Field(default_factory=dict)
    dry_run: bool = False
    namespace_metadata: dict[str, dict[str, str]] = Field(default_factory=dict)
    """``syncPolicy.managedNamespaceMetadata`` (labels, annotations) for CreateNamespace."""
    ignore_differences: list[dict[str, Any]] = Field(default_factory=list)
    """Honoured when applying with ``RespectIgnoreDifferences=true``: ignored fields keep
    their live values."""
    operation: str = ""
    """The operation attempt (``app:web:sync:3#1``): names generateName hooks and marks
    the hooks it creates, so a retried activity never creates a hook twice."""


class ApplyResult(BaseModel):
    results: list[ResourceResult]


class WaitHealthyInput(BaseModel):
    destination: Destination
    keys: list[ResourceKey]
    timeout_seconds: float = 300.0
    hooks: list[ResourceKey] = Field(default_factory=list)
    """Keys (among ``keys``) of hooks: they must finish, and may not vanish before they do."""


class WaitHealthyResult(BaseModel):
    healthy: bool
    message: str = ""
    statuses: list[ResourceStatus] = Field(default_factory=list)


class PruneInput(BaseModel):
    app: str
    destination: Destination
    keys: list[ResourceKey]
    propagation_policy: str = "foreground"
    dry_run: bool = False
    deleting_app: bool = False
    """Cascade deletion of the app: objects annotated ``Delete=false`` are kept."""


class PruneResult(BaseModel):
    results: list[ResourceResult]


class ReadLiveInput(BaseModel):
    app: str
    destination: Destination
    keys: list[ResourceKey]


class ReadLiveResult(BaseModel):
    digest: str
    """The live objects (Secrets masked, managedFields dropped) as a JSON list in the store."""
    count: int
