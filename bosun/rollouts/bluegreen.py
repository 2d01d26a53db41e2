"""Blue-green decisions: how many preview pods, and what to do next before and after the
active Service switches.

After Argo Rollouts' ``rollout/bluegreen.go`` and ``rollout/replicaset.go`` (the preview's
replica count with ``previewReplicaCount`` and ``status.blueGreen.scaleUpPreviewCheckPoint``)
and the blue-green pages of its docs: the new ReplicaSet comes up behind the preview Service;
``prePromotionAnalysis`` runs against it; without auto-promotion the rollout pauses
(``BlueGreenPause``) until promoted, with ``autoPromotionSeconds`` it pauses that long; then
the active Service switches to the new hash, ``postPromotionAnalysis`` runs, and the old
ReplicaSet is scaled down ``scaleDownDelaySeconds`` later. A failed analysis aborts: the
active Service stays on (or returns to) the stable hash and the preview is scaled down after
``abortScaleDownDelaySeconds`` (never, if 0).

The RolloutWorkflow calls :func:`before_switch` / :func:`after_switch` after each observation
and does the action with activities and timers. To add a gate, add an :class:`Action` and its
rule here, and a row to ``tests/unit/rollouts/test_bluegreen.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bosun.rollouts.spec import BlueGreenStrategy

_RUNNING = ("", "Pending", "Running")
_FAILED = ("Failed", "Error")


class Action(StrEnum):
    WAIT_FOR_PREVIEW = "WaitForPreview"
    """The preview ReplicaSet is not at its count with every pod available yet."""
    START_ANALYSIS = "StartAnalysis"
    """Start the pre- (before the switch) or post-promotion (after) analysis."""
    WAIT_FOR_ANALYSIS = "WaitForAnalysis"
    PAUSE = "Pause"
    """Add a ``BlueGreenPause`` condition; :attr:`Decision.pause_seconds` None: until promoted."""
    SCALE_UP_PREVIEW = "ScaleUpPreview"
    """``previewReplicaCount`` is set: bring the preview to full scale before the switch
    (set ``scaleUpPreviewCheckPoint``)."""
    SWITCH_ACTIVE = "SwitchActive"
    """Point the active Service at the new hash."""
    MARK_STABLE = "MarkStable"
    """The new ReplicaSet becomes ``stableRS``; scale the old one down after the delay."""
    ABORT = "Abort"


@dataclass(frozen=True)
class Decision:
    action: Action
    pause_seconds: int | None = None
    """For :attr:`Action.PAUSE`: seconds left to pause, None until promoted."""
    message: str = ""


def preview_replica_count(
    bg: BlueGreenStrategy,
    *,
    replicas: int,
    new_is_active: bool,
    scale_up_preview_checkpoint: bool,
) -> int:
    """Pods for the new ReplicaSet: ``replicas``, except before the switch with
    ``previewReplicaCount`` set and no scale-up checkpoint yet, when it is that count."""
    if bg.preview_replica_count is None or new_is_active or scale_up_preview_checkpoint:
        return replicas
    return bg.preview_replica_count


def before_switch(
    bg: BlueGreenStrategy,
    *,
    preview_ready: bool,
    pre_promotion_analysis: str | None = None,
    paused_seconds: int | None = None,
    promoted: bool = False,
    promote_full: bool = False,
    scale_up_preview_checkpoint: bool = False,
    aborted: bool = False,
) -> Decision:
    """What to do while the active Service still points at the stable hash.

    ``preview_ready``: the new ReplicaSet is at :func:`preview_replica_count` with all pods
    available. ``pre_promotion_analysis``: the phase of its run (None: not started).
    ``paused_seconds``: how long the ``BlueGreenPause`` has lasted (None: not paused yet).
    ``promoted``: a person promoted (the pause conditions were cleared); ``promote_full``
    skips analysis and pauses.
    """
    if aborted:
        return Decision(Action.ABORT, message="Rollout aborted")
    if not preview_ready:
        return Decision(Action.WAIT_FOR_PREVIEW)
    if not promote_full:
        if bg.pre_promotion_analysis is not None:
            if pre_promotion_analysis is None:
                return Decision(Action.START_ANALYSIS)
            if pre_promotion_analysis in _RUNNING:
                return Decision(Action.WAIT_FOR_ANALYSIS)
            if pre_promotion_analysis in _FAILED:
                return Decision(Action.ABORT, message=f"pre-promotion analysis {pre_promotion_analysis}")
            if pre_promotion_analysis == "Inconclusive" and not promoted:
                return Decision(Action.PAUSE, message="pre-promotion analysis Inconclusive")
        if not promoted:
            if not bg.auto_promotion_enabled:
                return Decision(Action.PAUSE)
            if bg.auto_promotion_seconds > 0:
                left = bg.auto_promotion_seconds - (paused_seconds or 0)
                if left > 0:
                    return Decision(Action.PAUSE, pause_seconds=left)
    if bg.preview_replica_count is not None and not scale_up_preview_checkpoint:
        return Decision(Action.SCALE_UP_PREVIEW)
    return Decision(Action.SWITCH_ACTIVE)


def after_switch(
    bg: BlueGreenStrategy,
    *,
    post_promotion_analysis: str | None = None,
    aborted: bool = False,
) -> Decision:
    """What to do once the active Service points at the new hash: run the post-promotion
    analysis if there is one, then make the new ReplicaSet stable; a failed analysis aborts
    (the active Service goes back to the stable hash)."""
    if aborted:
        return Decision(Action.ABORT, message="Rollout aborted")
    if bg.post_promotion_analysis is not None:
        if post_promotion_analysis is None:
            return Decision(Action.START_ANALYSIS)
        if post_promotion_analysis in _RUNNING:
            return Decision(Action.WAIT_FOR_ANALYSIS)
        if post_promotion_analysis in _FAILED:
            return Decision(Action.ABORT, message=f"post-promotion analysis {post_promotion_analysis}")
        if post_promotion_analysis == "Inconclusive":
            return Decision(Action.PAUSE, message="post-promotion analysis Inconclusive")
    return Decision(Action.MARK_STABLE)
