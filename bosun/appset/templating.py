"""Argo CD's two template languages over JSON-shaped values: fasttemplate here, Go's
``text/template`` through an injected :data:`GoRenderer`.

fasttemplate (``applicationset/utils/utils.go``, ``Render.Replace``): every ``{{ tag }}`` whose
trimmed tag names a string parameter is replaced by it; any other tag (unknown, empty, or
naming a value that is not a string) is left exactly as written. No escaping, no nesting.

Argo CD renders the string values of a template, never its map keys; :func:`render_strings`
does the same for either language, batching every string of every object into one call of
the Go renderer (one process for a whole ApplicationSet).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from bosun.appset.spec import ApplicationSetError

__all__ = [
    "GoRenderer",
    "GoTemplateError",
    "fasttemplate",
    "flatten_params",
    "go_value",
    "render_strings",
    "sanitize_name",
]

GoRenderer = Callable[[list[tuple[dict[str, Any], dict[str, Any]]], tuple[str, ...]], list[dict[str, Any]]]
"""``[(template_object, params), ...], goTemplateOptions -> rendered objects in the same order``:
every string value of each object rendered with Go's ``text/template`` and Argo CD's
functions against its params. Raises :class:`ApplicationSetError` naming the field on a
template error or a missing key under ``missingkey=error``."""


class GoTemplateError(ApplicationSetError):
    """A Go template that does not parse or execute (a missing key under
    ``missingkey=error``, an unknown function, a function's error): which item of the
    batch, which field of its template object (``spec.source.path``, ``""`` for a bare
    string) and Go's message."""

    def __init__(self, item: int, field: str, message: str) -> None:
        super().__init__(f"{field or 'template'}: {message}")
        self.item = item
        self.field = field
        self.message = message


_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TEMPLATED = re.compile(r"\{\{.*\}\}")  # Argo CD's isTemplatedRegex ".*{{.*}}.*": "." stops at newlines
_INVALID_DNS = re.compile(r"[^-a-z0-9.]")


class FastTemplateError(ValueError):
    """A ``{{`` without its ``}}``: fasttemplate refuses to parse it (Argo CD: "invalid template").
    ``field``: where the string is in the rendered object (set while walking it)."""

    field = ""


def fasttemplate(text: str, params: Mapping[str, Any]) -> str:
    """``text`` with each ``{{tag}}`` naming a string param replaced (``valyala/fasttemplate``
    with Argo CD's tag function): the tag is trimmed of whitespace; anything else stays.
    Argo CD parses only a text with ``{{`` and then ``}}`` on one line (``isTemplatedRegex``);
    in such a text, a ``{{`` with no ``}}`` after it is :class:`FastTemplateError`."""
    if "{{" not in text or not _TEMPLATED.search(text):
        return text

    def replace(match: re.Match[str]) -> str:
        tag = match.group(1).strip()
        value = params.get(tag) if tag else None
        return value if isinstance(value, str) else match.group(0)

    end = 0
    for match in _TAG.finditer(text):
        end = match.end()
    if "{{" in text[end:]:  # a tag is opened after the last closed one and never closed
        raise FastTemplateError(f"invalid template {text!r}: cannot find end tag '}}}}'")
    return _TAG.sub(replace, text)


def render_strings(
    items: list[tuple[Any, Mapping[str, Any]]],
    *,
    go_template: bool,
    options: tuple[str, ...],
    go_render: GoRenderer | None,
    where: str,
) -> list[Any]:
    """Each value of ``items`` with its strings rendered against its params, in order.
    ``where`` is the field path of the values in the ApplicationSet (``spec.template``), for
    the error of a Go template: ``spec.template.spec.source.path (param set 2): ...``."""
    if not go_template:
        rendered = []
        for index, (value, params) in enumerate(items):
            try:
                rendered.append(_walk(value, functools.partial(_fast, params)))
            except FastTemplateError as error:
                path = f"{where}.{error.field}" if error.field else where
                raise ApplicationSetError(f"{path} (param set {index}): {error}") from None
        return rendered
    if not items:
        return []
    if go_render is None:
        raise ApplicationSetError(f"{where}: goTemplate is set but no Go template renderer is available")
    wrapped = [(value if isinstance(value, dict) else {"": value}, dict(params)) for value, params in items]
    try:
        rendered = go_render(wrapped, options)
    except GoTemplateError as error:
        path = f"{where}.{error.field}" if error.field else where
        raise ApplicationSetError(f"{path} (param set {error.item}): {error.message}") from None
    if len(rendered) != len(items):
        raise ApplicationSetError(
            f"{where}: the Go template renderer returned {len(rendered)} results for {len(items)}"
        )
    return [
        result if isinstance(value, dict) else result[""] for result, (value, _) in zip(rendered, items, strict=True)
    ]


def _fast(params: Mapping[str, Any], text: str) -> str:
    return fasttemplate(text, params)


def _walk(value: Any, render: Callable[[str], str], field: str = "") -> Any:
    """``value`` with every string rendered; a :class:`FastTemplateError` gets the field path
    (``spec.source.path``, ``sources[1].path``) of the string it is about."""
    if isinstance(value, str):
        try:
            return render(value)
        except FastTemplateError as error:
            error.field = field
            raise
    if isinstance(value, dict):
        return {key: _walk(item, render, f"{field}.{key}" if field else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, render, f"{field}[{index}]") for index, item in enumerate(value)]
    return value


def sanitize_name(name: str) -> str:
    """Argo CD's ``utils.SanitizeName`` (the ``nameNormalized`` params and the Go ``normalize``
    function): lower case, every character outside ``[-a-z0-9.]`` turned into ``-``, at most
    253 characters, leading and trailing ``-`` and ``.`` removed."""
    name = _INVALID_DNS.sub("-", name.lower())[:253]
    return name.strip("-.")


def go_value(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` of a value decoded from JSON by Go (numbers are float64),
    which is how Argo CD turns flattened file params into strings for fasttemplate."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_float(number: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)`` (what ``%v`` prints): the shortest digits
    that read back as ``number``, in exponent form when the exponent is below -4 or at least
    6 (``1e+06``, ``1.5e-05``), plain otherwise (``100000``, ``0.25``)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    sign = "-" if math.copysign(1, number) < 0 else ""
    if number == 0:
        return sign + "0"
    text = repr(abs(number))  # Python's repr is the shortest round-tripping form, as Go's
    mantissa, _, exp_text = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exp_text or 0)  # value = 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        tail = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if len(digits) <= point:
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def flatten_params(params: Mapping[str, Any]) -> dict[str, str]:
    """``flatten.Flatten(params, "", flatten.DotStyle)`` with every leaf formatted as ``%v``:
    what a generator's ``selector`` matches against (Argo CD's ``flattenParameters``)."""
    flat: dict[str, str] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(f"{prefix}.{index}" if prefix else str(index), item)
        else:
            flat[prefix] = go_value(value)

    visit("", dict(params))
    return flat


def flatten_values(value: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten nested maps and lists to dotted keys, leaves kept (for file params)."""
    flat: dict[str, Any] = {}

    def visit(prefix: str, item: Any) -> None:
        if isinstance(item, dict):
            for key, child in item.items():
                visit(f"{prefix}.{key}" if prefix else str(key), child)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                visit(f"{prefix}.{index}" if prefix else str(index), child)
        else:
            flat[prefix] = item

    visit("", dict(value))
    return flat
