"""The state an ApplicationWorkflow keeps, and the shapes of its signals, updates and queries.

These models are the public protocol of an app workflow: the ``bosun`` CLI, the
``temporal`` CLI and any SDK send and receive them as JSON (camelCase-free, plain
field names). Add fields with defaults; never rename one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from activities.contracts import ResourceResult, ResourceStatus
from bosun.resources import HealthCode, SyncCode
from bosun.windows import WindowState


class Condition(BaseModel):
    type: str
    """Argo CD condition types: ComparisonError, SyncError, InvalidSpecError, UnsupportedField …"""
    message: str
    at: datetime | None = None


class SyncRequest(BaseModel):
    """A sync asked for by a person or a schedule (the ``sync`` update)."""

    rollback_of: int | None = None
    """Set by ``rollback``: the history entry this sync restores (pins the revision)."""

    revision: str = ""
    """Commit, branch or tag; empty means the app's targetRevision."""
    prune: bool | None = None
    """Delete resources removed from Git; a manual sync prunes only when asked (as
    ``argocd app sync --prune``); automated syncs use ``automated.prune``."""
    dry_run: bool = False
    trigger: str = "manual"


class RefreshRequest(BaseModel):
    hard: bool = False


class DeleteRequest(BaseModel):
    cascade: bool = True


class OperationResult(BaseModel):
    """The outcome of one sync, as `bosun app sync` and `app history` show it."""

    id: int
    phase: str
    """Succeeded, Failed, Error."""
    message: str = ""
    revision: str = ""
    trigger: str = ""
    dry_run: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    resources: list[ResourceResult] = Field(default_factory=list)
    workflow_id: str = ""


class AppStatus(BaseModel):
    name: str
    project: str = "default"
    repo_url: str = ""
    path: str = ""
    target_revision: str = ""
    destination_server: str = ""
    destination_namespace: str = ""
    automated: bool = False
    sync: SyncCode = SyncCode.UNKNOWN
    health: HealthCode = HealthCode.UNKNOWN
    revision: str = ""
    """The commit the last comparison was made against."""
    synced_revision: str = ""
    """The commit of the last successful sync."""
    revisions: list[str] = Field(default_factory=list)
    """Every source's commit (or chart version) of the last comparison, in spec.sources order."""
    synced_revisions: list[str] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    resources: list[ResourceStatus] = Field(default_factory=list)
    operation: str = "idle"
    """idle, or what the running operation is doing now."""
    operation_workflow_id: str = ""
    """The running sync's own workflow (``app:<name>:sync:<n>``); its ``progress`` query
    says which phase and wave it is in."""
    last_operation: OperationResult | None = None
    sync_window: WindowState | None = None
    """The project's sync windows for this app at the last decision (None: no windows)."""
    pinned_revision: str = ""
    """Set after a rollback: automated sync stays here until a newer commit arrives."""
    reconciled_at: datetime | None = None
    manifests_digest: str = ""
    diff_digest: str = ""


class Pin(BaseModel):
    """A rollback holds automated sync at ``revision`` while the target still resolves to
    ``target_commit``; a newer commit (or ``unpin``) releases it."""

    revision: str
    target_commit: str
    operation_id: int


class RollbackRequest(BaseModel):
    id: int
    """The history entry (operation id) whose revision to sync again."""
    prune: bool = False


class AppState(BaseModel):
    """Everything carried over continue-as-new."""

    status: AppStatus
    history: list[OperationResult] = Field(default_factory=list)
    next_operation_id: int = 1
    failed_auto_sync: str = ""
    """``commit@digest`` of the last automated sync that failed: not retried by itself."""
    known_kinds: list[str] = Field(default_factory=list)
    synced_manifests_digest: str = ""
    """The rendered manifests of the last successful sync: a spec change that renders
    differently is synced automatically, like a new commit."""
    pin: Pin | None = None
    schedule: str = ""
    """``<cron> <timezone>`` of the Temporal Schedule kept for ``bosun.dev/sync-schedule``."""
    pending_syncs: list[tuple[int, SyncRequest]] = Field(default_factory=list)
    refresh_requested: bool = False
    hard_refresh_requested: bool = False
    """The next reconcile renders again, bypassing the render cache."""


class AppWorkflowInput(BaseModel):
    application: dict[str, Any]
    """The Application as Argo CD JSON (apiVersion argoproj.io/v1alpha1)."""
    refresh_seconds: float = 120.0
    state: AppState | None = None


class ManifestsRequest(BaseModel):
    """``bosun app manifests``: what would be applied (``git``) or what is live (``live``)."""

    revision: str = ""
    source: str = "git"


class ManifestsResult(BaseModel):
    digest: str
    """A JSON list of objects in Bosun's content store."""
    count: int
    revision: str = ""
