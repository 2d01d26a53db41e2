"""CustomResourceDefinition health, after Argo CD's
``resource_customizations/apiextensions.k8s.io/CustomResourceDefinition/health.lua``.

A CRD is Healthy once ``Established`` is true, its names were accepted and its
schema is structural. A ``Terminating`` condition is Progressing; with no
conditions yet, the API server has not processed it (Progressing).

As in the Lua script, one message slot is shared: later conditions in the list
overwrite the message of earlier ones.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def crd_health(obj: Manifest) -> HealthStatus:
    conds = f.conditions(obj)
    if not conds:
        return HealthStatus(status=HealthCode.PROGRESSING, message="Status conditions not found")
    established = terminating = names_rejected = violations = False
    message = ""
    for c in conds:
        if c.type == "Terminating" and c.status == "True":
            terminating, message = True, c.message
        if c.type == "NamesAccepted" and c.status == "False":
            names_rejected, message = True, c.message
        if c.type == "Established" and c.status == "True":
            established, message = True, c.message
        if c.type == "NonStructuralSchema" and c.status == "True":
            violations, message = True, c.message
    if terminating:
        return HealthStatus(status=HealthCode.PROGRESSING, message=f"CRD is terminating: {message}")
    if names_rejected:
        return HealthStatus(status=HealthCode.DEGRADED, message=f"CRD names have not been accepted: {message}")
    if not established:
        return HealthStatus(status=HealthCode.DEGRADED, message="CRD is not established")
    if violations:
        return HealthStatus(status=HealthCode.DEGRADED, message=f"Schema violations found: {message}")
    return HealthStatus(status=HealthCode.HEALTHY, message="CRD is healthy")
