"""Pod health, after gitops-engine's ``health_pod.go``.

- ``Pending`` is Progressing, ``Succeeded`` Healthy, ``Failed`` Degraded with the
  pod's message or the first failed container's (init containers first).
- ``Running`` with ``restartPolicy: Always`` (the Kubernetes default) is Healthy
  when the ``Ready`` condition is true, Degraded when a container has
  terminated before (it is restarting), Progressing otherwise.
- A container waiting with a reason starting ``Err`` or ending ``Error`` /
  ``BackOff`` (``CrashLoopBackOff``, ``ImagePullBackOff``, ``ErrImagePull``,
  ``CreateContainerConfigError``) makes a restart-Always pod Degraded at once,
  messages joined by ", ".
- ``Running`` with ``OnFailure`` / ``Never`` is Progressing: such pods have a
  finite life and are usually sync hooks, and marking a hook Degraded on a
  transient ``ImagePullBackOff`` would fail the sync while the pod may still
  run later. For the same reason the backoff rule does not apply to them.
- ``argocd.argoproj.io/ignore-restart-policy`` (Argo CD's alpha opt-out for
  operator-managed pods) assesses a ``Never`` / ``OnFailure`` pod like an
  ``Always`` one. A hook pod ignores it: a hook keeps its finite-life semantics.
- Any other phase is Unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bosun.health import _fields as f
from bosun.plan import is_hook
from bosun.resources import HealthCode, HealthStatus, Manifest

IGNORE_RESTART_POLICY_ANNOTATION = "argocd.argoproj.io/ignore-restart-policy"

_DEGRADED_WAITING_PREFIXES = ("Err",)
_DEGRADED_WAITING_SUFFIXES = ("Error", "BackOff")


@dataclass(frozen=True)
class ContainerStatus:
    name: str
    waiting_reason: str | None
    waiting_message: str
    terminated: bool
    terminated_reason: str
    terminated_message: str
    exit_code: int
    last_terminated: bool

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ContainerStatus:
        state = f.mapping(raw, "state")
        return cls(
            name=f.string(raw, "name"),
            waiting_reason=(f.string(raw, "state", "waiting", "reason") if state.get("waiting") is not None else None),
            waiting_message=f.string(raw, "state", "waiting", "message"),
            terminated=state.get("terminated") is not None,
            terminated_reason=f.string(raw, "state", "terminated", "reason"),
            terminated_message=f.string(raw, "state", "terminated", "message"),
            exit_code=f.integer(raw, "state", "terminated", "exitCode"),
            last_terminated=f.mapping(raw, "lastState").get("terminated") is not None,
        )

    @property
    def fail_message(self) -> str:
        if not self.terminated:
            return ""
        if self.terminated_message:
            return self.terminated_message
        if self.terminated_reason == "OOMKilled":
            return self.terminated_reason
        if self.exit_code != 0:
            return f"container {f.go_quote(self.name)} failed with exit code {self.exit_code}"
        return ""


@dataclass(frozen=True)
class Pod:
    restart_policy: str
    assess_as_always: bool
    phase: str
    message: str
    ready: bool
    init_containers: list[ContainerStatus]
    containers: list[ContainerStatus]

    @classmethod
    def from_manifest(cls, obj: Manifest) -> Pod:
        # The API server defaults an absent restartPolicy to Always; a manifest
        # from Git usually leaves it out.
        restart_policy = f.string(obj, "spec", "restartPolicy") or "Always"
        ignore = IGNORE_RESTART_POLICY_ANNOTATION in f.annotations_of(obj) and not is_hook(obj)
        ready = f.find_condition(f.conditions(obj), "Ready")
        return cls(
            restart_policy=restart_policy,
            assess_as_always=restart_policy == "Always" or ignore,
            phase=f.string(obj, "status", "phase"),
            message=f.string(obj, "status", "message"),
            ready=ready is not None and ready.status == "True",
            init_containers=_container_statuses(obj, "initContainerStatuses"),
            containers=_container_statuses(obj, "containerStatuses"),
        )


def _container_statuses(obj: Manifest, field: str) -> list[ContainerStatus]:
    statuses = []
    for i, raw in enumerate(f.mappings(obj, "status", field)):
        with f.within(f".status.{field}[{i}]"):
            statuses.append(ContainerStatus.from_mapping(raw))
    return statuses


def _degraded_waiting(reason: str | None) -> bool:
    return reason is not None and (
        reason.startswith(_DEGRADED_WAITING_PREFIXES) or reason.endswith(_DEGRADED_WAITING_SUFFIXES)
    )


def pod_health(obj: Manifest) -> HealthStatus:
    p = Pod.from_manifest(obj)
    if p.assess_as_always:
        stuck = [c.waiting_message for c in p.containers if _degraded_waiting(c.waiting_reason)]
        if stuck:
            return HealthStatus(status=HealthCode.DEGRADED, message=", ".join(stuck))

    if p.phase == "Pending":
        return HealthStatus(status=HealthCode.PROGRESSING, message=p.message)
    if p.phase == "Succeeded":
        return HealthStatus(status=HealthCode.HEALTHY, message=p.message)
    if p.phase == "Failed":
        if p.message:
            return HealthStatus(status=HealthCode.DEGRADED, message=p.message)
        for container in [*p.init_containers, *p.containers]:
            if container.fail_message:
                return HealthStatus(status=HealthCode.DEGRADED, message=container.fail_message)
        return HealthStatus(status=HealthCode.DEGRADED)
    if p.phase == "Running":
        if p.assess_as_always:
            if p.ready:
                return HealthStatus(status=HealthCode.HEALTHY, message=p.message)
            if any(c.last_terminated for c in p.containers):
                return HealthStatus(status=HealthCode.DEGRADED, message=p.message)
            return HealthStatus(status=HealthCode.PROGRESSING, message=p.message)
        if p.restart_policy in ("OnFailure", "Never"):
            return HealthStatus(status=HealthCode.PROGRESSING, message=p.message)
    return HealthStatus(status=HealthCode.UNKNOWN, message=p.message)
