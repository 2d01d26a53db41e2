"""managedFieldsManagers: ignore differences in fields that trusted managers own in live.

Server-side apply records, per manager, the fields it owns in ``metadata.managedFields``
as a ``fieldsV1`` tree::

    fieldsV1:
      f:spec:                        # a field of a map
        f:replicas: {}               # a leaf: this manager owns the whole value
        f:template:
          f:spec:
            f:containers:
              k:{"name":"app"}:      # the list element whose key fields are these
                .: {}                # "." : the element itself is owned, too
                f:image: {}
      f:metadata:
        f:finalizers:
          v:"example.com/cleanup": {}  # the element of a set (list of scalars) equal to this
          i:0: {}                      # (rare) the element at this index

Argo CD (``util/argo/managedfields``) removes from both sides the fields that a trusted
manager owns *and* that differ. Bosun does the same, walking the tree against both
objects at once:

- an owned leaf (``f:replicas: {}``) whose values differ is removed from both sides;
- an owned element or map (``.`` present) that exists on only one side is removed from
  that side: the trusted manager added it (an injected sidecar, say);
- anything else is walked into, so fields the manager does not own still count.

Entries are read from the *live* object, which says who owns what now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bosun.diff.tree import json_equal
from bosun.resources import Manifest

_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class PathElement:
    """One ``fieldsV1`` key: ``f:`` field, ``k:`` list key, ``v:`` set value, ``i:`` index."""

    kind: str
    raw: str

    @classmethod
    def parse(cls, key: str) -> PathElement | None:
        prefix, sep, rest = key.partition(":")
        if not sep or prefix not in ("f", "k", "v", "i"):
            return None
        return cls(prefix, rest)

    def locate(self, node: Any) -> str | int | None:
        """The key or index this element names inside ``node``, or None if not there."""
        if self.kind == "f":
            return self.raw if isinstance(node, dict) and self.raw in node else None
        if not isinstance(node, list):
            return None
        try:
            if self.kind == "i":
                index = int(self.raw)
                return index if 0 <= index < len(node) else None
            wanted = json.loads(self.raw)
        except ValueError:
            return None
        for index, item in enumerate(node):
            if self.kind == "v" and json_equal(item, wanted):
                return index
            if (
                self.kind == "k"
                and isinstance(wanted, dict)
                and isinstance(item, dict)
                and all(k in item and json_equal(item[k], v) for k, v in wanted.items())
            ):
                return index
        return None


@dataclass(slots=True)
class FieldSet:
    """A parsed ``fieldsV1`` node: whether the path itself is owned, and its children."""

    member: bool = False
    children: dict[PathElement, FieldSet] = field(default_factory=dict)

    @classmethod
    def from_fields_v1(cls, raw: Any) -> FieldSet:
        node = cls()
        if not isinstance(raw, dict):
            return node
        if not raw:
            node.member = True  # "f:x: {}" - a leaf
        for key, value in raw.items():
            if key == ".":
                node.member = True
                continue
            element = PathElement.parse(key)
            if element is None:
                continue
            child = cls.from_fields_v1(value)
            existing = node.children.get(element)
            node.children[element] = child if existing is None else existing.union(child)
        return node

    def union(self, other: FieldSet) -> FieldSet:
        merged = FieldSet(self.member or other.member, dict(self.children))
        for element, child in other.children.items():
            mine = merged.children.get(element)
            merged.children[element] = child if mine is None else mine.union(child)
        return merged

    @property
    def is_leaf(self) -> bool:
        return self.member and not self.children


def owned_fields(live: Manifest, managers: tuple[str, ...] | list[str]) -> FieldSet:
    """The union of the fields that any of ``managers`` owns in ``live``."""
    owned = FieldSet()
    entries = (live.get("metadata") or {}).get("managedFields") or []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("manager") in managers:
            owned = owned.union(FieldSet.from_fields_v1(entry.get("fieldsV1")))
    return owned


def ignore_owned_differences(left: Manifest, right: Manifest, owned: FieldSet) -> None:
    """Remove, in place, differences between ``left`` and ``right`` in ``owned`` fields."""
    _prune(owned, left, right)


def _prune(fields: FieldSet, left: Any, right: Any) -> None:
    # Locate every child before removing any: deleting a list element shifts indices.
    located = []
    for element, child in fields.children.items():
        lkey = element.locate(left) if left is not _ABSENT else None
        rkey = element.locate(right) if right is not _ABSENT else None
        if lkey is not None or rkey is not None:
            located.append((child, lkey, rkey))

    drop_left: list[str | int] = []
    drop_right: list[str | int] = []
    for child, lkey, rkey in located:
        lval = left[lkey] if lkey is not None else _ABSENT
        rval = right[rkey] if rkey is not None else _ABSENT
        one_sided = lkey is None or rkey is None
        if child.is_leaf or (one_sided and child.member):
            if one_sided or not json_equal(lval, rval):
                if lkey is not None:
                    drop_left.append(lkey)
                if rkey is not None:
                    drop_right.append(rkey)
        elif child.children:
            _prune(child, lval, rval)
    _remove_all(left, drop_left)
    _remove_all(right, drop_right)


def _remove_all(container: Any, keys: list[str | int]) -> None:
    if isinstance(container, dict):
        for key in keys:
            container.pop(key, None)
    elif isinstance(container, list):
        for index in sorted({k for k in keys if isinstance(k, int)}, reverse=True):
            del container[index]
