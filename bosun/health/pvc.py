"""PersistentVolumeClaim health, after gitops-engine's ``health_pvc.go``.

``Bound`` is Healthy and ``Lost`` Degraded. A ``Pending`` claim is Progressing
only while a provisioner is working on it (the PV controller has set the
``volume.beta.kubernetes.io/storage-provisioner`` annotation); a pending claim
nobody is provisioning yet, typically a ``WaitForFirstConsumer`` storage class
waiting for its first pod, is Healthy, so a sync wave holding only the PVC does
not wait forever for the pod of a later wave.
"""

from __future__ import annotations

from bosun.health import _fields as f
from bosun.resources import HealthCode, HealthStatus, Manifest

PROVISIONER_ANNOTATION = "volume.beta.kubernetes.io/storage-provisioner"


def pvc_health(obj: Manifest) -> HealthStatus:
    phase = f.string(obj, "status", "phase")
    if phase == "Bound":
        return HealthStatus(status=HealthCode.HEALTHY)
    if phase == "Lost":
        return HealthStatus(status=HealthCode.DEGRADED)
    if phase == "Pending":
        if PROVISIONER_ANNOTATION in f.annotations_of(obj):
            return HealthStatus(status=HealthCode.PROGRESSING, message="Provisioning volume")
        return HealthStatus(status=HealthCode.HEALTHY, message="Waiting for consumer")
    return HealthStatus(status=HealthCode.UNKNOWN)
