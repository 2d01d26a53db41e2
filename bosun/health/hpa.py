"""HorizontalPodAutoscaler health, after gitops-engine's ``health_hpa.go``.

The HPA's conditions decide (``autoscaling/v1`` keeps them as JSON in the
``autoscaling.alpha.kubernetes.io/conditions`` annotation, later versions in
``status.conditions``). Any condition reporting that the HPA cannot read its
target's scale or its metrics is Degraded, whatever precedes it (argo-cd#26274);
otherwise an ``AbleToScale`` or ``ScalingLimited`` condition that is true is
Healthy; anything else is Progressing, "Waiting to Autoscale".
"""

from __future__ import annotations

import json

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest

V1_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"

# (type, reason) pairs the HPA controller sets when it cannot do its job.
DEGRADED_CONDITIONS = frozenset(
    {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "FailedGetContainerResourceMetric"),
        ("ScalingActive", "FailedGetPodsMetric"),
        ("ScalingActive", "FailedGetObjectMetric"),
        ("ScalingActive", "FailedGetExternalMetric"),
        ("ScalingActive", "InvalidSelector"),
    }
)
HEALTHY_CONDITION_TYPES = frozenset({"AbleToScale", "ScalingLimited"})

_WAITING = HealthStatus(status=HealthCode.PROGRESSING, message="Waiting to Autoscale")


def hpa_health(obj: Manifest) -> HealthStatus:
    if str(obj.get("apiVersion", "")) == "autoscaling/v1":
        raw = f.annotations_of(obj).get(V1_CONDITIONS_ANNOTATION)
        if raw is None:
            return _WAITING
        conds = _v1_conditions(raw)
    else:
        conds = f.conditions(obj)
    if not conds:
        return _WAITING
    for c in conds:
        if (c.type, c.reason) in DEGRADED_CONDITIONS:
            return HealthStatus(status=HealthCode.DEGRADED, message=c.message)
    for c in conds:
        if c.type in HEALTHY_CONDITION_TYPES and c.status == "True":
            return HealthStatus(status=HealthCode.HEALTHY, message=c.message)
    return _WAITING


def _v1_conditions(raw: object) -> list[f.Condition]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError as e:
        raise f.FieldTypeError(f"failed to convert conditions annotation to typed: {e}") from e
    if not isinstance(parsed, list):
        raise f.FieldTypeError("failed to convert conditions annotation to typed: expected a JSON list")
    # Go's encoding/json matches field names case-insensitively ("type" -> Type).
    result = []
    for i, item in enumerate(parsed):
        if not isinstance(item, dict):
            raise f.FieldTypeError("failed to convert conditions annotation to typed: expected JSON objects")
        fields = {str(k).lower(): v for k, v in item.items()}
        with f.within(f"failed to convert conditions annotation to typed: [{i}]"):
            result.append(f.Condition.from_mapping(fields))
    return result
