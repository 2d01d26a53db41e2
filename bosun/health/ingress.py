"""Ingress health, after gitops-engine's ``health_ingress.go``.

Healthy once the ingress controller has published an address in
``status.loadBalancer.ingress``, Progressing until then. Applies to
``networking.k8s.io`` and the legacy ``extensions`` group alike.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def ingress_health(obj: Manifest) -> HealthStatus:
    if f.items(obj, "status", "loadBalancer", "ingress"):
        return HealthStatus(status=HealthCode.HEALTHY)
    return HealthStatus(status=HealthCode.PROGRESSING)
