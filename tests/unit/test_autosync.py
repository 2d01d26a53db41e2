"""Argo CD's auto-sync rule (:mod:`bosun.autosync`), one row per case, each naming its rule.

The rule names and reasons follow Argo CD's ``autoSync`` / ``alreadyAttemptedSync``
(``controller/appcontroller.go``); the workflow-level behaviour is covered by
tests/workflows/test_application_workflow.py and tests/e2e/test_app_lifecycle.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from bosun.autosync import (
    AUTOMATED,
    SELF_HEAL,
    AutoSyncDecision,
    AutoSyncFacts,
    Rule,
    attempt_key,
    decide,
    failed_attempt_after,
    pinned_revision,
)
from bosun.resources import SyncCode
from bosun.windows import WindowState


@dataclass(frozen=True)
class Res:
    sync: SyncCode = SyncCode.SYNCED
    requires_pruning: bool = False
    hook: bool = False


DRIFTED = Res(sync=SyncCode.OUT_OF_SYNC)
EXTRA = Res(sync=SyncCode.OUT_OF_SYNC, requires_pruning=True)
HOOK = Res(hook=True)
EMPTIED = (EXTRA, EXTRA, HOOK)
"""Git renders nothing of the app any more: every resource (hooks aside) is to be pruned."""

CLOSED = WindowState(
    automated_allowed=False,
    manual_allowed=True,
    overrun_allowed=False,
    active=["deny 0 22 * * * for 1h"],
    matching=["deny 0 22 * * * for 1h"],
    reason="deny window 0 22 * * * for 1h is active",
    next_change=datetime(2026, 1, 1, 23, tzinfo=UTC),
)
OPEN = CLOSED.model_copy(update={"automated_allowed": True, "reason": "", "active": []})

# A new commit: OutOfSync, automated, last synced at "old".
NEW = AutoSyncFacts(
    automated=True,
    sync=SyncCode.OUT_OF_SYNC,
    revision="new",
    revisions=("new",),
    manifests_digest="d-new",
    synced_revisions=("old",),
    synced_manifests_digest="d-old",
)
# Nothing new since the last successful sync, but the cluster differs.
SAME = replace(NEW, revision="old", revisions=("old",), manifests_digest="d-old", resources=(DRIFTED,))

CASES: list[tuple[str, AutoSyncFacts, Rule | None, str]] = [
    # (case, facts, rule that holds the sync back or None, trigger when it runs)
    ("new commit is synced", NEW, None, AUTOMATED),
    ("automated: not enabled", replace(NEW, automated=False), Rule.AUTOMATED, ""),
    ("suspended (bosun app suspend)", replace(NEW, suspended=True), Rule.SUSPENDED, ""),
    ("sync-schedule annotation: only the schedule syncs", replace(NEW, scheduled=True), Rule.SYNC_SCHEDULE, ""),
    ("out-of-sync: Synced is not synced again", replace(NEW, sync=SyncCode.SYNCED), Rule.OUT_OF_SYNC, ""),
    ("out-of-sync: Unknown is not synced", replace(NEW, sync=SyncCode.UNKNOWN), Rule.OUT_OF_SYNC, ""),
    (
        "failed-previous-attempt: same revision and manifests are not retried",
        replace(NEW, failed_attempt=attempt_key("new", "d-new")),
        Rule.FAILED_PREVIOUS_ATTEMPT,
        "",
    ),
    (
        "failed-previous-attempt: self-heal does not retry it either",
        replace(SAME, self_heal=True, failed_attempt=attempt_key("old", "d-old")),
        Rule.FAILED_PREVIOUS_ATTEMPT,
        "",
    ),
    (
        "failed-previous-attempt: a new commit after a failure is synced",
        replace(NEW, failed_attempt=attempt_key("older", "d-older")),
        None,
        AUTOMATED,
    ),
    (
        "failed-previous-attempt: the same commit rendering differently (spec changed) is synced",
        replace(NEW, failed_attempt=attempt_key("new", "d-before-spec-change")),
        None,
        AUTOMATED,
    ),
    ("already-synced: drift without selfHeal is only reported", SAME, Rule.ALREADY_SYNCED, ""),
    ("already-synced: selfHeal syncs drift", replace(SAME, self_heal=True), None, SELF_HEAL),
    (
        "already-synced: selfHeal ignores resources that only need pruning",
        replace(SAME, self_heal=True, resources=(EXTRA, Res())),
        Rule.ALREADY_SYNCED,
        "",
    ),
    (
        "already-synced: a spec change that renders differently is synced like a commit",
        replace(SAME, manifests_digest="d-other-values"),
        None,
        AUTOMATED,
    ),
    (
        "already-synced: multi-source, another source's commit moved",
        replace(SAME, revisions=("old", "chart-2.0.0"), synced_revisions=("old", "chart-1.0.0")),
        None,
        AUTOMATED,
    ),
    (
        "already-synced: a new commit with selfHeal is a plain automated sync",
        replace(NEW, self_heal=True, resources=(DRIFTED,)),
        None,
        AUTOMATED,
    ),
    (
        "allow-empty: automated prune does not wipe out every resource",
        replace(NEW, prune=True, resources=EMPTIED),
        Rule.ALLOW_EMPTY,
        "",
    ),
    ("allow-empty: allowEmpty lets it", replace(NEW, prune=True, allow_empty=True, resources=EMPTIED), None, AUTOMATED),
    ("allow-empty: without prune nothing is wiped out", replace(NEW, resources=EMPTIED), None, AUTOMATED),
    (
        "allow-empty: one resource kept is enough",
        replace(NEW, prune=True, resources=(EXTRA, Res(sync=SyncCode.OUT_OF_SYNC))),
        None,
        AUTOMATED,
    ),
    ("sync-window: a deny window holds a new commit", replace(NEW, window=CLOSED), Rule.SYNC_WINDOW, ""),
    ("sync-window: holds self-heal too", replace(SAME, self_heal=True, window=CLOSED), Rule.SYNC_WINDOW, ""),
    ("sync-window: an open window lets it run", replace(NEW, window=OPEN), None, AUTOMATED),
    (
        "sync-window: checked after already-synced (nothing to do is not 'blocked')",
        replace(SAME, window=CLOSED),
        Rule.ALREADY_SYNCED,
        "",
    ),
]


@pytest.mark.parametrize(("facts", "rule", "trigger"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_auto_sync_rule(facts: AutoSyncFacts, rule: Rule | None, trigger: str) -> None:
    decision = decide(facts)
    assert decision.rule == rule
    assert decision.sync is (rule is None)
    if rule is None:
        assert decision.trigger == trigger and decision.reason == ""
    else:
        assert decision.reason.startswith(("Skipping auto-sync: ", "Skipping sync attempt to "))
        assert bool(decision.condition) is (rule is Rule.ALLOW_EMPTY)  # only it is a SyncError in Argo CD


def test_reasons_use_argo_cd_words() -> None:
    assert decide(replace(NEW, sync=SyncCode.SYNCED)).reason == "Skipping auto-sync: application status is Synced"
    failed = decide(replace(NEW, failed_attempt=attempt_key("new", "d-new")))
    assert failed.reason == "Skipping auto-sync: failed previous sync attempt to new"
    assert decide(SAME).reason == "Skipping auto-sync: most recent sync already to old"
    assert "deny window" in decide(replace(NEW, window=CLOSED)).reason
    wipe = decide(replace(NEW, prune=True, resources=EMPTIED))
    assert wipe.condition == "Skipping sync attempt to new: auto-sync will wipe out all resources"


def test_every_rule_has_a_row() -> None:
    assert {c[2] for c in CASES} - {None} == set(Rule)


@pytest.mark.parametrize(
    ("succeeded", "remembered"),
    [(True, ""), (False, "new@d-new")],
    ids=["success forgets the failed attempt", "failure remembers commit and manifests"],
)
def test_failed_attempt_after(succeeded: bool, remembered: str) -> None:
    assert failed_attempt_after(NEW, succeeded=succeeded) == remembered


@pytest.mark.parametrize(
    ("target_commit", "revision", "holds"),
    [("head-1", "rolled-back", True), ("head-2", "head-2", False)],
    ids=["pin holds while Git has not moved", "a newer commit releases the pin"],
)
def test_rollback_pin(target_commit: str, revision: str, holds: bool) -> None:
    outcome = pinned_revision(pinned="rolled-back", pinned_at_target="head-1", target_commit=target_commit)
    assert (outcome.revision, outcome.holds) == (revision, holds)


def test_decision_trigger_names() -> None:
    assert AutoSyncDecision(sync=True).trigger == "automated"
    assert AutoSyncDecision(sync=True, self_heal=True).trigger == "automated (self-heal)"
