"""Ephemeral pod metadata: ``canaryMetadata`` / ``stableMetadata`` (canary) and
``previewMetadata`` / ``activeMetadata`` (blue-green), after Argo Rollouts'
``rollout/ephemeralmetadata.go`` and ``utils/replicaset`` (``SyncEphemeralPodMetadata``,
``SyncReplicaSetEphemeralPodMetadata``).

The labels and annotations of a role are put on the pod template of the ReplicaSet that has
the role now, and on its existing pods; what was put there before (remembered on the
ReplicaSet in the ``rollout.argoproj.io/ephemeral-metadata`` annotation, as Argo does) and
is no longer wanted is removed. Only keys Bosun put there are ever removed, so labels other
controllers add to pods are left alone.

:func:`wanted_metadata` says which ReplicaSet gets which metadata; :func:`metadata_patch` is
the merge patch for one object's metadata (a pod, or a ReplicaSet's pod template). The I/O is
``sync_ephemeral_metadata`` in :mod:`activities.rollouts`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from bosun.rollouts.spec import PodMetadata, Rollout

EPHEMERAL_METADATA_ANNOTATION: Final = "rollout.argoproj.io/ephemeral-metadata"


def has_ephemeral_metadata(rollout: Rollout) -> bool:
    """Argo's ``hasEphemeralMetadataConfigured``: nothing is synced without it."""
    if rollout.canary is not None:
        return rollout.canary.canary_metadata is not None or rollout.canary.stable_metadata is not None
    if rollout.blue_green is not None:
        return rollout.blue_green.preview_metadata is not None or rollout.blue_green.active_metadata is not None
    return False


def role_metadata(rollout: Rollout, *, new: bool) -> PodMetadata | None:
    """The metadata of the new side (canary, preview) or, with ``new=False``, of the stable
    side (stable, active)."""
    if rollout.canary is not None:
        return rollout.canary.canary_metadata if new else rollout.canary.stable_metadata
    if rollout.blue_green is not None:
        return rollout.blue_green.preview_metadata if new else rollout.blue_green.active_metadata
    return None


def wanted_metadata(
    rollout: Rollout, *, current_hash: str, stable_hash: str, hashes: list[str]
) -> dict[str, PodMetadata | None]:
    """pod-template hash → the metadata its ReplicaSet's pods carry (None: none of it), for
    each of ``hashes`` (Argo's ``reconcileEphemeralMetadata``): fully rolled out, the current
    ReplicaSet is the stable one and gets the stable metadata; while updating, the current one
    gets the canary (preview) metadata and the stable one the stable (active) metadata; every
    other ReplicaSet none. Empty when no metadata is configured."""
    if not has_ephemeral_metadata(rollout):
        return {}
    fully_rolled_out = not stable_hash or stable_hash == current_hash
    wanted: dict[str, PodMetadata | None] = dict.fromkeys(hashes)
    if fully_rolled_out:
        wanted[current_hash] = role_metadata(rollout, new=False)
    else:
        wanted[current_hash] = role_metadata(rollout, new=True)
        wanted[stable_hash] = role_metadata(rollout, new=False)
    return wanted


def metadata_patch(
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
    existing: PodMetadata | None,
    desired: PodMetadata | None,
) -> dict[str, Any] | None:
    """The merge patch (``{"labels": …, "annotations": …}``, ``None`` values remove a key) that
    puts ``desired`` on an object's metadata and removes what ``existing`` put there and is no
    longer desired; None when nothing changes (Argo's ``SyncEphemeralPodMetadata``)."""
    patch: dict[str, Any] = {}
    for field, live in (("labels", labels or {}), ("annotations", annotations or {})):
        want: Mapping[str, str] = getattr(desired, field) if desired is not None else {}
        had: Mapping[str, str] = getattr(existing, field) if existing is not None else {}
        changes: dict[str, str | None] = {k: v for k, v in want.items() if live.get(k) != v}
        changes.update({k: None for k in had if k not in want and k in live})
        if changes:
            patch[field] = changes
    return patch or None


def encode_metadata(metadata: PodMetadata | None) -> str | None:
    """The ``ephemeral-metadata`` annotation's value (Argo's JSON, empty maps left out), or
    None for no metadata."""
    if metadata is None:
        return None
    doc = {k: v for k, v in (("labels", metadata.labels), ("annotations", metadata.annotations)) if v}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def parse_metadata(value: str | None) -> PodMetadata | None:
    """The metadata an ``ephemeral-metadata`` annotation records; None if absent or unreadable
    (Argo's ``ParseExistingPodMetadata``)."""
    if not value:
        return None
    try:
        doc = json.loads(value)
        return PodMetadata(labels=doc.get("labels") or {}, annotations=doc.get("annotations") or {})
    except (ValueError, TypeError, AttributeError):
        return None
