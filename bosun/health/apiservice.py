"""APIService health, after gitops-engine's ``health_apiservice.go``.

An aggregated API is Healthy when its ``Available`` condition is true,
Progressing otherwise, with the condition's "reason: message".
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def apiservice_health(obj: Manifest) -> HealthStatus:
    available = f.find_condition(f.conditions(obj), "Available")
    if available is None:
        return HealthStatus(status=HealthCode.PROGRESSING, message="Waiting to be processed")
    code = HealthCode.HEALTHY if available.status == "True" else HealthCode.PROGRESSING
    return HealthStatus(status=code, message=f"{available.reason}: {available.message}")
