"""When an Application syncs by itself: Argo CD's auto-sync rule as a pure function.

The ApplicationWorkflow gathers what it knows after a comparison (:class:`AutoSyncFacts`)
and asks :func:`decide`; the answer (:class:`AutoSyncDecision`) says whether to start an
automated sync, with which trigger, and — when not — which rule held it back, in words
close to Argo CD's log lines. No clock, no I/O: the sync windows are evaluated by the
caller (:func:`bosun.windows.window_state` with ``workflow.now()``) and passed in.

The rules, in the order they are checked (after Argo CD's ``autoSync`` and
``alreadyAttemptedSync`` in ``controller/appcontroller.go``):

1. ``automated`` — ``syncPolicy.automated`` set and not ``enabled: false``.
2. ``suspended`` — Bosun's ``bosun app suspend`` (Flux's ``suspend``): no automated sync.
3. ``sync-schedule`` — the app has ``bosun.dev/sync-schedule``: a Temporal Schedule syncs
   it at set times instead of on every change.
4. ``out-of-sync`` — "Skipping auto-sync: application status is <status>".
5. ``failed-previous-attempt`` — an automated sync of the same revision and manifests
   failed: "Skipping auto-sync: failed previous sync attempt to <rev>" (``syncPolicy.retry``
   retries inside the operation, never across reconciles).
6. ``already-synced`` — the revisions and rendered manifests are those of the last
   successful sync ("most recent sync already to <rev>"); a spec change that renders
   differently counts as new, like Argo CD comparing the operation's source with the spec.
   With ``selfHeal`` a resource drifted in the cluster (OutOfSync, not merely extra)
   is synced again ("self-heal").
7. ``allow-empty`` — with ``automated.prune`` and without ``automated.allowEmpty``, a sync
   that would prune every resource (Git renders nothing of the app) does not run: "Skipping
   sync attempt to <rev>: auto-sync will wipe out all resources", kept as a SyncError
   condition (:attr:`AutoSyncDecision.condition`). Hooks do not count.
8. ``sync-window`` — the project's sync windows deny automated syncs now (Argo CD's
   ``CanSync``); the workflow wakes when the window opens.

The rollback pin (:func:`pinned_revision`) decides which revision is compared at all:
after ``bosun app rollback`` automated sync stays at the restored revision until Git
moves (Argo CD disables automated sync on rollback instead; Bosun re-enables it on the
next commit).

Not (yet) Argo CD's: the prune-only skip ("need to prune extra resources only but
automated prune is disabled": Bosun runs that sync, which prunes nothing) and the
self-heal backoff timeout (Bosun self-heals on the next reconcile).

To add a rule: a member of :class:`Rule`, a check in :func:`decide` at its place in the
order, and rows in ``tests/unit/test_autosync.py`` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bosun.resources import SyncCode
from bosun.windows import WindowState

AUTOMATED = "automated"
SELF_HEAL = "automated (self-heal)"
"""The trigger of an automated sync, as the history and ``bosun app history`` show it."""


class Rule(StrEnum):
    """The rule that held an automated sync back (see the module docstring)."""

    AUTOMATED = "automated"
    SUSPENDED = "suspended"
    SYNC_SCHEDULE = "sync-schedule"
    OUT_OF_SYNC = "out-of-sync"
    FAILED_PREVIOUS_ATTEMPT = "failed-previous-attempt"
    ALREADY_SYNCED = "already-synced"
    ALLOW_EMPTY = "allow-empty"
    SYNC_WINDOW = "sync-window"


class ComparedResource(Protocol):
    """What the rule reads of a compared resource (``activities.contracts.ResourceStatus``)."""

    @property
    def sync(self) -> SyncCode: ...

    @property
    def requires_pruning(self) -> bool: ...

    @property
    def hook(self) -> bool: ...


@dataclass(frozen=True)
class AutoSyncFacts:
    """What the workflow knows after a comparison."""

    automated: bool
    sync: SyncCode
    revision: str
    """The commit (of the first source) the comparison was made against."""
    revisions: Sequence[str]
    """Every source's commit, in ``spec.sources`` order."""
    manifests_digest: str
    synced_revisions: Sequence[str] = ()
    synced_manifests_digest: str = ""
    failed_attempt: str = ""
    """:func:`attempt_key` of the last automated sync that failed ("" if none)."""
    self_heal: bool = False
    prune: bool = False
    """``automated.prune``."""
    allow_empty: bool = False
    """``automated.allowEmpty``: a sync may prune every resource."""
    suspended: bool = False
    scheduled: bool = False
    """``bosun.dev/sync-schedule`` is set."""
    resources: Sequence[ComparedResource] = field(default_factory=tuple)
    window: WindowState | None = None
    """The project's sync windows for this app now (None: no windows)."""

    @property
    def attempt(self) -> str:
        return attempt_key(self.revision, self.manifests_digest)


@dataclass(frozen=True)
class AutoSyncDecision:
    sync: bool
    rule: Rule | None = None
    """The rule that held the sync back; None when it runs."""
    reason: str = ""
    self_heal: bool = False
    """The sync repairs drift (no new revision or manifests)."""
    condition: str = ""
    """A SyncError condition to record (Argo CD returns one for ``allow-empty``)."""

    @property
    def trigger(self) -> str:
        return SELF_HEAL if self.self_heal else AUTOMATED


def attempt_key(revision: str, manifests_digest: str) -> str:
    """What identifies an automated sync attempt: the commit and the rendered manifests."""
    return f"{revision}@{manifests_digest}"


def decide(facts: AutoSyncFacts) -> AutoSyncDecision:
    """Whether an automated sync starts now (the rules of the module docstring, in order)."""
    if not facts.automated:
        return _skip(Rule.AUTOMATED, "automated sync is not enabled")
    if facts.suspended:
        return _skip(Rule.SUSPENDED, "the application is suspended (bosun app resume)")
    if facts.scheduled:
        return _skip(Rule.SYNC_SCHEDULE, "synced by its bosun.dev/sync-schedule only")
    if facts.sync is not SyncCode.OUT_OF_SYNC:
        return _skip(Rule.OUT_OF_SYNC, f"application status is {facts.sync}")
    if facts.attempt == facts.failed_attempt:
        return _skip(Rule.FAILED_PREVIOUS_ATTEMPT, f"failed previous sync attempt to {facts.revision}")
    changed = (
        list(facts.revisions) != list(facts.synced_revisions) or facts.manifests_digest != facts.synced_manifests_digest
    )
    drift = (
        not changed
        and facts.self_heal
        and any(r.sync is SyncCode.OUT_OF_SYNC and not r.requires_pruning for r in facts.resources)
    )
    if not (changed or drift):
        return _skip(Rule.ALREADY_SYNCED, f"most recent sync already to {facts.revision}")
    if facts.prune and not facts.allow_empty:
        resources = [r for r in facts.resources if not r.hook]
        if resources and all(r.requires_pruning for r in resources):
            reason = f"Skipping sync attempt to {facts.revision}: auto-sync will wipe out all resources"
            return AutoSyncDecision(sync=False, rule=Rule.ALLOW_EMPTY, reason=reason, condition=reason)
    if facts.window is not None and not facts.window.automated_allowed:
        return _skip(Rule.SYNC_WINDOW, f"blocked by sync window: {facts.window.reason}")
    return AutoSyncDecision(sync=True, self_heal=drift)


def failed_attempt_after(facts: AutoSyncFacts, *, succeeded: bool) -> str:
    """The failed attempt to remember after an automated sync ended ("" once one succeeded)."""
    return "" if succeeded else facts.attempt


@dataclass(frozen=True)
class PinOutcome:
    revision: str
    """The revision to compare (and sync automatically)."""
    holds: bool
    """The pin still holds; False: Git moved on, release it."""


def pinned_revision(*, pinned: str, pinned_at_target: str, target_commit: str) -> PinOutcome:
    """After a rollback to ``pinned`` (when the target resolved to ``pinned_at_target``):
    stay there while the target still resolves to the same commit, follow the target once
    it moves."""
    if target_commit == pinned_at_target:
        return PinOutcome(revision=pinned, holds=True)
    return PinOutcome(revision=target_commit, holds=False)


def _skip(rule: Rule, reason: str) -> AutoSyncDecision:
    return AutoSyncDecision(sync=False, rule=rule, reason=f"Skipping auto-sync: {reason}")
