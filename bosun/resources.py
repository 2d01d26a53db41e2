"""Resource identity and the status vocabulary shared by every part of Bosun.

A Kubernetes object is identified by its group, kind, namespace and name (Argo CD's
``kube.ResourceKey``). Versions are deliberately not part of the key: the same object
served as ``apps/v1`` and ``apps/v1beta1`` is one object.

The status enums use Argo CD's exact strings, because users script against them and
the Temporal UI shows them in search attributes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

Manifest = dict[str, Any]
"""A Kubernetes object as parsed from YAML/JSON or read from the API server."""


class HealthCode(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


class SyncCode(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: HealthCode
    message: str = ""


def api_group(api_version: str) -> str:
    """The API group of an ``apiVersion``: ``apps/v1`` → ``apps``, ``v1`` → "" (the core group).

    The one place Bosun splits an apiVersion (Kubernetes' ``schema.ParseGroupVersion``).
    """
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def group_kind(obj: Manifest) -> tuple[str, str]:
    """(group, kind) of an object, as :meth:`ResourceKey.of` reads them."""
    return api_group(str(obj.get("apiVersion") or "")), str(obj.get("kind") or "")


class ResourceKey(BaseModel):
    """group/kind/namespace/name; ``group`` is "" for the core API group."""

    model_config = ConfigDict(frozen=True)

    group: str = ""
    kind: str
    namespace: str = ""
    name: str

    @classmethod
    def of(cls, obj: Manifest) -> ResourceKey:
        group, kind = group_kind(obj)
        meta = obj.get("metadata") or {}
        return cls(
            group=group,
            kind=kind,
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
        )

    def __str__(self) -> str:
        """``group/Kind/namespace/name``, the form Argo CD prints and tracking ids use."""
        return f"{self.group}/{self.kind}/{self.namespace}/{self.name}"

    @property
    def short(self) -> str:
        """``Kind/name`` for summaries a person reads."""
        return f"{self.kind}/{self.name}"

    @property
    def described(self) -> str:
        """``Kind/name in namespace ns`` (just ``Kind/name`` when cluster-scoped), for messages."""
        return self.short + (f" in namespace {self.namespace}" if self.namespace else "")
