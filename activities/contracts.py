"""Inputs and results of every activity: the only data that crosses into workflow history.

Each activity takes one input model and returns one result model, so fields can be
added compatibly. Everything here is small — ids, commit SHAs, digests, resource keys,
statuses — never a rendered manifest, a diff body or a credential. Manifests and diffs
stay in the content-addressed store (:mod:`activities.store`), named by digest.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from bosun.operation import ResultStatus, result_label, split_result_label
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
    fresh: bool = False
    """A hard refresh: ask the repository, whatever revision the worker has cached (activities/revisions.py)."""


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
    source_repos: list[str] | None = None
    """The app's project's ``sourceRepos`` as the workflow read it: the repositories a render's
    tools fetch on their own (kustomize remote bases, Helm dependencies) must match them before
    they are fetched. None (histories from before): not checked."""


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
    render: RenderInput | None = None
    """How ``manifests_digest`` was rendered: a worker whose store misses the digest
    renders it again (the store is a cache; see :mod:`activities.store`)."""


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
    warnings: dict[str, str] = Field(default_factory=dict)
    """App conditions the settings cause, by type (ExcludedResourceWarning, SettingsWarning)."""
    refresh_seconds: int | None = None
    """``timeout.reconciliation`` from the settings: the app's refresh interval (0: no periodic
    refresh); None when the settings do not set it."""
    key: str = ""
    """What the result depends on, as a digest (the compare's inputs, the settings and every
    live object's resourceVersion; ``activities.cluster._compare_key``); "" when the watch cache
    could not tell. A later reconcile whose key is the same has nothing to do."""


class ResourceResult(BaseModel):
    """What a sync did to one resource.

    On the wire (history, ``bosun app sync -o json``) a dry run's result keeps the form it
    always had, ``"status": "created (dry run)"``: :attr:`label` is written and read back
    into ``status`` and ``dry_run``, so recorded histories and older clients agree."""

    key: ResourceKey
    status: ResultStatus
    dry_run: bool = False
    """The result of a dry run: nothing was changed."""
    message: str = ""

    @property
    def label(self) -> str:
        """``created`` or ``created (dry run)``, as people read it."""
        return result_label(self.status, dry_run=self.dry_run)

    @model_validator(mode="before")
    @classmethod
    def _split_label(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("status"), str):
            status, dry_run = split_result_label(data["status"])
            if dry_run:
                data = {**data, "status": status, "dry_run": True}
        return data

    @model_serializer(mode="wrap")
    def _join_label(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        data.pop("dry_run", None)
        data["status"] = self.label
        return data


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
    render: RenderInput | None = None
    """How ``manifests_digest`` was rendered (see CompareInput.render)."""


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


class ShowManifestsInput(BaseModel):
    """``bosun app manifests``: the content of a render (``digest`` made by ``render``), or the
    live objects (``live``), returned inline within ``limit_bytes``."""

    digest: str = ""
    render: RenderInput | None = None
    """How ``digest`` was rendered: rendered again by a worker that misses it."""
    live: ReadLiveInput | None = None
    limit_bytes: int = 1_500_000


class ShownManifests(BaseModel):
    """Objects (Secret values masked), at most ``limit_bytes`` of them as JSON; ``note`` says
    what was left out."""

    objects: list[dict[str, Any]] = Field(default_factory=list)
    total: int = 0
    note: str = ""


class ShowDiffInput(BaseModel):
    """``bosun app diff``: the diff bodies of a comparison, inline within ``limit_bytes``."""

    diff_digest: str
    compare: CompareInput
    """The comparison that made ``diff_digest``: run again by a worker that misses it."""
    limit_bytes: int = 1_500_000


class ShownDiff(BaseModel):
    diffs: dict[str, str] = Field(default_factory=dict)
    """Resource key → unified diff (Secret values masked), in key order."""
    total: int = 0
    note: str = ""
