"""The analysis gates' pure rules (bosun.rollouts.analysis_gates), after Argo Rollouts'
``rollout/analysis.go`` and ``utils/replicaset/canary.go`` (``BeforeStartingStep``)."""

from __future__ import annotations

import pytest

from bosun.rollouts.analysis_gates import (
    Gate,
    Verdict,
    abort_message,
    background_due,
    run_labels,
    run_name,
    verdict,
)
from bosun.rollouts.spec import BackgroundAnalysis, CanaryStrategy, TemplateRef


def canary(starting_step: int | None = None, *, analysis: bool = True) -> CanaryStrategy:
    return CanaryStrategy(
        analysis=BackgroundAnalysis(templates=(TemplateRef(template_name="t"),), starting_step=starting_step)
        if analysis
        else None
    )


@pytest.mark.parametrize(
    ("strategy", "step", "current", "stable", "aborted", "full", "due"),
    [
        (canary(), 0, "b", "a", False, False, True),  # at the start of the update
        (canary(analysis=False), 0, "b", "a", False, False, False),
        (canary(), 0, "a", "a", False, False, False),  # fully promoted / first revision
        (canary(), 0, "b", "", False, False, False),  # no stable yet
        (canary(), 1, "b", "a", True, False, False),  # aborted
        (canary(), 1, "b", "a", False, True, False),  # promoted fully
        (canary(2), 1, "b", "a", False, False, False),  # before startingStep
        (canary(2), 2, "b", "a", False, False, True),
        (canary(2), 3, "b", "a", False, False, True),
    ],
)
def test_background_due(
    strategy: CanaryStrategy, step: int, current: str, stable: str, aborted: bool, full: bool, due: bool
) -> None:
    assert (
        background_due(
            strategy, step_index=step, current_hash=current, stable_hash=stable, aborted=aborted, promote_full=full
        )
        is due
    )


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (None, Verdict.WAIT),
        ("Running", Verdict.WAIT),
        ("Pending", Verdict.WAIT),
        ("Successful", Verdict.GO),
        ("Failed", Verdict.ABORT),
        ("Error", Verdict.ABORT),
        ("Inconclusive", Verdict.PAUSE),
    ],
)
def test_verdict(phase: str | None, expected: Verdict) -> None:
    assert verdict(phase) is expected


def test_names_and_labels_follow_argo() -> None:
    assert run_name("web", "abc", 3, Gate.BACKGROUND) == "web-abc-3"
    assert run_name("web", "abc", 3, Gate.PRE_PROMOTION) == "web-abc-3-pre"
    assert run_name("web", "abc", 3, Gate.POST_PROMOTION, 2) == "web-abc-3-post.2"
    assert run_labels(Gate.BACKGROUND, "abc") == {"rollouts-pod-template-hash": "abc", "rollout-type": "Background"}


def test_abort_message_names_the_run() -> None:
    assert abort_message("web-abc-3", "Failed", "metric x assessed Failed") == (
        "AnalysisRun 'web-abc-3' failed: metric x assessed Failed"
    )
    assert abort_message("web-abc-3", "Error", "") == "AnalysisRun 'web-abc-3' error"
