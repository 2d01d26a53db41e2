"""Resource health, assessed exactly as Argo CD assesses it.

``assess_health(obj)`` gives one object's :class:`~bosun.resources.HealthStatus`,
or ``None`` when its kind has no health (a ConfigMap, a Secret), as
gitops-engine's ``GetResourceHealth`` returns nil. ``app_health(statuses)``
folds resource healths into an application's: the worst wins, in Argo CD's
order Healthy < Suspended < Progressing < Missing < Degraded < Unknown
(gitops-engine ``health.go``, ``healthOrder`` / ``IsWorse``).

Before any per-kind check, an object with ``metadata.deletionTimestamp`` is
Progressing, "Pending deletion", unless it is a sync hook still holding
``argocd.argoproj.io/hook-finalizer`` (see :mod:`bosun.health.hooks`).

``assess_health(obj, override=...)`` asks ``override`` first (gitops-engine's
``healthOverride``): a custom check from the settings (a Lua ``health.lua``, see
:mod:`bosun.health.custom`) replaces the built-in one for its kind; when the override
returns None the built-in registry below decides.

Each kind's rule is one small module named after the kind, holding one
function ``<kind>_health(obj: Manifest) -> HealthStatus`` that reads the fields
it needs into a small typed record first. Checks match on API group and kind,
not version. To add a kind: write the module, add one entry to ``REGISTRY``
below, and add fixtures under ``tests/unit/fixtures/health/`` (one YAML file
per case, expected status and message in ``test.bosun.dev/expected-*``
annotations).

This package is pure: no Kubernetes client, no Temporal, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bosun.health._fields import FieldTypeError
from bosun.health.apiservice import apiservice_health
from bosun.health.crd import crd_health
from bosun.health.cronjob import cronjob_health
from bosun.health.daemonset import daemonset_health
from bosun.health.deployment import deployment_health
from bosun.health.hooks import has_hook_finalizer
from bosun.health.hpa import hpa_health
from bosun.health.ingress import ingress_health
from bosun.health.job import job_health
from bosun.health.namespace import namespace_health
from bosun.health.pod import pod_health
from bosun.health.pvc import pvc_health
from bosun.health.replicaset import replicaset_health
from bosun.health.rollout import rollout_health
from bosun.health.service import service_health
from bosun.health.statefulset import statefulset_health
from bosun.resources import HealthCode, HealthStatus, Manifest, ResourceKey

__all__ = [
    "HEALTH_ORDER",
    "REGISTRY",
    "HealthCheck",
    "app_health",
    "assess_health",
    "health_check_for",
    "is_worse",
]

HealthCheck = Callable[[Manifest], HealthStatus]

REGISTRY: dict[tuple[str, str], HealthCheck] = {
    ("apps", "Deployment"): deployment_health,
    ("apps", "StatefulSet"): statefulset_health,
    ("apps", "DaemonSet"): daemonset_health,
    ("apps", "ReplicaSet"): replicaset_health,
    ("", "Pod"): pod_health,
    ("", "Service"): service_health,
    ("", "PersistentVolumeClaim"): pvc_health,
    ("", "Namespace"): namespace_health,
    ("batch", "Job"): job_health,
    ("batch", "CronJob"): cronjob_health,
    ("networking.k8s.io", "Ingress"): ingress_health,
    ("extensions", "Ingress"): ingress_health,
    ("autoscaling", "HorizontalPodAutoscaler"): hpa_health,
    ("apiregistration.k8s.io", "APIService"): apiservice_health,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd_health,
    ("argoproj.io", "Rollout"): rollout_health,
}
"""Health checks by (API group, kind); the core group is ""."""

HEALTH_ORDER: tuple[HealthCode, ...] = (
    HealthCode.HEALTHY,
    HealthCode.SUSPENDED,
    HealthCode.PROGRESSING,
    HealthCode.MISSING,
    HealthCode.DEGRADED,
    HealthCode.UNKNOWN,
)
"""Health codes from most to least healthy, gitops-engine's ``healthOrder``."""

_RANK = {code: rank for rank, code in enumerate(HEALTH_ORDER)}

PENDING_DELETION = HealthStatus(status=HealthCode.PROGRESSING, message="Pending deletion")


def health_check_for(group: str, kind: str) -> HealthCheck | None:
    """The check for a kind, or None when Argo CD (and Bosun) has none for it."""
    return REGISTRY.get((group, kind))


def assess_health(
    obj: Manifest, *, override: Callable[[Manifest], HealthStatus | None] | None = None
) -> HealthStatus | None:
    """The health of one object, or None when its kind has no health.

    ``override`` (a custom check, e.g. :func:`bosun.health.custom.settings_health`) is asked
    first; its answer wins unless it is None.
    """
    try:
        meta = obj.get("metadata")
        if isinstance(meta, dict) and meta.get("deletionTimestamp") and not has_hook_finalizer(obj):
            return PENDING_DELETION
        if override is not None:
            custom = override(obj)
            if custom is not None:
                return custom
        key = ResourceKey.of(obj)
        check = health_check_for(key.group, key.kind)
        if check is None:
            return None
        return check(obj)
    except FieldTypeError as e:
        # gitops-engine reports a failed conversion to the typed object as Unknown.
        return HealthStatus(
            status=HealthCode.UNKNOWN,
            message=f"failed to assess {obj.get('kind') or 'object'} health: {e}",
        )


def is_worse(current: HealthCode, new: HealthCode) -> bool:
    """Whether ``new`` is worse than ``current`` (gitops-engine's ``IsWorse``)."""
    return _RANK[new] > _RANK[current]


def app_health(statuses: Iterable[HealthStatus | HealthCode | None]) -> HealthCode:
    """An application's health: the worst of its resources' healths.

    ``None`` entries (kinds without health) are skipped, and no resources at all
    is Healthy, as Argo CD starts from Healthy. Which resources to leave out
    before calling this (hooks, ``Missing`` resources, ignored ones) is the
    caller's decision, as in Argo CD's ``setApplicationHealth``.
    """
    worst = HealthCode.HEALTHY
    for item in statuses:
        if item is None:
            continue
        code = item.status if isinstance(item, HealthStatus) else HealthCode(item)
        if is_worse(worst, code):
            worst = code
    return worst
