"""Validation errors for Argo CD documents, phrased the way Argo CD users think.

Exception tree::

    ValueError
     └── ModelError        a document is not a valid Application / AppProject;
                           ``.source`` names the input, ``.problems`` lists what is wrong
    ValueError
     └── FieldProblem      raised *inside* model validators to point at a sub-field;
                           never escapes :mod:`bosun.models` (converted to ModelError)

Every problem carries a path in Argo CD's dotted form (``spec.sources[1].repoURL``,
``metadata.labels["app.kubernetes.io/name"]``) so the message can be pasted next to the
YAML it complains about.

To add a friendlier wording for a pydantic error type, add an entry to
:func:`_describe` keyed by the pydantic error ``type``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

PathSegment = str | int

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(segments: Iterable[PathSegment]) -> str:
    """``("spec", "sources", 1, "repoURL")`` -> ``spec.sources[1].repoURL``."""
    out = ""
    for seg in segments:
        if seg == "[key]":  # pydantic's marker for a bad mapping key
            continue
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _PLAIN_KEY.match(seg):
            out += f".{seg}" if out else seg
        else:
            out += f'["{seg}"]'
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (dotted path, "" for the whole document)
    and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ModelError(ValueError):
    """A document is not a valid Argo CD ``Application`` or ``AppProject``."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self._render())

    def __reduce__(self) -> tuple[type[ModelError], tuple[str, tuple[Problem, ...]]]:
        return (ModelError, (self.source, self.problems))

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class FieldProblem(ValueError):
    """Raised by a validator to blame ``field`` (a path relative to the model being
    validated) rather than the model as a whole."""

    def __init__(self, field: Sequence[PathSegment] | str, message: str) -> None:
        self.field: tuple[PathSegment, ...] = (field,) if isinstance(field, str) else tuple(field)
        self.message = message
        super().__init__(message)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _describe(err: ErrorDetails) -> str:
    kind = err["type"]
    got = _type_name(err.get("input"))
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type":
        hint = " (quote it in YAML)" if isinstance(err.get("input"), bool | int | float) else ""
        return f"expected a string, got {got}{hint}"
    text = err.get("input") if isinstance(err.get("input"), str) else None
    if kind == "bool_type":
        unquote = " (remove the quotes)" if text in ("true", "false") else ""
        return f"expected true or false, got {got}{unquote}"
    if kind in ("int_type", "int_from_float"):
        unquote = " (remove the quotes)" if text is not None and text.lstrip("-").isdigit() else ""
        return f"expected an integer, got {got}{unquote}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {got}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {got}"
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"must be {expected}, got {err.get('input')!r}"
    if kind == "greater_than_equal":
        return f"must be at least {(err.get('ctx') or {}).get('ge')}, got {err.get('input')!r}"
    return err["msg"]


def problems_from_validation_error(exc: ValidationError) -> list[Problem]:
    """Translate pydantic's errors into :class:`Problem` s with Argo CD paths."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc: list[PathSegment] = list(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            problems.append(Problem(format_path([*loc, *cause.field]), cause.message))
        elif isinstance(cause, ValueError):
            problems.append(Problem(format_path(loc), str(cause)))
        else:
            problems.append(Problem(format_path(loc), _describe(err)))
    return problems
