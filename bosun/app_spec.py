"""Values the ApplicationWorkflow derives from an Application's spec, as pure functions.

Each reads a parsed :class:`~bosun.models.Application` and answers one question the
workflow asks before a reconcile or a sync: which revision to follow, whether automated
sync prunes or self-heals, how a failed sync is retried (Argo CD's ``syncPolicy.retry``),
which metadata a created namespace gets, which Bosun schedule annotation is set, how many
history entries to keep. The workflow holds no such rule itself; to derive a new value,
add a function here with a test in ``tests/unit/test_app_spec.py``.
"""

from __future__ import annotations

from pydantic import BaseModel

from bosun.models import Application, parse_backoff_duration

SYNC_SCHEDULE_ANNOTATION = "bosun.dev/sync-schedule"
"""A cron expression: the app is synced by a Temporal Schedule then, and not on every commit."""
SYNC_SCHEDULE_TIMEZONE_ANNOTATION = "bosun.dev/sync-schedule-timezone"
DEFAULT_HISTORY_LIMIT = 10


class OperationRetry(BaseModel):
    """Argo CD's ``syncPolicy.retry`` as one sync operation follows it; defaults as Argo
    CD's (5s, factor 2, max 3m). Part of the SyncWorkflow's input (JSON field names fixed)."""

    limit: int = 0
    """Retries after the first attempt; below 0 means no limit (Argo CD)."""
    duration_seconds: float = 5.0
    factor: float = 2.0
    max_duration_seconds: float | None = 180.0
    """The cap of one delay; None: no cap (``maxDuration: "0"``)."""

    def delay(self, attempt: int) -> float:
        delay = self.duration_seconds * self.factor ** (attempt - 1)
        return float(delay if self.max_duration_seconds is None else min(delay, self.max_duration_seconds))

    def allows(self, attempt: int) -> bool:
        """Whether a failed ``attempt`` may be followed by another."""
        return self.limit < 0 or attempt <= self.limit

    def describe(self, attempt: int) -> str:
        return f"retry {attempt} of {self.limit if self.limit >= 0 else 'unlimited'}"


def target_revision(app: Application) -> str:
    """The first source's targetRevision (``HEAD`` for an app without sources)."""
    sources = app.sources_list()
    return sources[0].target_revision if sources else "HEAD"


def auto_prune(app: Application) -> bool:
    """``syncPolicy.automated.prune``: automated syncs delete what left Git."""
    policy = app.spec.sync_policy
    return bool(policy and policy.automated and policy.automated.prune)


def self_heal(app: Application) -> bool:
    """``syncPolicy.automated.selfHeal``: automated syncs also repair drift in the cluster."""
    policy = app.spec.sync_policy
    return bool(policy and policy.automated and policy.automated.self_heal)


def allow_empty(app: Application) -> bool:
    """``syncPolicy.automated.allowEmpty``: an automated sync may prune every resource."""
    policy = app.spec.sync_policy
    return bool(policy and policy.automated and policy.automated.allow_empty)


def operation_retry(app: Application) -> OperationRetry:
    """``syncPolicy.retry`` for the SyncWorkflow (no block: no retry; ``maxDuration: 0``: no cap)."""
    policy = app.spec.sync_policy
    retry = policy.retry if policy else None
    if retry is None:
        return OperationRetry()
    backoff = retry.backoff
    strategy = OperationRetry(limit=retry.limit if retry.limit is not None else 0)
    if backoff is not None:
        if backoff.duration:
            strategy.duration_seconds = parse_backoff_duration(backoff.duration).total_seconds()
        if backoff.factor:
            strategy.factor = float(backoff.factor)
        if backoff.max_duration:
            cap = parse_backoff_duration(backoff.max_duration).total_seconds()
            strategy.max_duration_seconds = cap if cap > 0 else None  # Argo CD: 0 means no cap
    return strategy


def namespace_metadata(app: Application) -> dict[str, dict[str, str]]:
    """``syncPolicy.managedNamespaceMetadata`` as ``{"labels": …, "annotations": …}`` ({} if unset)."""
    policy = app.spec.sync_policy
    managed = policy.managed_namespace_metadata if policy else None
    if managed is None:
        return {}
    return {"labels": dict(managed.labels), "annotations": dict(managed.annotations)}


def sync_schedule(app: Application) -> tuple[str, str]:
    """``(cron, timezone)`` of ``bosun.dev/sync-schedule`` (cron "" when unset; zone UTC by default)."""
    annotations = app.metadata.annotations or {}
    return (
        annotations.get(SYNC_SCHEDULE_ANNOTATION, "").strip(),
        annotations.get(SYNC_SCHEDULE_TIMEZONE_ANNOTATION, "UTC").strip() or "UTC",
    )


def history_limit(app: Application) -> int:
    """``spec.revisionHistoryLimit``: how many sync results the history keeps (Argo CD: 10)."""
    limit = app.spec.revision_history_limit
    return DEFAULT_HISTORY_LIMIT if limit is None else limit
