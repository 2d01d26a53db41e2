"""StatefulSet health, after gitops-engine's ``health_statefulset.go``.

kubectl's ``rollout status`` logic: Progressing until the controller has
observed the spec (an ``observedGeneration`` of 0 counts as not observed) and
until enough pods are ready; then a RollingUpdate with a ``rollingUpdate``
block is judged by its partition, OnDelete is Healthy as soon as pods are
ready, and otherwise the update and current revisions must match.
"""

from __future__ import annotations

from dataclasses import dataclass

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


@dataclass(frozen=True)
class StatefulSet:
    generation: int
    replicas: int | None
    strategy_type: str
    has_rolling_update: bool
    partition: int | None
    observed_generation: int
    ready_replicas: int
    updated_replicas: int
    current_replicas: int
    update_revision: str
    current_revision: str

    @classmethod
    def from_manifest(cls, obj: Manifest) -> StatefulSet:
        strategy = ("spec", "updateStrategy")
        return cls(
            generation=f.integer(obj, "metadata", "generation"),
            replicas=f.optional_integer(obj, "spec", "replicas"),
            strategy_type=f.string(obj, *strategy, "type"),
            has_rolling_update=f.mapping(obj, *strategy).get("rollingUpdate") is not None,
            partition=f.optional_integer(obj, *strategy, "rollingUpdate", "partition"),
            observed_generation=f.integer(obj, "status", "observedGeneration"),
            ready_replicas=f.integer(obj, "status", "readyReplicas"),
            updated_replicas=f.integer(obj, "status", "updatedReplicas"),
            current_replicas=f.integer(obj, "status", "currentReplicas"),
            update_revision=f.string(obj, "status", "updateRevision"),
            current_revision=f.string(obj, "status", "currentRevision"),
        )


def statefulset_health(obj: Manifest) -> HealthStatus:
    s = StatefulSet.from_manifest(obj)
    if s.observed_generation == 0 or s.generation > s.observed_generation:
        return _progressing("Waiting for statefulset spec update to be observed...")
    if s.replicas is not None and s.ready_replicas < s.replicas:
        return _progressing(f"Waiting for {s.replicas - s.ready_replicas} pods to be ready...")
    if s.strategy_type == "RollingUpdate" and s.has_rolling_update:
        if s.replicas is not None and s.partition is not None:
            wanted = s.replicas - s.partition
            if s.updated_replicas < wanted:
                return _progressing(
                    "Waiting for partitioned roll out to finish: "
                    f"{s.updated_replicas} out of {wanted} new pods have been updated..."
                )
        return HealthStatus(
            status=HealthCode.HEALTHY,
            message=f"partitioned roll out complete: {s.updated_replicas} new pods have been updated...",
        )
    if s.strategy_type == "OnDelete":
        return HealthStatus(status=HealthCode.HEALTHY, message=f"statefulset has {s.ready_replicas} ready pods")
    if s.update_revision != s.current_revision:
        return _progressing(
            "waiting for statefulset rolling update to complete "
            f"{s.updated_replicas} pods at revision {s.update_revision}..."
        )
    return HealthStatus(
        status=HealthCode.HEALTHY,
        message=f"statefulset rolling update complete {s.current_replicas} pods at revision {s.current_revision}...",
    )


def _progressing(message: str) -> HealthStatus:
    return HealthStatus(status=HealthCode.PROGRESSING, message=message)
