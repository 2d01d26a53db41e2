"""Typed reads of the few manifest fields a health check looks at.

Health checks run on objects from Git and from the API server alike, so every
field may be absent. Absent reads as Go's zero value (``0``, ``""``, ``False``,
empty list), exactly as gitops-engine sees a field after converting the
unstructured object to its typed struct. A field of the wrong type (a string
where an integer belongs) raises :class:`FieldTypeError`, which
``assess_health`` reports as ``Unknown``, as gitops-engine does when the
conversion fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_MISSING: Any = object()


class FieldTypeError(ValueError):
    """A field a health check needs has the wrong type.

    Not :class:`bosun.manifests.ManifestError` (text that is not a Kubernetes object, with
    a source and a document number): this one is about one field of an object already
    parsed, from Git or the API server, and becomes an ``Unknown`` health, never an error.
    """


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Report field errors raised inside as relative to ``prefix``.

    For reads from a sub-object, e.g. one entry of ``status.containerStatuses``.
    """
    try:
        yield
    except FieldTypeError as e:
        raise FieldTypeError(f"{prefix}{e}") from e


def _walk(obj: Mapping[str, Any], path: Sequence[str]) -> Any:
    current: Any = obj
    walked: list[str] = []
    for key in path:
        if current is None:
            return _MISSING
        if not isinstance(current, Mapping):
            raise FieldTypeError(f".{'.'.join(walked)}: expected an object, got {_kind(current)}")
        walked.append(key)
        if key not in current:
            return _MISSING
        current = current[key]
    return current


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value), "list" if isinstance(value, list) else type(value).__name__
    )


def _where(path: Sequence[str]) -> str:
    return "." + ".".join(path)


def mapping(obj: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldTypeError(f"{_where(path)}: expected an object, got {_kind(value)}")
    return value


def mappings(obj: Mapping[str, Any], *path: str) -> list[Mapping[str, Any]]:
    """A list of objects, e.g. ``status.conditions``."""
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return []
    if not isinstance(value, list):
        raise FieldTypeError(f"{_where(path)}: expected a list, got {_kind(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise FieldTypeError(f"{_where(path)}[{i}]: expected an object, got {_kind(item)}")
    return value


def items(obj: Mapping[str, Any], *path: str) -> list[Any]:
    """A list of anything; only its length or membership matters."""
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return []
    if not isinstance(value, list):
        raise FieldTypeError(f"{_where(path)}: expected a list, got {_kind(value)}")
    return value


def string(obj: Mapping[str, Any], *path: str) -> str:
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return ""
    if not isinstance(value, str):
        raise FieldTypeError(f"{_where(path)}: expected a string, got {_kind(value)}")
    return value


def optional_string(obj: Mapping[str, Any], *path: str) -> str | None:
    """Like :func:`string`, but keeps "absent" apart from "empty" (Lua's ``nil``)."""
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return None
    return string(obj, *path)


def optional_integer(obj: Mapping[str, Any], *path: str) -> int | None:
    """An integer field that Go models as a pointer (``spec.replicas``)."""
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return None
    # bool is an int subclass in Python; a boolean is never a valid count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldTypeError(f"{_where(path)}: expected an integer, got {_kind(value)}")
    return value


def integer(obj: Mapping[str, Any], *path: str) -> int:
    value = optional_integer(obj, *path)
    return 0 if value is None else value


def boolean(obj: Mapping[str, Any], *path: str) -> bool:
    value = _walk(obj, path)
    if value is _MISSING or value is None:
        return False
    if not isinstance(value, bool):
        raise FieldTypeError(f"{_where(path)}: expected a boolean, got {_kind(value)}")
    return value


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(obj, "metadata", "annotations")


@dataclass(frozen=True)
class Condition:
    """One entry of a ``status.conditions`` list."""

    type: str
    status: str
    reason: str
    message: str

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Condition:
        return cls(
            type=string(raw, "type"),
            status=string(raw, "status"),
            reason=string(raw, "reason"),
            message=string(raw, "message"),
        )


def conditions(obj: Mapping[str, Any], *path: str) -> list[Condition]:
    """The conditions at ``path`` (default ``status.conditions``), in order."""
    path = path or ("status", "conditions")
    result = []
    for i, raw in enumerate(mappings(obj, *path)):
        with within(f"{_where(path)}[{i}]"):
            result.append(Condition.from_mapping(raw))
    return result


def find_condition(conds: Sequence[Condition], type_: str) -> Condition | None:
    """The first condition of the given type, as Kubernetes' ``GetCondition`` helpers do."""
    return next((c for c in conds if c.type == type_), None)


def go_quote(value: str) -> str:
    """Go's ``%q`` for the strings health messages quote (object names)."""
    return json.dumps(value, ensure_ascii=False)
