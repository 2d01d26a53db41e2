"""The input and result of :class:`workflows.sync.SyncWorkflow`, in a module of their own.

The sandbox runs a workflow's own module afresh for every new workflow instance; pydantic models
defined there were built again each time (6% of a worker's CPU when a thousand apps synced at
once). Imported through ``imports_passed_through``, they are built once per process.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from activities.contracts import Destination, RenderInput, ResourceResult
from bosun.app_spec import OperationRetry
from bosun.operation import OperationPhase
from bosun.plan import SyncPlan


class SyncInput(BaseModel):
    app: str
    operation_id: int
    destination: Destination
    manifests_digest: str
    plan: SyncPlan
    render: RenderInput | None = None
    """How ``manifests_digest`` was rendered: a worker that misses it renders it again."""
    sync_options: dict[str, str] = Field(default_factory=dict)
    namespace_metadata: dict[str, dict[str, str]] = Field(default_factory=dict)
    project: str = "default"
    repo_urls: list[str] = Field(default_factory=list)
    ignore_differences: list[dict[str, Any]] = Field(default_factory=list)
    dry_run: bool = False
    health_timeout_seconds: float = 300.0
    retry: OperationRetry = Field(default_factory=OperationRetry)
    task_queue: str = ""
    """The destination cluster's task queue for apply, prune and wait_healthy (empty: the workflow's own)."""
    first_attempt: int = 1
    """The attempt this run starts with: a run that retried ``ATTEMPTS_PER_RUN`` times continues
    as new from the next, so a sync retried without limit keeps a bounded history."""


class SyncOutcome(BaseModel):
    phase: OperationPhase
    """Succeeded or Failed."""
    message: str = ""
    resources: list[ResourceResult] = Field(default_factory=list)
    attempts: int = 1
