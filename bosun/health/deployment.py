"""Deployment health, after gitops-engine's ``health_deployment.go``.

Argo CD borrows kubectl's ``rollout status`` logic: a paused Deployment is
Suspended; until the controller has observed the latest generation it is
Progressing; once observed, a ``ProgressDeadlineExceeded`` reason on the
``Progressing`` condition is Degraded, and unfinished replica counts are
Progressing with kubectl's wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


@dataclass(frozen=True)
class Deployment:
    name: str
    generation: int
    paused: bool
    replicas: int | None
    observed_generation: int
    status_replicas: int
    updated_replicas: int
    available_replicas: int
    conditions: list[f.Condition]

    @classmethod
    def from_manifest(cls, obj: Manifest) -> Deployment:
        return cls(
            name=f.string(obj, "metadata", "name"),
            generation=f.integer(obj, "metadata", "generation"),
            paused=f.boolean(obj, "spec", "paused"),
            replicas=f.optional_integer(obj, "spec", "replicas"),
            observed_generation=f.integer(obj, "status", "observedGeneration"),
            status_replicas=f.integer(obj, "status", "replicas"),
            updated_replicas=f.integer(obj, "status", "updatedReplicas"),
            available_replicas=f.integer(obj, "status", "availableReplicas"),
            conditions=f.conditions(obj),
        )


def deployment_health(obj: Manifest) -> HealthStatus:
    d = Deployment.from_manifest(obj)
    if d.paused:
        return HealthStatus(status=HealthCode.SUSPENDED, message="Deployment is paused")
    if d.generation > d.observed_generation:
        return HealthStatus(
            status=HealthCode.PROGRESSING,
            message="Waiting for rollout to finish: observed deployment generation less than desired generation",
        )
    progressing = f.find_condition(d.conditions, "Progressing")
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return HealthStatus(
            status=HealthCode.DEGRADED,
            message=f"Deployment {f.go_quote(d.name)} exceeded its progress deadline",
        )
    if d.replicas is not None and d.updated_replicas < d.replicas:
        return _waiting(f"{d.updated_replicas} out of {d.replicas} new replicas have been updated...")
    if d.status_replicas > d.updated_replicas:
        old = d.status_replicas - d.updated_replicas
        return _waiting(f"{old} old replicas are pending termination...")
    if d.available_replicas < d.updated_replicas:
        return _waiting(f"{d.available_replicas} of {d.updated_replicas} updated replicas are available...")
    return HealthStatus(status=HealthCode.HEALTHY)


def _waiting(detail: str) -> HealthStatus:
    return HealthStatus(status=HealthCode.PROGRESSING, message=f"Waiting for rollout to finish: {detail}")
