"""Fuzzing ignoreDifferences (bosun.diff.ignore, through bosun.diff.compare): any rule —
JSON pointers and jq expressions from a grammar of path expressions, or any text — on
any object gives a diff, or a model error (pydantic's ValidationError for a rule that
does not parse, IgnoreRuleError for one past its budget). Never another exception, never
a hang; hostile jq programs run through the worker's budgeted runner end within it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from activities.jq_runner import JqRunner
from bosun.diff import compare
from bosun.diff.ignore import IgnoreDifference, IgnoreRuleError, keep_live_values
from bosun.limits import InputLimits
from tests.unit.fuzz_support import EXAMPLES, FUZZ, JSON_VALUES, TEXT, set_path

pytestmark = pytest.mark.timeout(300)

KEYS = st.sampled_from(["spec", "replicas", "template", "containers", "name", "a", "b", "x-y", "0", ""])

ATOMS = st.one_of(
    st.just("."),
    st.just(".[]"),
    st.just(".."),
    KEYS.map(lambda k: f".{k}" if k.isidentifier() else f'.["{k}"]'),
    st.integers(-3, 3).map(lambda i: f".[{i}]"),
    st.tuples(st.integers(-2, 2), st.integers(-2, 3)).map(lambda t: f".[{t[0]}:{t[1]}]"),
    KEYS.map(lambda k: f'select(.name == "{k}")'),
    KEYS.map(lambda k: f'.["{k}"]?'),
    st.just("first(.[])"),
    st.just("recurse"),
    st.just("to_entries"),
    st.just('getpath(["spec", "replicas"])'),
)

PATH_EXPRESSIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"{t[0]} | {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}, {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) // ({t[1]})"),
        inner.map(lambda e: f"({e})?"),
    ),
    max_leaves=6,
)

POINTERS = st.one_of(
    st.lists(st.one_of(KEYS, st.integers(-1, 3).map(str), st.just("~0"), st.just("~1"), st.just("-")), max_size=4).map(
        lambda parts: "/" + "/".join(parts)
    ),
    TEXT,
)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "d"}}
    obj = set_path(obj, ("spec",), draw(JSON_VALUES))
    if draw(st.booleans()):
        obj = set_path(obj, ("spec",), {"replicas": draw(JSON_VALUES), "template": {"containers": draw(JSON_VALUES)}})
    return obj


RULES = st.fixed_dictionaries(
    {"group": st.sampled_from(["apps", "*", ""]), "kind": st.sampled_from(["Deployment", "*", "D*"])},
    optional={
        "jsonPointers": st.lists(POINTERS, max_size=3),
        "jqPathExpressions": st.lists(st.one_of(PATH_EXPRESSIONS, TEXT), max_size=3),
        "name": st.sampled_from(["web", "other", ""]),
        "managedFieldsManagers": st.lists(TEXT, max_size=2),
    },
)


@FUZZ
@given(objects(), objects(), st.lists(RULES, max_size=3), st.booleans())
def test_compare_with_any_rules(desired: dict[str, Any], live: dict[str, Any], rules: list[Any], dry: bool) -> None:
    try:
        diff = compare(desired, live, predicted=live if dry else None, ignore=rules)
    except (ValidationError, IgnoreRuleError):
        return
    assert diff.key.kind == "Deployment"


@FUZZ
@given(objects(), objects(), st.lists(RULES, max_size=3))
def test_keep_live_values_with_any_rules(desired: dict[str, Any], live: dict[str, Any], rules: list[Any]) -> None:
    try:
        parsed = [IgnoreDifference.model_validate(r) for r in rules]
        result = keep_live_values(desired, live, parsed)
    except (ValidationError, IgnoreRuleError):
        return
    assert result["kind"] == "Deployment"


@FUZZ
@given(st.one_of(JSON_VALUES, RULES))
def test_any_entry_is_a_rule_or_a_validation_error(entry: Any) -> None:
    try:
        rule = IgnoreDifference.model_validate(entry)
    except ValidationError:
        return
    assert all(pointer.startswith("/") for pointer in rule.json_pointers)
    assert all(isinstance(expression, str) for expression in rule.jq_path_expressions)


HOSTILE_JQ = st.sampled_from(
    [
        "repeat(.)",
        "last(repeat(.))",
        ".spec | until(false; .)",
        "def f: f; f",
        "def f: [f]; f",
        "[range(0; 1e9)] | .[0]",
        'first(foreach range(0; 64) as $i ("x"; . + .; select(length > 1e15)))',
        "recurse(.[]?; true) | select(false)",
        ".. | ..",
        "limit(1e9; repeat(.))",
        "path(..)",
        "input",
        "$__loc__",
        "error",
        "env",
    ]
)


@pytest.fixture(scope="module")
def runner() -> Iterator[JqRunner]:
    budgeted = JqRunner(InputLimits(jq_timeout_seconds=0.5, jq_memory_bytes=256 * 1024 * 1024), processes=1)
    yield budgeted
    budgeted.close()


@settings(FUZZ, max_examples=max(25, EXAMPLES // 20))
@given(objects(), st.one_of(HOSTILE_JQ, PATH_EXPRESSIONS))
def test_hostile_jq_ends_within_its_budget(runner: JqRunner, obj: dict[str, Any], expression: str) -> None:
    started = time.monotonic()
    try:
        paths = runner(obj, expression)
    except IgnoreRuleError:
        pass
    else:
        assert all(isinstance(p, list) for p in paths)
    assert time.monotonic() - started < 4  # 0.5 s of jq, a child restart, a loaded machine
