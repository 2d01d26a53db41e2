"""DaemonSet health, after gitops-engine's ``health_daemonset.go``.

kubectl's ``rollout status`` logic: Progressing until the controller has
observed the latest generation; an OnDelete DaemonSet is then Healthy (pods
are only replaced when someone deletes them); otherwise every desired node
must run an updated, available pod.
"""

from __future__ import annotations

from dataclasses import dataclass

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


@dataclass(frozen=True)
class DaemonSet:
    name: str
    generation: int
    strategy_type: str
    observed_generation: int
    desired: int
    updated: int
    available: int

    @classmethod
    def from_manifest(cls, obj: Manifest) -> DaemonSet:
        return cls(
            name=f.string(obj, "metadata", "name"),
            generation=f.integer(obj, "metadata", "generation"),
            strategy_type=f.string(obj, "spec", "updateStrategy", "type"),
            observed_generation=f.integer(obj, "status", "observedGeneration"),
            desired=f.integer(obj, "status", "desiredNumberScheduled"),
            updated=f.integer(obj, "status", "updatedNumberScheduled"),
            available=f.integer(obj, "status", "numberAvailable"),
        )


def daemonset_health(obj: Manifest) -> HealthStatus:
    d = DaemonSet.from_manifest(obj)
    if d.generation > d.observed_generation:
        return HealthStatus(
            status=HealthCode.PROGRESSING,
            message="Waiting for rollout to finish: observed daemon set generation less than desired generation",
        )
    if d.strategy_type == "OnDelete":
        return HealthStatus(
            status=HealthCode.HEALTHY,
            message=f"daemon set {d.updated} out of {d.desired} new pods have been updated",
        )
    name = f.go_quote(d.name)
    if d.updated < d.desired:
        return HealthStatus(
            status=HealthCode.PROGRESSING,
            message=f"Waiting for daemon set {name} rollout to finish: "
            f"{d.updated} out of {d.desired} new pods have been updated...",
        )
    if d.available < d.desired:
        return HealthStatus(
            status=HealthCode.PROGRESSING,
            message=f"Waiting for daemon set {name} rollout to finish: "
            f"{d.available} of {d.desired} updated pods are available...",
        )
    return HealthStatus(status=HealthCode.HEALTHY)
