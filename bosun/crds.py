"""CustomResourceDefinitions among an app's objects: the kinds they define.

An app may hold a CRD and custom resources of its kind, and its first sync creates both
(gitops-engine's "CRD in the same sync"). Until the CRD exists, the cluster cannot say
whether such a resource is namespaced, and neither reading nor dry-running it can work;
the CRD itself says both::

    kind: CustomResourceDefinition
    spec: {group: example.com, names: {kind: Widget}, scope: Cluster}
    # → DefinedKind(group="example.com", kind="Widget", namespaced=False)

Callers ask the cluster first and fall back to :func:`defined_kinds` for a kind the
cluster does not serve yet; a sync applies the CRD first and waits until
:func:`is_established` before it applies objects of its kind.

To extend: another CRD field a caller needs is one more field on :class:`DefinedKind`,
read in :func:`defined_kind`, plus a row in ``tests/unit/test_crds.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bosun.resources import Manifest, group_kind

__all__ = ["CRD_GROUP", "CRD_KIND", "DefinedKind", "defined_kind", "defined_kinds", "is_crd", "is_established"]

CRD_GROUP = "apiextensions.k8s.io"
CRD_KIND = "CustomResourceDefinition"


@dataclass(frozen=True)
class DefinedKind:
    """The kind a CRD defines: its API group, kind, and whether its objects are namespaced."""

    group: str
    kind: str
    namespaced: bool


def is_crd(obj: Manifest) -> bool:
    return group_kind(obj) == (CRD_GROUP, CRD_KIND)


def defined_kind(obj: Manifest) -> DefinedKind | None:
    """The kind ``obj`` defines if it is a CRD naming a group and a kind; else None.

    ``spec.scope`` is ``Namespaced`` or ``Cluster`` (required by the API server; a CRD
    without it is taken as namespaced, so its objects get the app's namespace).
    """
    if not is_crd(obj):
        return None
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    group, names = spec.get("group"), spec.get("names")
    kind = names.get("kind") if isinstance(names, dict) else None
    if not isinstance(group, str) or not isinstance(kind, str) or not group or not kind:
        return None
    return DefinedKind(group=group, kind=kind, namespaced=spec.get("scope") != "Cluster")


def defined_kinds(objects: Iterable[Manifest]) -> dict[tuple[str, str], DefinedKind]:
    """The kinds the CRDs among ``objects`` define, by (group, kind)."""
    found = (defined_kind(obj) for obj in objects)
    return {(d.group, d.kind): d for d in found if d is not None}


def is_established(live: Manifest) -> bool:
    """Whether the API server serves the kind of this live CRD (its ``Established`` condition)."""
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
