"""Job health, after gitops-engine's ``health_job.go``.

Judged by the condition types alone, as gitops-engine does: a ``Failed``
condition is Degraded with its message, ``Complete`` is Healthy, a true
``Suspended`` condition is Suspended; no terminal condition yet is
Progressing. Hook Jobs are assessed the same way; their sync waits for
Healthy (success) or Degraded (failure).

gitops-engine reports a suspended Job with the (empty) failure message rather
than the ``Suspended`` condition's; Bosun copies that so messages match.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def job_health(obj: Manifest) -> HealthStatus:
    failed = complete = suspended = False
    fail_message = message = ""
    for condition in f.conditions(obj):
        if condition.type == "Failed":
            failed = complete = True
            fail_message = condition.message
        elif condition.type == "Complete":
            complete = True
            message = condition.message
        elif condition.type == "Suspended":
            complete = True
            message = condition.message
            suspended = suspended or condition.status == "True"
    if not complete:
        return HealthStatus(status=HealthCode.PROGRESSING, message=message)
    if failed:
        return HealthStatus(status=HealthCode.DEGRADED, message=fail_message)
    if suspended:
        return HealthStatus(status=HealthCode.SUSPENDED, message=fail_message)
    return HealthStatus(status=HealthCode.HEALTHY, message=message)
