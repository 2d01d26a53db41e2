"""compare(): is a live object what Git asks for, and if not, where does it differ?

Three ways to answer, picked from what the caller has (see the package docstring):

- **dry run** (``predicted`` given): compare the server-side-apply dry-run result with
  live, field for field. Defaults are filled in identically on both sides; a field Bosun
  stopped setting is gone from ``predicted`` because SSA removes what its manager owned.
- **subset** (no ``predicted``): lay the desired object over live (maps merge, so every
  live field desired does not mention counts as a default; lists take desired's
  elements, each laid over its live counterpart matched by ``name`` or position) and
  compare that with live. Approximate, for when a dry run is impossible.
- **missing** (no live object): OutOfSync, ``live_missing``; the diff adds everything.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bosun.diff.ignore import (
    IgnoreLike,
    JqEvaluator,
    apply_ignore_rules,
    as_rules,
    matching_rules,
    trusted_managers,
)
from bosun.diff.managedfields import ignore_owned_differences, owned_fields
from bosun.diff.mask import mask_secrets
from bosun.diff.normalize import DEFAULT_OPTIONS, NormalizeOptions, normalize
from bosun.diff.render import to_yaml, unified_text
from bosun.diff.tree import changed_paths, prune_empty
from bosun.resources import Manifest, ResourceKey, SyncCode

MAX_CHANGED_PATHS = 200
"""At most this many changed paths are kept in a :class:`ResourceDiff`."""

SUMMARY_PATHS = 20
"""At most this many changed paths are kept in a :class:`DiffSummary`."""


class DiffMethod(StrEnum):
    DRY_RUN = "ServerSideDryRun"
    SUBSET = "Subset"
    MISSING = "Missing"


class DiffSummary(BaseModel):
    """What a workflow keeps of a comparison: small, no values, no manifests."""

    model_config = ConfigDict(frozen=True)

    key: ResourceKey
    sync: SyncCode
    method: DiffMethod
    live_missing: bool = False
    changed_paths: tuple[str, ...] = ()
    """RFC 6901 pointers where live and desired diverge, in document order."""
    omitted_paths: int = 0
    """How many more changed paths there were than ``changed_paths`` holds."""

    @property
    def modified(self) -> bool:
        return self.sync is SyncCode.OUT_OF_SYNC


class ResourceDiff(DiffSummary):
    """One object's comparison, with the masked unified diff (see :func:`render_unified`).

    The diff holds only the changed hunks with a few lines of context, never a Secret
    value; for workflow history use :meth:`summary`, which drops it.
    """

    unified: str = ""

    def summary(self, *, max_paths: int = SUMMARY_PATHS) -> DiffSummary:
        return DiffSummary(
            key=self.key,
            sync=self.sync,
            method=self.method,
            live_missing=self.live_missing,
            changed_paths=self.changed_paths[:max_paths],
            omitted_paths=self.omitted_paths + max(0, len(self.changed_paths) - max_paths),
        )


def compare(
    desired: Manifest,
    live: Manifest | None,
    predicted: Manifest | None = None,
    *,
    ignore: Iterable[IgnoreLike] = (),
    options: NormalizeOptions = DEFAULT_OPTIONS,
    mask_annotations: Collection[str] = (),
    context_lines: int = 3,
    jq: JqEvaluator | None = None,
) -> ResourceDiff:
    """Compare one object; none of the arguments is modified.

    ``desired`` is the manifest from Git, ``live`` the object read from the cluster (None
    if it does not exist), ``predicted`` the server-side-apply dry-run result (None if
    there is none). ``ignore`` holds ignoreDifferences entries (all of them: the ones
    that match this object are picked here); ``jq`` evaluates their jqPathExpressions
    (default: in this process, see :mod:`bosun.diff.ignore`). Raises
    ``pydantic.ValidationError`` for an entry that is not valid, ``JqLimitError`` for an
    expression past its budget.
    """
    key = ResourceKey.of(live if live is not None else desired)
    rules = matching_rules(as_rules(ignore), key)

    if live is None:
        target = normalize(desired, options=options)
        apply_ignore_rules(target, rules, jq=jq)
        prune_empty(target)
        (masked,) = mask_secrets(target, annotations=mask_annotations)
        return ResourceDiff(
            key=key,
            sync=SyncCode.OUT_OF_SYNC,
            method=DiffMethod.MISSING,
            live_missing=True,
            unified=unified_text("", to_yaml(masked), label=_label(key), context_lines=context_lines),
        )

    live_n = normalize(live, options=options)
    if predicted is not None:
        method = DiffMethod.DRY_RUN
        target = normalize(predicted, options=options)
    else:
        method = DiffMethod.SUBSET
        target = _overlay(live_n, normalize(desired, options=options))

    for side in (target, live_n):
        apply_ignore_rules(side, rules, jq=jq)
    managers = trusted_managers(rules)
    if managers:
        ignore_owned_differences(target, live_n, owned_fields(live, managers))
    for side in (target, live_n):
        prune_empty(side)

    paths = list(changed_paths(live_n, target))
    unified = ""
    if paths:
        masked_target, masked_live = mask_secrets(target, live_n, annotations=mask_annotations)
        unified = unified_text(
            to_yaml(masked_live),
            to_yaml(masked_target),
            label=_label(key),
            context_lines=context_lines,
        )
    return ResourceDiff(
        key=key,
        sync=SyncCode.OUT_OF_SYNC if paths else SyncCode.SYNCED,
        method=method,
        changed_paths=tuple(paths[:MAX_CHANGED_PATHS]),
        omitted_paths=max(0, len(paths) - MAX_CHANGED_PATHS),
        unified=unified,
    )


def _label(key: ResourceKey) -> str:
    """``group/Kind/namespace/name`` without the empty parts, for diff headers."""
    return "/".join(p for p in (key.group, key.kind, key.namespace, key.name) if p)


def _overlay(base: Any, top: Any) -> Any:
    """``top`` laid over ``base``: what live would look like with desired's fields set."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = copy.deepcopy(base)
        for key, value in top.items():
            merged[key] = _overlay(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(top, list):
        return [_overlay_element(base, index, item) for index, item in enumerate(top)]
    return copy.deepcopy(top)


def _overlay_element(base: list[Any], index: int, item: Any) -> Any:
    if isinstance(item, dict) and "name" in item:
        for candidate in base:
            if isinstance(candidate, dict) and candidate.get("name") == item["name"]:
                return _overlay(candidate, item)
        return copy.deepcopy(item)
    if index < len(base):
        candidate = base[index]
        if not (isinstance(candidate, dict) and "name" in candidate):
            return _overlay(candidate, item)
    return copy.deepcopy(item)
