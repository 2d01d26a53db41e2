"""Kubernetes label selectors (``-l/--selector``), parsed and matched without a cluster.

The syntax is Kubernetes' own, as ``kubectl get -l`` and ``argocd app list -l`` take it:
requirements separated by commas, all of which must hold::

    team=web            team==web          the label is set to that value
    team!=web                              not set, or set to another value
    team                !team              the label is set / not set
    env in (dev,qa)     env notin (prod)   the value is one of / not one of (or not set)

:func:`parse_selector` turns the text into a :class:`Selector` (``ValueError`` naming the
bad part otherwise); :meth:`Selector.matches` decides for one label set. A search that can
narrow the candidates first (Temporal's visibility over the ``BosunLabels`` search
attribute, one ``key=value`` item per label) uses :meth:`Selector.visibility_query`,
which expresses only the requirements that name values (``=`` and ``in``); the exact answer
is always :meth:`Selector.matches`. To support another operator, add it to
:data:`_OPERATORS` and to :meth:`Requirement.matches`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"^{_NAME}$")
_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_TOKEN = r"[^\s,()!=<>]+"
_SET_RE = re.compile(rf"^({_TOKEN})\s+(in|notin)\s*\((.*)\)$")
_EQUALITY_RE = re.compile(rf"^({_TOKEN})\s*(==|=|!=)\s*((?:{_TOKEN})?)$")
_EXISTS_RE = re.compile(rf"^(!?)\s*({_TOKEN})$")

_OPERATORS = ("=", "!=", "in", "notin", "exists", "!")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    """One of :data:`_OPERATORS` (``==`` is read as ``=``)."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every requirement holds (the empty selector matches everything)."""
        return all(r.matches(labels) for r in self.requirements)

    def visibility_query(self, attribute: str) -> str:
        """A Temporal visibility clause over the KeywordList ``attribute`` (items
        ``key=value``) that every matching label set satisfies: the ``=`` and ``in``
        requirements, ANDed; ``""`` when there are none. It may let through more than
        :meth:`matches` does, never fewer."""
        clauses = []
        for r in self.requirements:
            if r.operator in ("=", "in"):
                items = ", ".join(_quote(f"{r.key}={v}") for v in r.values)
                clauses.append(f"{attribute} IN ({items})")
        return " AND ".join(clauses)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_selector(text: str) -> Selector:
    """Parse a Kubernetes label selector; ValueError says which part is wrong and why."""
    parts = _split(text)
    return Selector(tuple(_requirement(part) for part in parts if part))


def _split(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"selector {text!r}: ')' without '('")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        raise ValueError(f"selector {text!r}: '(' without ')'")
    parts.append(current.strip())
    if len(parts) > 1 and not all(parts):
        raise ValueError(f"selector {text!r}: an empty requirement between commas")
    return parts


def _requirement(part: str) -> Requirement:
    if m := _SET_RE.match(part):
        values = tuple(v.strip() for v in m.group(3).split(","))
        if values == ("",):
            raise ValueError(f"selector requirement {part!r}: {m.group(2)} needs at least one value")
        return Requirement(_key(m.group(1), part), m.group(2), tuple(_value(v, part) for v in values))
    if m := _EQUALITY_RE.match(part):
        operator = "=" if m.group(2) == "==" else m.group(2)
        return Requirement(_key(m.group(1), part), operator, (_value(m.group(3), part),))
    if m := _EXISTS_RE.match(part):
        return Requirement(_key(m.group(2), part), "!" if m.group(1) else "exists")
    raise ValueError(
        f"selector requirement {part!r}: expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
    )


def _key(key: str, part: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX_RE.match(prefix)):
        raise ValueError(
            f"selector requirement {part!r}: {prefix!r} is not a valid label key prefix "
            f"(a DNS subdomain such as example.com)"
        )
    if not _NAME_RE.match(name):
        raise ValueError(
            f"selector requirement {part!r}: {name!r} is not a valid label name (at most 63 "
            f"letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        )
    return key


def _value(value: str, part: str) -> str:
    if not _VALUE_RE.match(value):
        raise ValueError(
            f"selector requirement {part!r}: {value!r} is not a valid label value (at most 63 "
            f"letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        )
    return value


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
