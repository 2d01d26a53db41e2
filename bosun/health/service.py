"""Service health, after gitops-engine's ``health_service.go``.

Only a ``LoadBalancer`` Service can be unready: it is Progressing until the
cloud provider has published an address in ``status.loadBalancer.ingress``.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def service_health(obj: Manifest) -> HealthStatus:
    if f.string(obj, "spec", "type") == "LoadBalancer" and not f.items(obj, "status", "loadBalancer", "ingress"):
        return HealthStatus(status=HealthCode.PROGRESSING)
    return HealthStatus(status=HealthCode.HEALTHY)
