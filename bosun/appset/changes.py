"""What to create, update and delete to bring a set's Applications to the generated ones,
as Argo CD's ``createOrUpdateInCluster`` / ``createInCluster`` / ``deleteInCluster`` decide.

``syncPolicy.applicationsSync`` (Argo CD's policy table):

=============  ======  ======  ======
policy         create  update  delete
=============  ======  ======  ======
sync (unset)   yes     yes     yes
create-update  yes     yes     no
create-delete  yes     no      yes
create-only    yes     no      no
=============  ======  ======  ======

On update Argo CD replaces the Application's spec, labels, annotations and finalizers with
the generated ones, except what it preserves from the live object: the annotations and
labels named in ``spec.preservedFields``, its own annotations that other controllers set
(the refresh request, the notifications record, the hydrate request) and the pre/post
delete hook finalizers, and the fields ``spec.ignoreApplicationDifferences`` points at. An
update is planned only when that result differs from the live Application (Argo CD's
``CreateOrUpdate`` compares before writing).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bosun.appset.spec import ApplicationSet
from bosun.diff.tree import parse_pointer, remove_pointer

__all__ = [
    "DEFAULT_PRESERVED_ANNOTATIONS",
    "DEFAULT_PRESERVED_FINALIZER_PREFIXES",
    "AppChanges",
    "plan_changes",
    "updated_application",
]

DEFAULT_PRESERVED_ANNOTATIONS = (
    "notified.notifications.argoproj.io",
    "argocd.argoproj.io/refresh",
    "argocd.argoproj.io/hydrate",
)
"""Argo CD's ``defaultPreservedAnnotations``: set on Applications by other controllers or
by users asking for a refresh; overwriting them would lose the request."""

DEFAULT_PRESERVED_FINALIZER_PREFIXES = (
    "pre-delete-finalizer.argocd.argoproj.io",
    "post-delete-finalizer.argocd.argoproj.io",
)
"""Argo CD's ``defaultPreservedFinalizers``, matched by prefix (they may carry ``/stage``)."""


@dataclass(frozen=True)
class AppChanges:
    create: list[dict[str, Any]]
    """Generated Applications that do not exist yet."""
    update: list[dict[str, Any]]
    """The Applications to write: the generated ones with the live fields Argo CD keeps."""
    delete: list[str]
    """Names of owned Applications no longer generated (only when the policy allows it)."""
    unchanged: tuple[str, ...] = ()
    """Names of Applications that exist and need no write (or may not be updated)."""


def plan_changes(appset: ApplicationSet, desired: list[dict[str, Any]], existing: list[dict[str, Any]]) -> AppChanges:
    """``existing``: the Applications owned by this set (ownerReference uid), as read."""
    live = {app["metadata"]["name"]: app for app in existing}
    wanted = {app["metadata"]["name"] for app in desired}
    create, update, unchanged = [], [], []
    for app in desired:
        name = app["metadata"]["name"]
        current = live.get(name)
        if current is None:
            create.append(copy.deepcopy(app))
        elif not appset.allows_update:
            unchanged.append(name)
        else:
            new = updated_application(appset, app, current)
            if _significant(new) != _significant(current):
                update.append(new)
            else:
                unchanged.append(name)
    delete = sorted(name for name in live if name not in wanted) if appset.allows_delete else []
    return AppChanges(create=create, update=update, delete=delete, unchanged=tuple(unchanged))


def updated_application(
    appset: ApplicationSet, generated: Mapping[str, Any], live: Mapping[str, Any]
) -> dict[str, Any]:
    """The live Application with Argo CD's significant fields taken from ``generated``:
    spec (and operation, when generated), labels, annotations, finalizers; preserved
    annotations, labels and finalizers kept from ``live``. Everything else of ``live``
    (status, resourceVersion, ownerReferences, uid) is kept as it is."""
    result = copy.deepcopy(dict(live))
    gen_meta = generated.get("metadata") or {}
    live_meta = live.get("metadata") or {}
    annotations = dict(gen_meta.get("annotations") or {})
    labels = dict(gen_meta.get("labels") or {})
    finalizers = list(gen_meta.get("finalizers") or [])
    live_annotations = live_meta.get("annotations") or {}
    live_labels = live_meta.get("labels") or {}
    for key in (*appset.preserved_annotations, *DEFAULT_PRESERVED_ANNOTATIONS):
        if key in live_annotations:
            annotations[key] = live_annotations[key]
    for key in appset.preserved_labels:
        if key in live_labels:
            labels[key] = live_labels[key]
    for prefix in DEFAULT_PRESERVED_FINALIZER_PREFIXES:
        for finalizer in live_meta.get("finalizers") or []:
            if finalizer.startswith(prefix):
                finalizers.append(finalizer)
    metadata = result.setdefault("metadata", {})
    for key, value in (("annotations", annotations), ("labels", labels), ("finalizers", finalizers)):
        if value:
            metadata[key] = value
        else:
            metadata.pop(key, None)
    result["spec"] = copy.deepcopy(generated.get("spec") or {})
    if generated.get("operation") is not None:
        result["operation"] = copy.deepcopy(generated["operation"])
    _keep_ignored(appset, result, live)
    return result


def _keep_ignored(appset: ApplicationSet, result: dict[str, Any], live: Mapping[str, Any]) -> None:
    """``spec.ignoreApplicationDifferences``: at each JSON pointer of a rule naming this
    Application (or no name), the live value stays (Argo CD removes those fields from both
    sides before it computes its patch, so the live ones are left as they are)."""
    name = (live.get("metadata") or {}).get("name")
    for rule in appset.ignore_application_differences:
        if rule.get("name") and rule["name"] != name:
            continue
        for pointer in rule.get("jsonPointers") or []:
            tokens = parse_pointer(pointer)
            if not tokens:
                continue
            found, value = _get(live, tokens)
            if found:
                _set(result, tokens, copy.deepcopy(value))
            else:
                remove_pointer(result, pointer)


def _get(doc: Any, tokens: list[str]) -> tuple[bool, Any]:
    node = doc
    for token in tokens:
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def _set(doc: dict[str, Any], tokens: list[str], value: Any) -> None:
    """Set ``value`` at ``tokens``, creating the maps on the way (a list index that is not
    there is left alone: the live list had it, the generated one does not)."""
    node: Any = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(token, {})
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return
    last = tokens[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value


def _significant(app: Mapping[str, Any]) -> tuple[Any, ...]:
    metadata = app.get("metadata") or {}
    return (
        app.get("spec") or {},
        metadata.get("labels") or {},
        metadata.get("annotations") or {},
        metadata.get("finalizers") or [],
        app.get("operation"),
    )
