"""ignoreDifferences: rules that remove fields from both sides before they are compared.

An Application's ``spec.ignoreDifferences`` entry (and Argo CD's system-level
``resource.customizations.ignoreDifferences.<group_kind>``, given as entries with that
group and kind) looks like::

    - group: apps                 # glob; "" is the core group and matches only it
      kind: Deployment            # glob; "*" matches every kind
      name: guestbook             # optional, exact
      namespace: default          # optional, exact
      jsonPointers:
        - /spec/replicas
      jqPathExpressions:
        - .spec.template.spec.initContainers[] | select(.name == "injected-init-container")
      managedFieldsManagers:
        - kube-controller-manager

Matching is Argo CD's (``util/argo/normalizers``): group and kind are globs
(:func:`bosun.glob.match`; an invalid one matches nothing), name and namespace match
when empty or equal.

- ``jsonPointers`` (RFC 6901) are removed from both sides; a pointer that is not there is
  skipped, as Argo CD skips a failing JSON Patch ``remove``.
- ``jqPathExpressions`` are evaluated as ``[limit(N; path(EXPR))]`` (:func:`path_program`)
  and the resulting paths deleted in Python (Argo CD runs ``del(EXPR)``; the effect is the
  same and numbers never round-trip through jq). An expression that fails on an object (say
  ``.spec.x[]`` where there is no ``x``) is skipped for that object; one that does not
  compile is rejected when the rule is built.

  Who evaluates is the caller's choice (``jq=``, a :class:`JqEvaluator`). The default,
  :func:`jq_paths`, runs the ``jq`` package in this process: bounded in the number of paths
  only, so for trusted expressions (tests, the CLI on a person's own files). The worker
  passes :mod:`activities.jq_runner`, which runs jq in a child process with a time and
  memory budget (Argo CD: ``ignore.normalizer.jq.timeout``, 1 s) and raises
  :class:`JqLimitError` naming the expression, the object and the limit; the compare then
  fails (a ComparisonError), as nothing can be said about the object's diff.
- ``managedFieldsManagers`` are handled by :mod:`bosun.diff.managedfields`, because they
  need the live object's ``metadata.managedFields``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

import jq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bosun import glob
from bosun.diff.tree import delete_paths, parse_pointer, remove_pointer
from bosun.resources import Manifest, ResourceKey


class IgnoreRuleError(ValueError):
    """An ignoreDifferences rule that can never work (bad jq, bad pointer)."""


class JqLimitError(IgnoreRuleError):
    """A jqPathExpression ran past its time or memory budget on an object."""


MAX_JQ_PATHS = 10_000
"""At most this many paths are taken from one jqPathExpression on one object."""

JqPaths = list[list[str | int]]


class JqEvaluator(Protocol):
    """Evaluates a jqPathExpression on an object: the paths it selects, ``[]`` when it
    fails on this object; :class:`JqLimitError` past a budget."""

    def __call__(self, obj: Manifest, expression: str) -> JqPaths: ...


class IgnoreDifference(BaseModel):
    """One ``ignoreDifferences`` entry, with Argo CD's camelCase field names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    group: str = ""
    kind: str
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = Field(default=(), alias="jsonPointers")
    jq_path_expressions: tuple[str, ...] = Field(default=(), alias="jqPathExpressions")
    managed_fields_managers: tuple[str, ...] = Field(default=(), alias="managedFieldsManagers")

    @field_validator("json_pointers")
    @classmethod
    def _valid_pointers(cls, pointers: tuple[str, ...]) -> tuple[str, ...]:
        for ptr in pointers:
            if not ptr.startswith("/"):
                raise ValueError(f"JSON pointer {ptr!r} must start with '/'")
            parse_pointer(ptr)
        return pointers

    @field_validator("jq_path_expressions")
    @classmethod
    def _valid_jq(cls, expressions: tuple[str, ...]) -> tuple[str, ...]:
        for expression in expressions:
            compile_path_expression(expression)
        return expressions

    def matches(self, key: ResourceKey) -> bool:
        return (
            glob.match(self.group, key.group)
            and glob.match(self.kind, key.kind)
            and (not self.name or self.name == key.name)
            and (not self.namespace or self.namespace == key.namespace)
        )


class IgnoreEntry(Protocol):
    """Anything shaped like an entry, e.g. the Application model's ``ignore_differences``."""

    @property
    def group(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def json_pointers(self) -> Sequence[str]: ...
    @property
    def jq_path_expressions(self) -> Sequence[str]: ...
    @property
    def managed_fields_managers(self) -> Sequence[str]: ...


IgnoreLike = IgnoreDifference | IgnoreEntry | Mapping[str, Any]


def as_rules(entries: Iterable[IgnoreLike]) -> tuple[IgnoreDifference, ...]:
    """Coerce entries to :class:`IgnoreDifference`: dicts as in an Application's YAML
    (camelCase) or objects with the snake_case attributes."""
    rules = []
    for entry in entries:
        if isinstance(entry, IgnoreDifference):
            rules.append(entry)
        elif isinstance(entry, Mapping):
            rules.append(IgnoreDifference.model_validate(entry))
        else:
            rules.append(IgnoreDifference.model_validate(entry, from_attributes=True))
    return tuple(rules)


def matching_rules(rules: Iterable[IgnoreDifference], key: ResourceKey) -> tuple[IgnoreDifference, ...]:
    return tuple(r for r in rules if r.matches(key))


def trusted_managers(rules: Iterable[IgnoreDifference]) -> tuple[str, ...]:
    """The union of ``managedFieldsManagers`` of (already matched) rules, in order."""
    seen: dict[str, None] = {}
    for rule in rules:
        for manager in rule.managed_fields_managers:
            seen.setdefault(manager, None)
    return tuple(seen)


def apply_ignore_rules(obj: Manifest, rules: Sequence[IgnoreDifference], *, jq: JqEvaluator | None = None) -> None:
    """Remove the rules' jsonPointers and jq paths from ``obj`` in place.

    ``rules`` must already be the ones matching ``obj`` (see :func:`matching_rules`);
    ``jq`` evaluates the jq expressions (default :func:`jq_paths`, in this process).
    """
    evaluate = jq_paths if jq is None else jq
    for rule in rules:
        for ptr in rule.json_pointers:
            remove_pointer(obj, ptr)
        for expression in rule.jq_path_expressions:
            paths = evaluate(obj, expression)
            if paths:
                delete_paths(obj, paths)


def path_program(expression: str) -> str:
    """The jq program that lists the paths ``expression`` selects, stopping after one more
    than :data:`MAX_JQ_PATHS` (``path(repeat(.))`` selects ``[]`` without end)."""
    return f"[limit({MAX_JQ_PATHS + 1}; path({expression}))]"


def jq_paths(obj: Manifest, expression: str) -> JqPaths:
    """The paths ``expression`` selects in ``obj``, evaluated in this process (no time or
    memory budget: see the module docstring); empty when it fails on this object."""
    program = compile_path_expression(expression)
    try:
        result = program.input_value(obj).first()
    except ValueError:  # jq runtime error, e.g. iterating over null
        return []
    return valid_paths(result, expression=expression)


def valid_paths(result: Any, *, expression: str) -> JqPaths:
    """The well-formed paths of a :func:`path_program` result (anything else is dropped);
    :class:`JqLimitError` when the expression selected more than :data:`MAX_JQ_PATHS`."""
    if not isinstance(result, list):
        return []
    if len(result) > MAX_JQ_PATHS:
        raise JqLimitError(f"jqPathExpression {expression!r}: selects more than {MAX_JQ_PATHS:_} paths")
    return [
        cast(list[str | int], p)
        for p in result
        if isinstance(p, list) and all(isinstance(t, str | int) and not isinstance(t, bool) for t in p)
    ]


@functools.lru_cache(maxsize=512)
def compile_path_expression(expression: str) -> Any:
    """Compile :func:`path_program` of ``expression``; raises :class:`IgnoreRuleError` if it cannot."""
    try:
        return jq.compile(path_program(expression))
    except ValueError as err:
        raise IgnoreRuleError(f"invalid jqPathExpression {expression!r}: {err}") from None


def keep_live_values(
    desired: Manifest, live: Manifest, rules: Sequence[IgnoreDifference], *, jq: JqEvaluator | None = None
) -> Manifest:
    """``RespectIgnoreDifferences=true``: a copy of ``desired`` whose ignored fields hold
    the live values, so a sync leaves them as they are (e.g. replicas an HPA set).

    ``rules`` must already be the ones matching the object. A path that live lacks is
    removed from the copy; a path that desired lacks is left alone.
    """
    evaluate = jq_paths if jq is None else jq
    result = copy.deepcopy(desired)
    for rule in rules:
        paths = [[_token(t) for t in parse_pointer(p)] for p in rule.json_pointers]
        for expression in rule.jq_path_expressions:
            paths += evaluate(live, expression) + evaluate(desired, expression)
        for path in paths:
            found, value = _lookup(live, path)
            if found:
                _assign(result, path, copy.deepcopy(value))
            else:
                delete_paths(result, [path])
    return result


def _token(token: str) -> str | int:
    return int(token) if token.isdigit() else token


def _lookup(doc: Any, path: Sequence[str | int]) -> tuple[bool, Any]:
    node = doc
    for token in path:
        if isinstance(node, dict) and isinstance(token, str):
            if token not in node:
                return False, None
            node = node[token]
        elif isinstance(node, list) and isinstance(token, int):
            if not 0 <= token < len(node):
                return False, None
            node = node[token]
        else:
            return False, None
    return True, node


def _assign(doc: Any, path: Sequence[str | int], value: Any) -> None:
    node = doc
    for index, token in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, dict) and isinstance(token, str):
            if last:
                node[token] = value
                return
            node = node.setdefault(token, {} if isinstance(path[index + 1], str) else [])
        elif isinstance(node, list) and isinstance(token, int) and 0 <= token < len(node):
            if last:
                node[token] = value
                return
            node = node[token]
        else:
            return  # the structure differs from live's: leave desired as it is
