"""Argo Rollouts' conditions (``successCondition``/``failureCondition``): the cases its docs
and ``utils/evaluate/evaluate_test.go`` show, evaluated without Python's eval."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bosun.analysis.expr import ConditionError, evaluate, evaluate_condition, evaluate_result

TRUE_CASES: list[tuple[str, Any]] = [
    ("result[0] >= 0.95", [0.99]),  # Prometheus docs
    ("result[0] <= 0.01", [0.0]),
    ("result == true", True),  # web docs
    ("result", True),
    ("result.ok && result.errors < 2", {"ok": True, "errors": 1}),
    ("result.data.ok == true", {"data": {"ok": True}}),
    ('result["data"]["ok"]', {"data": {"ok": True}}),
    ("result?.missing == nil", {"data": 1}),
    ("len(result) > 0", [1.0]),
    ("len(result) == 0", []),
    ("isNaN(result)", math.nan),
    ("isNaN(result[0]) || result[0] < 0.05", [math.nan]),
    ("isInf(result)", math.inf),
    ("all(result, {# > 0.9})", [0.95, 0.99]),
    ("any(result, {# < 0.5})", [0.95, 0.1]),
    ("none(result, {# < 0.5})", [0.95, 0.99]),
    ("one(result, {# < 0.5})", [0.95, 0.1]),
    ("len(filter(result, {# > 1})) == 2", [1, 2, 3]),
    ("default(result, 0) >= 0", None),
    ("default(result, 0) == 4", 4),
    ("asInt(result) > 1", "2"),
    ("asFloat(result) < 0.5", "0.25"),
    ("asInt(result) == 3", 3.7),
    ("not (result < 0.5)", 0.7),
    ("!(result < 0.5)", 0.7),
    ("result > 1 and result < 3 or false", 2),
    ("result < 1 or result > 3 || result == 2", 2),
    ("(result[0] + result[1]) / 2 == 1.5", [1, 2]),
    ("result * 100 - 1 > 90", 0.95),
    ("result % 2 == 1", 7),
    ("2 ** 3 == 8", None),
    ("-result < 0", 3),
    ('result == "ok"', "ok"),
    ("result in ['a', 'b']", "a"),
    ("result not in [1, 2]", 3),
    ("result.items[1].value >= 10", {"items": [{"value": 1}, {"value": 12}]}),
    ("result > 1 ? true : false", 2),
    ("1e3 == 1000", None),
    ("max(result) == 3 && min(result) == 1 && sum(result) == 6", [1, 3, 2]),
    ("isNil(result)", None),
]


@pytest.mark.parametrize(("condition", "result"), TRUE_CASES)
def test_true_conditions(condition: str, result: Any) -> None:
    assert evaluate_condition(condition, result) is True


@pytest.mark.parametrize(
    ("condition", "result"),
    [
        ("result[0] >= 0.95", [0.5]),
        ("all(result, {# > 0.9})", [0.95, 0.5]),
        ("result == true", False),
        ("1 == true", None),
        ("isNaN(result)", 1.0),
    ],
)
def test_false_conditions(condition: str, result: Any) -> None:
    assert evaluate_condition(condition, result) is False


@pytest.mark.parametrize(
    ("condition", "result", "message"),
    [
        ("result[1] > 0", [1.0], "index out of range"),
        ("result >", 1, "unexpected"),
        ("result + 1", 1, "expected bool"),
        ("unknown(result)", 1, "unknown function 'unknown'"),
        ("foo > 1", 1, "unknown name 'foo'"),
        ("result.a.b", {"a": None}, "from nil"),
        ("asInt(result) > 1", "x", "asInt"),
        ("result > 'a'", 1, "cannot compare"),
        ("__import__('os')", 1, "unknown function"),
        ("result.__class__", 1, "cannot fetch"),
        ("# > 1", 1, "outside a closure"),
    ],
)
def test_errors_name_the_condition(condition: str, result: Any, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        evaluate_condition(condition, result, which="successCondition")
    assert message in str(info.value)
    assert str(info.value).startswith("successCondition ")
    assert repr(condition) in str(info.value)


def test_division_is_float_as_in_expr() -> None:
    assert evaluate("3 / 2", None) == 1.5


# Argo Rollouts' utils/evaluate/evaluate_test.go: TestEvaluateResult*
@pytest.mark.parametrize(
    ("success", "failure", "result", "phase"),
    [
        ("", "", 1, "Successful"),
        ("result == 1", "", 1, "Successful"),
        ("result == 1", "", 2, "Failed"),
        ("", "result == 1", 1, "Failed"),
        ("", "result == 1", 2, "Successful"),
        ("result == 1", "result == 2", 1, "Successful"),
        ("result == 1", "result == 2", 2, "Failed"),
        ("result == 1", "result == 2", 3, "Inconclusive"),
        ("result > 0", "result > 0", 1, "Failed"),
    ],
)
def test_evaluate_result(success: str, failure: str, result: Any, phase: str) -> None:
    assert evaluate_result(result, success, failure) == phase


def test_evaluate_result_error_names_which_condition() -> None:
    with pytest.raises(ConditionError, match="^failureCondition 'result.x > 1'"):
        evaluate_result(1, "", "result.x > 1")
