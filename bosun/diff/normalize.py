"""Normalization: strip from an object everything that never counts as a difference.

Both sides of a comparison go through :func:`normalize` before they are compared, so a
rule added here applies to desired, predicted and live alike. What is removed:

- ``status`` (configurable like Argo CD's ``resource.compareoptions``
  ``ignoreResourceStatusField``: ``all``, the Argo CD 3 default, ``crd`` or ``none``);
- server-owned metadata: ``managedFields``, ``resourceVersion``, ``uid``, ``generation``,
  ``creationTimestamp``, ``selfLink``, ``deletionTimestamp``,
  ``deletionGracePeriodSeconds``;
- the ``kubectl.kubernetes.io/last-applied-configuration`` annotation and any other
  annotation or label listed in :class:`NormalizeOptions` (the tracking annotation of
  :mod:`bosun.tracking` is *kept*, so a resource that moved to another app shows as
  changed; the caller aligns tracking written by an older scheme for the same app with
  :func:`bosun.tracking.align_tracking` first);
- null values, empty maps and empty lists (the API server's ``omitempty`` makes them
  indistinguishable from absent fields).

And what is rewritten:

- a core ``Secret``'s ``stringData`` is folded into ``data`` (base64), as the API server
  does on write, and null ``data`` values become ``""`` (Argo CD issue #943);
- with ``ignore_aggregated_roles``, an aggregated (Cluster)Role's ``rules`` are dropped,
  because the aggregation controller owns them.

To add a rule for one kind, write one small function and call it from :func:`normalize`
under a ``group, kind`` check, like :func:`secret_string_data_to_data`.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bosun.diff.tree import prune_empty
from bosun.resources import Manifest, group_kind

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

SERVER_OWNED_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


class StatusMode(StrEnum):
    """Which objects' ``status`` is ignored (Argo CD ``ignoreResourceStatusField``)."""

    ALL = "all"
    CRD = "crd"
    NONE = "none"

    @classmethod
    def parse(cls, value: str) -> StatusMode:
        """Accept Argo CD's spellings, including ``off`` and ``false`` for ``none``."""
        lowered = value.strip().lower()
        if lowered in ("off", "false"):
            return cls.NONE
        return cls(lowered)


@dataclass(frozen=True, slots=True)
class NormalizeOptions:
    """What :func:`normalize` strips besides the fields that never count."""

    ignore_status: StatusMode = StatusMode.ALL
    ignore_annotations: frozenset[str] = field(default_factory=lambda: frozenset({LAST_APPLIED_ANNOTATION}))
    ignore_labels: frozenset[str] = frozenset()
    ignore_aggregated_roles: bool = False


DEFAULT_OPTIONS = NormalizeOptions()


def is_secret(obj: Manifest) -> bool:
    return group_kind(obj) == ("", "Secret")


def normalize(obj: Manifest, *, options: NormalizeOptions = DEFAULT_OPTIONS) -> Manifest:
    """A normalized deep copy of ``obj``; ``obj`` itself is not modified."""
    out: Manifest = copy.deepcopy(obj)
    group, kind = group_kind(out)

    if options.ignore_status is StatusMode.ALL or (
        options.ignore_status is StatusMode.CRD
        and (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition")
    ):
        out.pop("status", None)

    meta = out.get("metadata")
    if isinstance(meta, dict):
        for name in SERVER_OWNED_METADATA:
            meta.pop(name, None)
        _drop_keys(meta.get("annotations"), options.ignore_annotations)
        _drop_keys(meta.get("labels"), options.ignore_labels)

    if (group, kind) == ("", "Secret"):
        secret_string_data_to_data(out)
    elif options.ignore_aggregated_roles and (group, kind) in (
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "Role"),
    ):
        drop_aggregated_rules(out)

    result: Manifest = prune_empty(out)
    return result


def _drop_keys(mapping: Any, keys: frozenset[str]) -> None:
    if isinstance(mapping, dict):
        for key in keys:
            mapping.pop(key, None)


def secret_string_data_to_data(secret: Manifest) -> None:
    """Fold ``stringData`` into ``data`` as base64, in place, as the API server does.

    Non-string values are copied as they are, so that an invalid Secret still differs
    (and its apply still fails) instead of being silently "fixed" here.
    """
    string_data = secret.get("stringData")
    if isinstance(string_data, dict):
        del secret["stringData"]
        data = secret.get("data")
        if not isinstance(data, dict):
            data = {}
        for key, value in string_data.items():
            data[key] = b64(value) if isinstance(value, str) else value
        secret["data"] = data
    data = secret.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            if value is None:
                data[key] = ""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def drop_aggregated_rules(role: Manifest) -> None:
    if isinstance(role.get("aggregationRule"), dict):
        role.pop("rules", None)
