"""The analysis gates of a rollout besides its inline ``analysis`` steps: canary background
analysis (``strategy.canary.analysis``) and blue-green ``prePromotionAnalysis`` /
``postPromotionAnalysis``; the pure decisions the RolloutWorkflow takes about them.

After Argo Rollouts' ``rollout/analysis.go`` (``reconcileBackgroundAnalysisRun``,
``reconcilePre/PostPromotionAnalysisRun``, ``setPauseOrAbort``, ``needsNewAnalysisRun``) and
``utils/replicaset/canary.go`` (``BeforeStartingStep``):

* a background run starts once the canary update has reached ``startingStep`` (at once
  without one), not for the first revision, nor once fully promoted, aborted or promoted with
  ``--full`` (then it is terminated);
* a run's end decides the gate (:func:`verdict`): Successful lets the rollout go on, Failed or
  Error aborts it (the status message names the AnalysisRun, :func:`abort_message`),
  Inconclusive pauses it with an ``InconclusiveAnalysisRun`` pause condition; promoting that
  pause starts a new run of the same gate (Argo's ``needsNewAnalysisRun``);
* the AnalysisRun is named ``<rollout>-<pod hash>-<revision>`` (background), with ``-pre`` /
  ``-post`` for blue-green, ``.N`` for its N-th re-run (Argo's collision counter), and labelled
  ``rollout-type: Background|PrePromotion|PostPromotion``.

The blue-green ordering (pre-promotion analysis before the switch, post-promotion after it) is
:func:`bosun.rollouts.bluegreen.before_switch` / :func:`~bosun.rollouts.bluegreen.after_switch`.
To add a gate: a :class:`Gate` member, its start rule here, its call site in the workflow.
"""

from __future__ import annotations

from enum import StrEnum

from bosun.rollouts.spec import CanaryStrategy

HASH_LABEL = "rollouts-pod-template-hash"
ROLLOUT_TYPE_LABEL = "rollout-type"


class Gate(StrEnum):
    """Which gate an AnalysisRun is; the value is Argo's ``rollout-type`` label."""

    BACKGROUND = "Background"
    PRE_PROMOTION = "PrePromotion"
    POST_PROMOTION = "PostPromotion"


_INFIX = {Gate.BACKGROUND: "", Gate.PRE_PROMOTION: "-pre", Gate.POST_PROMOTION: "-post"}


class Verdict(StrEnum):
    WAIT = "Wait"
    """Not started or still measuring."""
    GO = "Go"
    PAUSE = "Pause"
    """Inconclusive: an ``InconclusiveAnalysisRun`` pause until promoted."""
    ABORT = "Abort"


def verdict(phase: str | None) -> Verdict:
    """What an AnalysisRun's phase means for the rollout (Argo's ``setPauseOrAbort``)."""
    if phase == "Successful":
        return Verdict.GO
    if phase in ("Failed", "Error"):
        return Verdict.ABORT
    if phase == "Inconclusive":
        return Verdict.PAUSE
    return Verdict.WAIT


def background_due(
    canary: CanaryStrategy,
    *,
    step_index: int,
    current_hash: str,
    stable_hash: str,
    aborted: bool,
    promote_full: bool,
) -> bool:
    """Whether the canary's background AnalysisRun should be running now: there is one, the
    update is under way (not the first revision, not fully promoted), neither aborted nor
    promoted fully, and ``currentStepIndex`` has reached ``startingStep``."""
    if canary.analysis is None or not canary.analysis.templates:
        return False
    if aborted or promote_full or not stable_hash or not current_hash or current_hash == stable_hash:
        return False
    starting = canary.analysis.starting_step
    return starting is None or step_index >= starting


def run_name(rollout: str, pod_hash: str, revision: int, gate: Gate, rerun: int = 0) -> str:
    """The AnalysisRun's name (Argo's ``newAnalysisRunFromRollout`` + collision counter)."""
    name = f"{rollout}-{pod_hash}-{revision}{_INFIX[gate]}"
    return f"{name}.{rerun}" if rerun else name


def run_labels(gate: Gate, pod_hash: str) -> dict[str, str]:
    """Argo's ``BackgroundLabels`` / ``PrePromotionLabels`` / ``PostPromotionLabels``."""
    return {HASH_LABEL: pod_hash, ROLLOUT_TYPE_LABEL: str(gate)}


def abort_message(name: str, phase: str, message: str) -> str:
    """The abort reason the Rollout's status carries: ``AnalysisRun 'x' failed: <why>``."""
    text = f"AnalysisRun '{name}' {phase.lower()}"
    return f"{text}: {message}" if message else text


__all__ = [
    "Gate",
    "Verdict",
    "abort_message",
    "background_due",
    "run_labels",
    "run_name",
    "verdict",
]
