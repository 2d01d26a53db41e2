"""Argo Rollouts ``Rollout`` health, after Argo CD's
``resource_customizations/argoproj.io/Rollout/health.lua``.

1. Progressing, "Waiting for rollout spec update to be observed", until the
   controller has observed the Rollout's generation (a numeric
   ``status.observedGeneration``; the hash that Rollouts before v0.10 wrote
   there counts as observed) and, for a ``workloadRef`` Rollout, the referenced
   workload's generation.
2. Rollouts v1.0 and later report ``status.phase`` and ``status.message``; these
   are surfaced as they are, with ``Paused`` shown as Suspended.
3. Older controllers: an ``InvalidSpec`` condition, or a ``Progressing``
   condition with reason ``RolloutAborted`` or ``ProgressDeadlineExceeded``, is
   Degraded; pause conditions or ``spec.paused`` are Suspended; replica counts,
   the active Service (blue-green) and the stable ReplicaSet (canary) must
   have caught up with the current pod hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest

WORKLOAD_GENERATION_ANNOTATION = "rollout.argoproj.io/workload-generation"


def _number(value: Any) -> float | None:
    """Lua's ``tonumber``: numbers and numeric strings, else nil."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Rollout:
    generation: int
    has_status: bool
    observed_generation: float | None
    workload_ref: bool
    has_annotations: bool
    workload_generation: float | None
    workload_observed_generation: float | None
    phase: str | None
    message: str
    conditions: list[f.Condition]
    paused: bool
    pause_conditions: int
    current_pod_hash: str | None
    replicas: int
    status_replicas: int
    updated_replicas: int
    available_replicas: int
    blue_green: bool
    canary: bool
    active_selector: str | None
    stable_rs: str

    @classmethod
    def from_manifest(cls, obj: Manifest) -> Rollout:
        # Lua's tonumber() reads these leniently; no type errors for them.
        status = f.mapping(obj, "status")
        stable_rs = f.optional_string(obj, "status", "stableRS")
        if stable_rs is None:  # before Rollouts v0.8: status.canary.stableRS
            stable_rs = f.string(obj, "status", "canary", "stableRS")
        replicas = f.optional_integer(obj, "spec", "replicas")
        strategy = f.mapping(obj, "spec", "strategy")
        return cls(
            generation=f.integer(obj, "metadata", "generation"),
            has_status=obj.get("status") is not None,
            observed_generation=_number(status.get("observedGeneration")),
            workload_ref=f.mapping(obj, "spec").get("workloadRef") is not None,
            has_annotations=f.mapping(obj, "metadata").get("annotations") is not None,
            workload_generation=_number(f.annotations_of(obj).get(WORKLOAD_GENERATION_ANNOTATION)),
            workload_observed_generation=_number(status.get("workloadObservedGeneration")),
            phase=f.optional_string(obj, "status", "phase"),
            message=f.string(obj, "status", "message"),
            conditions=f.conditions(obj),
            paused=f.boolean(obj, "spec", "paused"),
            pause_conditions=len(f.items(obj, "status", "pauseConditions")),
            current_pod_hash=f.optional_string(obj, "status", "currentPodHash"),
            replicas=1 if replicas is None else replicas,
            status_replicas=f.integer(obj, "status", "replicas"),
            updated_replicas=f.integer(obj, "status", "updatedReplicas"),
            available_replicas=f.integer(obj, "status", "availableReplicas"),
            blue_green=strategy.get("blueGreen") is not None,
            canary=strategy.get("canary") is not None,
            active_selector=(
                f.optional_string(obj, "status", "blueGreen", "activeSelector")
                if status.get("blueGreen") is not None
                else None
            ),
            stable_rs=stable_rs,
        )

    @property
    def generation_observed(self) -> bool:
        if not self.has_status:
            return False
        observed = self.observed_generation
        if observed is None or observed > self.generation:
            return True  # a pre-v0.10 hash, not a generation number
        return observed == self.generation

    @property
    def workload_generation_observed(self) -> bool:
        if not self.workload_ref or not self.has_annotations:
            return True
        return self.workload_generation == self.workload_observed_generation


_PHASES = {
    "Healthy": HealthCode.HEALTHY,
    "Progressing": HealthCode.PROGRESSING,
    "Degraded": HealthCode.DEGRADED,
    "Paused": HealthCode.SUSPENDED,
    "Suspended": HealthCode.SUSPENDED,
    "Missing": HealthCode.MISSING,
    "Unknown": HealthCode.UNKNOWN,
}


def rollout_health(obj: Manifest) -> HealthStatus:
    r = Rollout.from_manifest(obj)
    if not r.generation_observed or not r.workload_generation_observed:
        return _progressing("Waiting for rollout spec update to be observed")

    if r.phase:
        return HealthStatus(status=_PHASES.get(r.phase, HealthCode.UNKNOWN), message=r.message)

    for c in r.conditions:
        if c.type == "InvalidSpec" or (
            c.type == "Progressing" and c.reason in ("RolloutAborted", "ProgressDeadlineExceeded")
        ):
            return HealthStatus(status=HealthCode.DEGRADED, message=c.message)

    if r.pause_conditions > 0 or r.paused:
        return HealthStatus(status=HealthCode.SUSPENDED, message="Rollout is paused")

    if r.current_pod_hash is None:
        return _progressing("Waiting for rollout to finish: status has not been reconciled.")

    if r.updated_replicas < r.replicas:
        return _progressing("Waiting for roll out to finish: More replicas need to be updated")
    # Blue-green may keep old replicas for a long scale-down delay and is healthy
    # meanwhile, so only a canary waits for them to go.
    if r.canary and r.status_replicas > r.updated_replicas:
        return _progressing("Waiting for roll out to finish: old replicas are pending termination")
    if r.available_replicas < r.updated_replicas:
        return _progressing("Waiting for roll out to finish: updated replicas are still becoming available")

    if r.blue_green:
        if r.active_selector != r.current_pod_hash:
            return _progressing("active service cutover pending")
        if r.stable_rs and r.stable_rs != r.current_pod_hash:
            return _progressing("waiting for analysis to complete")
    elif r.canary and (not r.stable_rs or r.stable_rs != r.current_pod_hash):
        return _progressing("Waiting for rollout to finish steps")

    return HealthStatus(status=HealthCode.HEALTHY)


def _progressing(message: str) -> HealthStatus:
    return HealthStatus(status=HealthCode.PROGRESSING, message=message)
