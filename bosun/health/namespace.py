"""Namespace health: a Bosun addition.

Argo CD has no health check for Namespaces and shows none. Bosun reports an
``Active`` (or not yet created, from Git) Namespace as Healthy, which never
changes an application's aggregate because Healthy is the best status, and a
``Terminating`` one as Progressing. A Namespace being deleted normally carries
``metadata.deletionTimestamp`` and is reported "Pending deletion" before this
check runs; the phase rule covers a status read without its metadata.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest


def namespace_health(obj: Manifest) -> HealthStatus:
    if f.string(obj, "status", "phase") == "Terminating":
        return HealthStatus(status=HealthCode.PROGRESSING, message="Namespace is terminating")
    return HealthStatus(status=HealthCode.HEALTHY)
