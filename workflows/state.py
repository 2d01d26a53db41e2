"""The state an ApplicationWorkflow keeps, and the shapes of its signals, updates and queries.

These models are the public protocol of an app workflow: the ``bosun`` CLI, the
``temporal`` CLI and any SDK send and receive them as JSON (camelCase-free, plain
field names). Add fields with defaults; never rename one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from activities.contracts import RenderInput, ResourceResult, ResourceStatus
from bosun.dependencies import DependencyStatus
from bosun.hashing import json_digest
from bosun.operation import OperationPhase
from bosun.protocol import AppWorkflowStart
from bosun.protocol import SyncRequest as SyncRequest  # its home; re-exported for the workflows
from bosun.resources import HealthCode, SyncCode
from bosun.windows import WindowState
from workflows.actions import ActionRecord


class Condition(BaseModel):
    type: str
    """A :class:`bosun.operation.ConditionType` (Argo CD's ComparisonError, SyncError,
    InvalidSpecError … and Bosun's UnsupportedField, SettingsWarning); a plain string on the
    wire, so a newer worker's type never breaks an older client."""
    message: str
    at: datetime | None = None


class SpecSource(StrEnum):
    """What found a problem in the spec (``AppState.spec_problems``, the InvalidSpecError
    condition): the Application document, its sync-schedule annotation, its project's sync
    windows."""

    SPEC = "spec"
    SYNC_SCHEDULE = "sync-schedule"
    SYNC_WINDOWS = "sync-windows"
    DEPENDENCIES = "dependencies"
    """``bosun.dev/depends-on``: a value that cannot be parsed."""
    DEPENDENCY_CYCLE = "dependency-cycle"
    """``bosun.dev/depends-on``: the app is on a cycle of dependencies (found by the check before a sync)."""


class SyncStarted(BaseModel):
    """The answer to ``sync_async`` (``bosun app sync --async``): the queued operation."""

    id: int
    workflow_id: str
    """The sync operation's own workflow, once it starts (``app:<name>:sync:<id>``)."""


class OrphanedResourcesRequest(BaseModel):
    """``bosun app resources --orphaned``: nothing to ask yet; a model so fields can be added."""


class OperationResult(BaseModel):
    """The outcome of one sync, as `bosun app sync` and `app history` show it."""

    id: int
    phase: OperationPhase
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
    suspended: bool = False
    """``bosun app suspend``: automated sync (and the sync schedule) is off until ``resume``;
    the app is still compared, and a manual sync still runs. Kept across continue-as-new."""
    labels: dict[str, str] = Field(default_factory=dict)
    """The Application's labels (also in the ``BosunLabels`` search attribute)."""
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
    last_action: ActionRecord | None = None
    """The last resource action run on the app (``bosun app actions run``): who, what, outcome."""
    reconciled_at: datetime | None = None
    manifests_digest: str = ""
    diff_digest: str = ""
    depends_on: list[str] = Field(default_factory=list)
    """The apps ``bosun.dev/depends-on`` names (empty: none)."""
    dependencies: list[DependencyStatus] = Field(default_factory=list)
    """The apps of ``bosun.dev/depends-on`` as the last check before a sync saw them (``bosun
    app get`` shows them under "Depends on"); empty for an app without the annotation."""


def status_digest(status: AppStatus) -> str:
    """A digest of ``status`` but its reconcile time (``BosunStatusDigest``): it changes when
    something written back to the Application resource does, not at every reconcile."""
    # An app without dependencies keeps the digest it had before the field existed (a running
    # workflow's BosunStatusDigest is compared with it on replay).
    exclude = {"reconciled_at"} | {name for name in ("depends_on", "dependencies") if not getattr(status, name)}
    return json_digest(status.model_dump(mode="json", exclude=exclude))


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
    settings_refresh_seconds: int | None = None
    """``timeout.reconciliation`` as the last compare read it from the settings (None: not set)."""
    actions: list[ActionRecord] = Field(default_factory=list)
    """The last resource actions run on the app, oldest first (the ``action_history`` query)."""
    detached_syncs: list[int] = Field(default_factory=list)
    """Operation ids queued by ``sync_async``: nobody waits for their result."""
    render_recipe: RenderInput | None = None
    """How ``status.manifests_digest`` was rendered: sent with it, so a worker whose store
    misses the digest renders it again (the store is a cache)."""
    spec_problems: dict[str, str] = Field(default_factory=dict)
    """What is wrong with the spec, by :class:`SpecSource`: the InvalidSpecError condition."""
    dependencies_waiting_since: datetime | None = None
    """When automated sync began to wait for ``bosun.dev/depends-on`` (None: not waiting);
    the workflow checks again every few seconds for a while, then at each refresh."""


class AppWorkflowInput(AppWorkflowStart):
    """What starts an app workflow (:class:`bosun.protocol.AppWorkflowStart`), and the
    state it carries over continue-as-new."""

    state: AppState | None = None


class SpecEdit(BaseModel):
    """The ``edit_spec`` update (``bosun app set|unset|patch``): the whole new Application,
    validated before it is accepted, and the digest
    (:func:`bosun.app_edits.document_digest`) of the document it was made from; ``""``
    skips that check. A stale edit is rejected instead of undoing a newer one."""

    application: dict[str, Any]
    base_digest: str = ""


class ManifestsRequest(BaseModel):
    """``bosun app manifests``: what would be applied (``git``) or what is live (``live``)."""

    revision: str = ""
    source: str = "git"


class ManifestsContent(BaseModel):
    """``bosun app manifests``: the objects themselves (Secret values masked), within a payload."""

    objects: list[dict[str, Any]] = Field(default_factory=list)
    total: int = 0
    note: str = ""
    """What was left out to fit a Temporal payload (empty: nothing)."""
    revision: str = ""


class DiffRequest(BaseModel):
    """``bosun app diff``: the diff bodies of the app's last comparison."""


class ManifestsResult(BaseModel):
    digest: str
    """A JSON list of objects in Bosun's content store."""
    count: int
    revision: str = ""
