"""A Rollout's ``status``, in Argo Rollouts' shape, built from what the RolloutWorkflow knows.

Tools that read Argo Rollouts' status must read Bosun's unchanged: Argo CD's Rollout health
check (``bosun/health/rollout.py``), ``kubectl argo rollouts get``, dashboards. So the
field names, condition types, reasons and messages are Argo's (``utils/conditions/conditions.go``,
``pkg/apis/rollouts/v1alpha1/types.go``), and ``phase``/``message`` follow Argo's
``CalculateRolloutPhase`` (``utils/rollout/rolloututil.go``).

The workflow fills a :class:`StatusInput` (typed, small) and writes :func:`build_status`'s
answer with a status-subresource patch. To add a status field: add an input field with a
default, write it in :func:`build_status`, and add a row to ``tests/unit/rollouts/test_status.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bosun.hashing import fnv32a
from bosun.rollouts.hash import safe_encode_string
from bosun.rollouts.replicas import TrafficWeights, max_unavailable
from bosun.rollouts.spec import Rollout


class Phase(StrEnum):
    """``status.phase`` (Argo's ``RolloutPhase``)."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"


class ConditionType(StrEnum):
    """Argo's ``RolloutConditionType``."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    INVALID_SPEC = "InvalidSpec"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    HEALTHY = "Healthy"


class Reason(StrEnum):
    """Condition reasons, from Argo's ``utils/conditions``."""

    INVALID_SPEC = "InvalidSpec"
    AVAILABLE = "AvailableReason"
    REPLICA_SET_UPDATED = "ReplicaSetUpdated"
    NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
    ROLLOUT_ABORTED = "RolloutAborted"
    TIMED_OUT = "ProgressDeadlineExceeded"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_RESUMED = "RolloutResumed"
    ROLLOUT_COMPLETED = "RolloutCompleted"
    ROLLOUT_NOT_COMPLETED = "RolloutNotCompleted"
    ROLLOUT_HEALTHY = "RolloutHealthy"
    ANALYSIS_RUN_FAILED = "AnalysisRunFailed"


class PauseReason(StrEnum):
    """``status.pauseConditions[].reason`` (Argo's ``PauseReason``)."""

    CANARY_PAUSE_STEP = "CanaryPauseStep"
    BLUE_GREEN_PAUSE = "BlueGreenPause"
    INCONCLUSIVE_ANALYSIS = "InconclusiveAnalysisRun"


class PauseCondition(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: PauseReason
    start_time: str
    """RFC 3339, when the pause began."""


class AnalysisRunStatus(BaseModel):
    """``status.canary.currentStepAnalysisRunStatus`` and its siblings."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: str
    """Pending, Running, Successful, Failed, Error, Inconclusive."""
    message: str = ""


class StatusInput(BaseModel):
    """What the RolloutWorkflow knows after a reconciliation; :func:`build_status` turns it
    into ``status``."""

    model_config = ConfigDict(frozen=True)

    rollout: Rollout
    now: str
    """RFC 3339 time for condition timestamps (the workflow's ``workflow.now()``)."""
    current_pod_hash: str
    stable_rs: str = ""
    current_revision: int = 1
    current_step_index: int | None = None
    pause_conditions: tuple[PauseCondition, ...] = ()
    controller_pause: bool = False
    abort: bool = False
    promote_full: bool = False
    invalid_spec: str = ""
    """The :class:`~bosun.rollouts.spec.RolloutSpecError` message, or "" if the spec is valid."""
    progress_deadline_exceeded: bool = False
    abort_message: str = ""
    """Why it was aborted, e.g. ``AnalysisRun 'x' failed``; added to Argo's abort message."""
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    hpa_replicas: int | None = None
    """Pods receiving traffic; defaults to ``replicas``."""
    active_selector: str = ""
    preview_selector: str = ""
    weights: TrafficWeights | None = None
    """Traffic weights last set on the router (canary with traffic routing)."""
    step_analysis_run: AnalysisRunStatus | None = None
    background_analysis_run: AnalysisRunStatus | None = None
    pre_promotion_analysis_run: AnalysisRunStatus | None = None
    post_promotion_analysis_run: AnalysisRunStatus | None = None
    previous_conditions: tuple[dict[str, Any], ...] = Field(default_factory=tuple)
    """``status.conditions`` as last written, so unchanged conditions keep their times."""


def rollout_phase(i: StatusInput, conditions: Sequence[Mapping[str, Any]]) -> tuple[Phase, str]:
    """Argo's ``CalculateRolloutPhase`` over the spec, the input and the new conditions."""
    ro = i.rollout
    for c in conditions:
        if c.get("type") == ConditionType.INVALID_SPEC:
            return Phase.DEGRADED, f"{ConditionType.INVALID_SPEC}: {c.get('message', '')}"
        if c.get("reason") in (Reason.ROLLOUT_ABORTED, Reason.TIMED_OUT):
            return Phase.DEGRADED, f"{c.get('reason')}: {c.get('message', '')}"
    if ro.paused:
        return Phase.PAUSED, "manually paused"
    for pause in i.pause_conditions:
        return Phase.PAUSED, str(pause.reason)
    if i.updated_replicas < ro.replicas:
        return Phase.PROGRESSING, "more replicas need to be updated"
    if i.available_replicas < i.updated_replicas:
        return Phase.PROGRESSING, "updated replicas are still becoming available"
    promoted = bool(i.stable_rs) and i.stable_rs == i.current_pod_hash
    if ro.blue_green is not None:
        if not i.active_selector or i.active_selector != i.current_pod_hash:
            return Phase.PROGRESSING, "active service cutover pending"
        if not promoted:
            post = i.post_promotion_analysis_run
            if ro.blue_green.post_promotion_analysis is not None and (post is None or not _completed(post.status)):
                return Phase.PROGRESSING, "waiting for analysis to complete"
            return Phase.PROGRESSING, "waiting for post-promotion verification to complete"
    elif ro.canary is not None:
        if ro.canary.traffic_routing is None and i.replicas > i.updated_replicas:
            return Phase.PROGRESSING, "old replicas are pending termination"
        if not promoted:
            return Phase.PROGRESSING, "waiting for all steps to complete"
    return Phase.HEALTHY, ""


def _completed(phase: str) -> bool:
    return phase in ("Successful", "Failed", "Error", "Inconclusive")


def build_status(i: StatusInput) -> dict[str, Any]:
    """The whole ``status`` to write (a status-subresource merge patch of this replaces the
    fields Bosun owns). Argo writes ``observedGeneration`` as a string; so does Bosun."""
    ro = i.rollout
    conditions = _conditions(i)
    phase, message = rollout_phase(i, conditions)
    status: dict[str, Any] = {
        "phase": str(phase),
        "message": message,
        "observedGeneration": str(ro.generation),
        "currentPodHash": i.current_pod_hash,
        "stableRS": i.stable_rs,
        "replicas": i.replicas,
        "updatedReplicas": i.updated_replicas,
        "readyReplicas": i.ready_replicas,
        "availableReplicas": i.available_replicas,
        "HPAReplicas": i.replicas if i.hpa_replicas is None else i.hpa_replicas,
        "selector": format_label_selector(ro.selector),
        "pauseConditions": [{"reason": str(p.reason), "startTime": p.start_time} for p in i.pause_conditions] or None,
        "controllerPause": i.controller_pause or None,
        "abort": i.abort or None,
        "promoteFull": i.promote_full or None,
        "conditions": conditions,
    }
    if i.abort:
        status["abortedAt"] = (
            _condition_time(i.previous_conditions, ConditionType.PROGRESSING, Reason.ROLLOUT_ABORTED) or i.now
        )
    else:
        status["abortedAt"] = None
    if ro.canary is not None:
        status["currentStepIndex"] = i.current_step_index if ro.canary.steps else None
        status["currentStepHash"] = step_hash(ro)
        canary: dict[str, Any] = {
            "currentStepAnalysisRunStatus": _run(i.step_analysis_run),
            "currentBackgroundAnalysisRunStatus": _run(i.background_analysis_run),
        }
        if ro.canary.traffic_routing is not None and i.weights is not None:
            canary["weights"] = {
                "canary": {
                    "weight": i.weights.canary,
                    "podTemplateHash": i.current_pod_hash,
                    "serviceName": ro.canary.canary_service,
                },
                "stable": {
                    "weight": i.weights.stable,
                    "podTemplateHash": i.stable_rs,
                    "serviceName": ro.canary.stable_service,
                },
            }
        status["canary"] = canary
        status["blueGreen"] = {}
    else:
        status["blueGreen"] = {
            "activeSelector": i.active_selector,
            "previewSelector": i.preview_selector,
            "prePromotionAnalysisRunStatus": _run(i.pre_promotion_analysis_run),
            "postPromotionAnalysisRunStatus": _run(i.post_promotion_analysis_run),
        }
        status["canary"] = {}
    return status


def _run(run: AnalysisRunStatus | None) -> dict[str, str] | None:
    if run is None:
        return None
    out = {"name": run.name, "status": run.status}
    if run.message:
        out["message"] = run.message
    return out


def step_hash(rollout: Rollout) -> str:
    """``status.currentStepHash``: changes when the canary steps change (like Argo's
    ``ComputeStepHash``; values differ, as for :func:`bosun.rollouts.hash.pod_template_hash`)."""
    if rollout.canary is None:
        return ""
    steps = [s.model_dump(mode="json", exclude_none=True) for s in rollout.canary.steps]
    return safe_encode_string(str(fnv32a(json.dumps(steps, sort_keys=True, separators=(",", ":")).encode())))


def format_label_selector(selector: Mapping[str, Any]) -> str:
    """Kubernetes' ``metav1.FormatLabelSelector`` for ``status.selector``: requirements sorted
    by key, ``app=web,tier in (a,b)``; "<none>" for an empty selector."""
    parts: list[tuple[str, str]] = []
    labels = selector.get("matchLabels") or {}
    if isinstance(labels, Mapping):
        parts += [(str(k), f"{k}={v}") for k, v in labels.items()]
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            continue
        key, op = str(expr.get("key", "")), str(expr.get("operator", ""))
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        if op == "In":
            parts.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    if not parts:
        return "<none>"
    return ",".join(text for _, text in sorted(parts))


def _condition_time(previous: Sequence[Mapping[str, Any]], type_: str, reason: str) -> str | None:
    for c in previous:
        if c.get("type") == type_ and c.get("reason") == reason:
            value = c.get("lastTransitionTime")
            return value if isinstance(value, str) else None
    return None


def _conditions(i: StatusInput) -> list[dict[str, Any]]:
    ro = i.rollout
    previous = {c.get("type"): c for c in i.previous_conditions if isinstance(c, Mapping)}
    out: list[dict[str, Any]] = []

    def add(type_: ConditionType, status: str, reason: Reason, message: str) -> None:
        before = previous.get(str(type_))
        transition = update = i.now
        if before is not None and before.get("status") == status:
            transition = str(before.get("lastTransitionTime") or i.now)
            if before.get("reason") == reason and before.get("message") == message:
                update = str(before.get("lastUpdateTime") or i.now)
        out.append(
            {
                "type": str(type_),
                "status": status,
                "reason": str(reason),
                "message": message,
                "lastTransitionTime": transition,
                "lastUpdateTime": update,
            }
        )

    if i.invalid_spec:
        add(ConditionType.INVALID_SPEC, "True", Reason.INVALID_SPEC, i.invalid_spec)
        return out

    rs_name = f"{ro.name}-{i.current_pod_hash}"
    completed = bool(i.stable_rs) and i.stable_rs == i.current_pod_hash
    paused = ro.paused or bool(i.pause_conditions)
    if i.abort:
        message = f"Rollout aborted update to revision {i.current_revision}"
        if i.abort_message:
            message += f": {i.abort_message}"
        add(ConditionType.PROGRESSING, "False", Reason.ROLLOUT_ABORTED, message)
    elif i.progress_deadline_exceeded:
        add(ConditionType.PROGRESSING, "False", Reason.TIMED_OUT, f'ReplicaSet "{rs_name}" has timed out progressing.')
    elif paused:
        add(ConditionType.PROGRESSING, "Unknown", Reason.ROLLOUT_PAUSED, "Rollout is paused")
    elif completed and i.available_replicas >= ro.replicas and i.updated_replicas >= ro.replicas:
        add(
            ConditionType.PROGRESSING,
            "True",
            Reason.NEW_RS_AVAILABLE,
            f'ReplicaSet "{rs_name}" has successfully progressed.',
        )
    else:
        add(ConditionType.PROGRESSING, "True", Reason.REPLICA_SET_UPDATED, f'ReplicaSet "{rs_name}" is progressing.')

    if ro.canary is not None:
        min_available = ro.replicas - max_unavailable(ro.replicas, ro.canary.max_surge, ro.canary.max_unavailable)
    else:
        min_available = ro.replicas
    if i.available_replicas >= min_available:
        add(ConditionType.AVAILABLE, "True", Reason.AVAILABLE, "Rollout has minimum availability")
    else:
        add(ConditionType.AVAILABLE, "False", Reason.AVAILABLE, "Rollout does not have minimum availability")

    if paused:
        add(ConditionType.PAUSED, "True", Reason.ROLLOUT_PAUSED, "Rollout is paused")
    elif str(ConditionType.PAUSED) in previous:
        add(ConditionType.PAUSED, "False", Reason.ROLLOUT_RESUMED, "Rollout is resumed")

    if completed:
        add(
            ConditionType.COMPLETED,
            "True",
            Reason.ROLLOUT_COMPLETED,
            f"Rollout completed update to revision {i.current_revision} ({i.current_pod_hash}): RolloutCompleted",
        )
    else:
        add(
            ConditionType.COMPLETED,
            "False",
            Reason.ROLLOUT_NOT_COMPLETED,
            f"Rollout not completed, started update to revision {i.current_revision} ({i.current_pod_hash})",
        )
    if _healthy(i):
        add(ConditionType.HEALTHY, "True", Reason.ROLLOUT_HEALTHY, "Rollout is healthy")
    else:
        add(ConditionType.HEALTHY, "False", Reason.ROLLOUT_HEALTHY, "Rollout is not healthy")
    return out


def _healthy(i: StatusInput) -> bool:
    """Argo's ``RolloutHealthy``: everything updated, available and serving, no old pods."""
    ro = i.rollout
    done = True
    if ro.blue_green is not None:
        done = i.active_selector == i.current_pod_hash and (
            not ro.blue_green.preview_service or i.preview_selector == i.current_pod_hash
        )
    elif ro.canary is not None:
        steps_done = not ro.canary.steps or i.current_step_index is None or i.current_step_index == len(ro.canary.steps)
        stable_is_current = bool(i.stable_rs) and i.stable_rs == i.current_pod_hash
        done = steps_done and stable_is_current and i.replicas == ro.replicas
    return i.updated_replicas == ro.replicas and i.available_replicas == ro.replicas and not i.abort and done
