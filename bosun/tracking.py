"""Resource tracking: how an object deployed by an app says so, as Argo CD marks it.

Argo CD's ``application.resourceTrackingMethod`` (``util/argo/resource_tracking.go``)
picks one of three methods, and Bosun writes and reads the very same metadata, so
objects Argo CD deployed belong to the Bosun app of the same name and the other way
round:

``annotation`` (Argo CD 3's default, and Bosun's)
    ``argocd.argoproj.io/tracking-id: <instance>:<group>/<kind>:<namespace>/<name>``.
    A cluster-scoped object records the app's destination namespace, as Argo CD's
    ``UnstructuredToAppInstanceValue`` does. No instance label is written.
``label``
    Only the label ``<label key>=<instance>`` (``application.instanceLabelKey``,
    default ``app.kubernetes.io/instance``), the value not truncated: Argo CD lets the
    API server reject an instance name longer than 63 characters.
``annotation+label``
    The annotation, which alone decides ownership, and the label for information,
    truncated to 63 characters without a trailing non-alphanumeric character.

The *instance name* of an app is its name; an app outside the home namespaces, named
``<namespace>/<name>`` inside Bosun, is ``<namespace>_<name>`` (Argo CD's
``Application.InstanceName``).

With an annotation method an object belongs to an app only if its tracking id names
the app *and this very object* (group, kind, name, and namespace unless the object is
cluster-scoped): a tracking id copied onto another object by a controller or a Helm
chart does not make that object the app's (Argo CD's ``isSelfReferencedObj``). With the
label method only the label can be read, so it decides alone, as in Argo CD.

``argocd.argoproj.io/installation-id``, when configured, is written next to the
annotation, and an object carrying another installation's id (or one when none is
configured) belongs to no app here, as in Argo CD.

Bosun before Argo CD's scheme wrote ``bosun.dev/tracking-id`` (same format) plus the
instance label. That annotation is still read, after Argo CD's, by the annotation
methods, so apps deployed by older Bosun versions are recognised and pruned correctly;
:func:`align_tracking` keeps such objects (and objects Argo CD tracked by label before
it switched to annotations) from showing as OutOfSync just for their tracking
metadata, and the next apply rewrites it.

To extend: a new method is one :class:`TrackingMethod` member plus a branch in
:func:`apply_tracking` and :func:`tracked_app`, and rows in ``tests/unit/test_tracking.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bosun.appnames import instance_name
from bosun.resources import Manifest, ResourceKey

__all__ = [
    "ANNOTATION",
    "DEFAULT_LABEL_KEY",
    "INSTALLATION_ID_ANNOTATION",
    "LEGACY_ANNOTATION",
    "TrackingConfig",
    "TrackingMethod",
    "align_tracking",
    "app_of_instance",
    "apply_tracking",
    "instance_name",
    "is_tracked_by",
    "label_value",
    "parse_tracking_id",
    "tracked_app",
    "tracking_id",
]

ANNOTATION = "argocd.argoproj.io/tracking-id"
INSTALLATION_ID_ANNOTATION = "argocd.argoproj.io/installation-id"
DEFAULT_LABEL_KEY = "app.kubernetes.io/instance"
LEGACY_ANNOTATION = "bosun.dev/tracking-id"
"""What Bosun wrote before it used Argo CD's annotation; read, never written."""

_LABEL_MAX_LENGTH = 63
_FORMAT = "<app>:<group>/<kind>:<namespace>/<name>"


class TrackingMethod(StrEnum):
    """Argo CD's ``application.resourceTrackingMethod`` values."""

    ANNOTATION = "annotation"
    LABEL = "label"
    ANNOTATION_AND_LABEL = "annotation+label"


@dataclass(frozen=True, slots=True)
class TrackingConfig:
    """How apps mark and recognise their objects; the defaults are Argo CD 3's."""

    method: TrackingMethod = TrackingMethod.ANNOTATION
    label_key: str = DEFAULT_LABEL_KEY
    installation_id: str = ""

    @classmethod
    def from_settings(cls, method: str = "", label_key: str = "", installation_id: str = "") -> TrackingConfig:
        """Build from ``argocd-cm`` values; empty means the default.

        Raises ``ValueError`` naming the setting for a method Argo CD does not know.
        """
        text = method.strip()
        try:
            parsed = TrackingMethod(text) if text else TrackingMethod.ANNOTATION
        except ValueError:
            choices = ", ".join(m.value for m in TrackingMethod)
            raise ValueError(f"application.resourceTrackingMethod: {method!r} is not one of {choices}") from None
        return cls(
            method=parsed, label_key=label_key.strip() or DEFAULT_LABEL_KEY, installation_id=installation_id.strip()
        )

    @property
    def uses_annotation(self) -> bool:
        return self.method is not TrackingMethod.LABEL

    def label_selector(self, app: str) -> str:
        """The label selector that finds the app's objects ("" when the label does not decide)."""
        return "" if self.uses_annotation else f"{self.label_key}={instance_name(app)}"


# --------------------------------------------------------------------------- names


def app_of_instance(instance: str) -> str:
    """The Bosun app name an instance name stands for (``team-a_web`` → ``team-a/web``).

    Kubernetes names cannot contain ``_``, so it only ever separates the namespace.
    """
    return instance.replace("_", "/")


def label_value(instance: str) -> str:
    """The instance label under ``annotation+label``: at most 63 characters, ending alphanumeric."""
    if len(instance) <= _LABEL_MAX_LENGTH:
        return instance
    value = instance[:_LABEL_MAX_LENGTH]
    while value and not (value[-1].isascii() and value[-1].isalnum()):
        value = value[:-1]
    return value


def tracking_id(instance: str, key: ResourceKey) -> str:
    """``<instance>:<group>/<kind>:<namespace>/<name>``, Argo CD's annotation value."""
    return f"{instance}:{key.group}/{key.kind}:{key.namespace}/{key.name}"


def parse_tracking_id(value: str) -> tuple[str, ResourceKey]:
    """Split a tracking id into (instance, key); ``ValueError`` if it is not one.

    Names may contain ``:`` (RBAC objects such as ``system:auth-delegator``), so only
    the first two colons separate fields, as in Argo CD.
    """
    parts = value.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"not a tracking id ({_FORMAT}): {value!r}")
    instance, group_kind, namespace_name = parts
    group_parts = group_kind.split("/")
    ns_parts = namespace_name.split("/")
    if len(group_parts) != 2 or len(ns_parts) != 2:
        raise ValueError(f"not a tracking id ({_FORMAT}): {value!r}")
    group, kind = group_parts
    namespace, name = ns_parts
    if not instance or not kind or not name:
        raise ValueError(f"tracking id lacks an app, kind or name: {value!r}")
    return instance, ResourceKey(group=group, kind=kind, namespace=namespace, name=name)


# --------------------------------------------------------------------------- write


def apply_tracking(obj: Manifest, app: str, config: TrackingConfig | None = None, *, namespace: str = "") -> Manifest:
    """Return a copy of ``obj`` marked as ``app``'s by ``config``'s method.

    Set the object's namespace first (``set_default_namespace``): the tracking id records
    the object's key as it will exist in the cluster; ``namespace`` (the app's
    destination namespace) stands in for a cluster-scoped object's, as in Argo CD.
    """
    config = config or TrackingConfig()
    result = copy.deepcopy(obj)
    metadata = result.setdefault("metadata", {})
    instance = instance_name(app)
    if config.uses_annotation:
        key = ResourceKey.of(result)
        if not key.namespace:
            key = key.model_copy(update={"namespace": namespace})
        annotations = dict(metadata.get("annotations") or {})
        annotations[ANNOTATION] = tracking_id(instance, key)
        if config.installation_id:
            annotations[INSTALLATION_ID_ANNOTATION] = config.installation_id
        else:
            annotations.pop(INSTALLATION_ID_ANNOTATION, None)
        metadata["annotations"] = annotations
    if config.method is not TrackingMethod.ANNOTATION:
        labels = dict(metadata.get("labels") or {})
        labels[config.label_key] = instance if config.method is TrackingMethod.LABEL else label_value(instance)
        metadata["labels"] = labels
    return result


# --------------------------------------------------------------------------- read


def tracked_app(live: Manifest, config: TrackingConfig | None = None) -> str | None:
    """The app ``live`` is tracked for under ``config`` (a Bosun app name), or None.

    Annotation methods read Argo CD's tracking id, then Bosun's legacy one; the label
    method reads only the label. This names the owner without checking that the id
    describes this very object (see :func:`is_tracked_by`).
    """
    config = config or TrackingConfig()
    if not config.uses_annotation:
        value = _labels(live).get(config.label_key)
        return app_of_instance(value) if isinstance(value, str) and value else None
    parsed = _tracking_value(live, config)
    return app_of_instance(parsed[0]) if parsed else None


def owner_hints(live: Manifest, label_keys: Iterable[str] = (DEFAULT_LABEL_KEY,)) -> frozenset[str]:
    """Every instance name ``live``'s tracking metadata names (the values of these labels, the
    owners of its tracking ids), whatever the method: :func:`is_tracked_by` holds for an app only
    if its :func:`~bosun.appnames.instance_name` is among them. What a cache indexes objects by."""
    hints = {value for key in label_keys if isinstance(value := _labels(live).get(key), str) and value}
    for name in (ANNOTATION, LEGACY_ANNOTATION):
        value = _annotations(live).get(name)
        if isinstance(value, str) and value:
            hints.add(value.split(":", 1)[0])
    return frozenset(hints)


def is_tracked_by(live: Manifest, app: str, config: TrackingConfig | None = None) -> bool:
    """True only if ``live`` belongs to ``app``: only such objects are ever pruned.

    Annotation methods: the tracking id names the app and this very object (a
    cluster-scoped object matches whatever namespace its id records). The label
    method: the label names the app.
    """
    config = config or TrackingConfig()
    if not config.uses_annotation:
        return tracked_app(live, config) == app
    parsed = _tracking_value(live, config)
    if parsed is None:
        return False
    owner, recorded = parsed
    return owner == instance_name(app) and _same_object(recorded, ResourceKey.of(live))


def align_tracking(live: Manifest, target: Manifest, app: str, config: TrackingConfig | None = None) -> Manifest:
    """``live`` with the tracking metadata of ``target``, if it already belongs to ``app``.

    For the diff only: an object this app owns under an older scheme (Bosun's legacy
    annotation, Argo CD's instance label before a switch to annotations, a label
    left by ``annotation+label``) is not OutOfSync for its tracking metadata alone;
    the next apply rewrites it. An object tracked for another app is returned as it
    is, so a resource moving between apps still shows as changed. ``target`` is the
    desired or predicted object, which carries this app's tracking.
    """
    config = config or TrackingConfig()
    owned = is_tracked_by(live, app, config) or (
        config.uses_annotation
        and not _annotations(live).get(ANNOTATION)
        and not _annotations(live).get(LEGACY_ANNOTATION)
        and _labels(live).get(config.label_key) in (instance_name(app), label_value(instance_name(app)))
    )
    if not owned:
        return live
    result = copy.deepcopy(live)
    metadata = result.setdefault("metadata", {})
    for field, keys in (
        ("annotations", (ANNOTATION, LEGACY_ANNOTATION, INSTALLATION_ID_ANNOTATION)),
        ("labels", (config.label_key,)),
    ):
        wanted = (target.get("metadata") or {}).get(field) or {}
        current = dict(metadata.get(field) or {})
        for key in keys:
            if key in wanted:
                current[key] = wanted[key]
            else:
                current.pop(key, None)
        metadata[field] = current
    return result


def _tracking_value(live: Manifest, config: TrackingConfig) -> tuple[str, ResourceKey] | None:
    annotations = _annotations(live)
    if annotations.get(INSTALLATION_ID_ANNOTATION, "") != config.installation_id:
        return None
    for name in (ANNOTATION, LEGACY_ANNOTATION):
        value = annotations.get(name)
        if isinstance(value, str) and value:
            try:
                return parse_tracking_id(value)
            except ValueError:
                return None
    return None


def _same_object(recorded: ResourceKey, actual: ResourceKey) -> bool:
    return (
        recorded.group == actual.group
        and recorded.kind == actual.kind
        and recorded.name == actual.name
        and (recorded.namespace == actual.namespace or actual.namespace == "")
    )


def _annotations(obj: Manifest) -> dict[str, Any]:
    metadata = obj.get("metadata")
    value = metadata.get("annotations") if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else {}


def _labels(obj: Manifest) -> dict[str, Any]:
    metadata = obj.get("metadata")
    value = metadata.get("labels") if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else {}
