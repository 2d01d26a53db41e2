"""ReplicaSet health, after gitops-engine's ``health_replicaset.go``.

Once the controller has observed the latest generation, a true
``ReplicaFailure`` condition (quota exceeded, pods forbidden, ...) is Degraded
with the condition's message; fewer available replicas than desired is
Progressing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


@dataclass(frozen=True)
class ReplicaSet:
    generation: int
    replicas: int | None
    observed_generation: int
    available_replicas: int
    conditions: list[f.Condition]

    @classmethod
    def from_manifest(cls, obj: Manifest) -> ReplicaSet:
        return cls(
            generation=f.integer(obj, "metadata", "generation"),
            replicas=f.optional_integer(obj, "spec", "replicas"),
            observed_generation=f.integer(obj, "status", "observedGeneration"),
            available_replicas=f.integer(obj, "status", "availableReplicas"),
            conditions=f.conditions(obj),
        )


def replicaset_health(obj: Manifest) -> HealthStatus:
    r = ReplicaSet.from_manifest(obj)
    if r.generation > r.observed_generation:
        return HealthStatus(
            status=HealthCode.PROGRESSING,
            message="Waiting for rollout to finish: observed replica set generation less than desired generation",
        )
    failure = f.find_condition(r.conditions, "ReplicaFailure")
    if failure is not None and failure.status == "True":
        return HealthStatus(status=HealthCode.DEGRADED, message=failure.message)
    if r.replicas is not None and r.available_replicas < r.replicas:
        return HealthStatus(
            status=HealthCode.PROGRESSING,
            message="Waiting for rollout to finish: "
            f"{r.available_replicas} out of {r.replicas} new replicas are available...",
        )
    return HealthStatus(status=HealthCode.HEALTHY)
