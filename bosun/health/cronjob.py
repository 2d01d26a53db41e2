"""CronJob health, after Argo CD's ``resource_customizations/batch/CronJob/health.lua``.

A CronJob never blocks an application: only a finished run that did not
succeed (``lastSuccessfulTime`` older than ``lastScheduleTime`` with no job
active) is Degraded. Argo CD 3.2 reports a suspended CronJob as Healthy
(argo-cd#24428: a Suspended resource would make the whole application
Suspended), and a running job as Healthy (argo-cd#24429). Without any status
yet the CronJob is Progressing.

The timestamps are RFC 3339 in UTC, so they compare as strings, as the Lua does.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def cronjob_health(obj: Manifest) -> HealthStatus:
    if f.boolean(obj, "spec", "suspend"):
        return HealthStatus(status=HealthCode.HEALTHY, message="CronJob is Suspended")
    if obj.get("status") is None:
        return HealthStatus(status=HealthCode.PROGRESSING, message="Waiting for CronJob")

    last_schedule = f.optional_string(obj, "status", "lastScheduleTime")
    if last_schedule is None:
        # Status alone cannot tell a missed schedule from one not yet due.
        return HealthStatus(status=HealthCode.HEALTHY, message="CronJob has not been scheduled yet")
    last_success = f.optional_string(obj, "status", "lastSuccessfulTime")
    if last_success is None:
        return HealthStatus(
            status=HealthCode.HEALTHY,
            message="The CronJob never completed successfully. It may not be healthy",
        )
    if f.items(obj, "status", "active"):
        return HealthStatus(
            status=HealthCode.HEALTHY,
            message="The job is running. Its last execution may not have been successful",
        )
    if last_success < last_schedule:
        return HealthStatus(
            status=HealthCode.DEGRADED,
            message="CronJob has not completed its last execution successfully",
        )
    return HealthStatus(status=HealthCode.HEALTHY, message="CronJob has completed its last execution successfully")
