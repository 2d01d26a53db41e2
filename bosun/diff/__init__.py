"""Diff: decide whether a live object is Synced with Git, and show how it differs.

Pure: no Kubernetes client, no Temporal, no I/O. The cluster activity gathers the inputs
and calls :func:`compare`, which a workflow never needs to repeat::

    predicted = ssa_dry_run(desired, field_manager="bosun")   # dryRun=All; None if impossible
    live = read(key)                                          # None if not found
    diff = compare(desired, live, predicted, ignore=app.spec.ignore_differences)
    diff.sync            # SyncCode.SYNCED / SyncCode.OUT_OF_SYNC
    diff.changed_paths   # ("/spec/replicas", ...), RFC 6901
    render_unified(diff, color=True)                          # masked, for a terminal
    diff.summary()       # small enough for workflow history

Why the dry run: the API server fills every default into ``predicted`` exactly as it did
into ``live``, so defaults never show as differences; and since Bosun owns the fields it
applies, a field deleted from Git is absent from ``predicted`` while still in ``live``.
Without a dry run (missing CRD, webhook down) :func:`compare` falls back to a subset
comparison: only the fields desired sets are checked against live.

Pipeline, each step one module:

1. :mod:`~bosun.diff.normalize` strips what never counts (status, server-owned
   metadata, last-applied annotation, empties) and folds a Secret's ``stringData``
   into ``data``.
2. :mod:`~bosun.diff.ignore` applies ``ignoreDifferences`` jsonPointers and
   jqPathExpressions to both sides, matched by group/kind globs, name and namespace.
3. :mod:`~bosun.diff.managedfields` drops differences in fields that the rules'
   ``managedFieldsManagers`` own in live ``metadata.managedFields``.
4. :mod:`~bosun.diff.tree` lists the changed paths.
5. :mod:`~bosun.diff.mask` masks Secret values (Argo CD's ``++++++++`` scheme) and
   :mod:`~bosun.diff.render` renders deterministic YAML and the unified diff.

To ignore something for every object, add it to :func:`normalize`; for one kind, add a
small function there under a group/kind check; for one app, use ignoreDifferences.
"""

from bosun.diff.compare import (
    MAX_CHANGED_PATHS,
    DiffMethod,
    DiffSummary,
    ResourceDiff,
    compare,
)
from bosun.diff.ignore import IgnoreDifference, IgnoreEntry, IgnoreRuleError
from bosun.diff.managedfields import FieldSet
from bosun.diff.mask import MASK, mask_secret, mask_secrets
from bosun.diff.normalize import (
    DEFAULT_OPTIONS,
    LAST_APPLIED_ANNOTATION,
    NormalizeOptions,
    StatusMode,
    normalize,
)
from bosun.diff.render import render_unified, to_yaml

__all__ = [
    "DEFAULT_OPTIONS",
    "LAST_APPLIED_ANNOTATION",
    "MASK",
    "MAX_CHANGED_PATHS",
    "DiffMethod",
    "DiffSummary",
    "FieldSet",
    "IgnoreDifference",
    "IgnoreEntry",
    "IgnoreRuleError",
    "NormalizeOptions",
    "ResourceDiff",
    "StatusMode",
    "compare",
    "mask_secret",
    "mask_secrets",
    "normalize",
    "render_unified",
    "to_yaml",
]
