"""Argo Rollouts' ``successCondition`` / ``failureCondition``: a safe parser and evaluator.

Argo Rollouts evaluates conditions with the expr language (github.com/expr-lang/expr) over
``result`` (``utils/evaluate/evaluate.go``). This module covers the cases Argo Rollouts'
docs and tests show, with no Python ``eval``:

- ``result``, ``result[0]``, ``result.field``, ``result["field"]``, ``result?.field``;
- literals: numbers, strings, ``true``/``false``/``nil``, arrays ``[1, 2]``;
- comparisons ``== != < <= > >=``, ``in``, ``not in``; ``&& || and or not !``; ``? :``;
- arithmetic ``+ - * / % **`` (``/`` is float division, as in expr);
- functions: ``len``, ``isNaN``, ``isInf``, ``isNil``, ``default``, ``asInt``, ``asFloat``,
  ``abs``, ``min``, ``max``, ``sum``, ``int``, ``float``, ``string`` and the predicates
  ``all``, ``any``, ``none``, ``one``, ``filter``, ``map``, ``count`` with a closure
  ``{# > 0.9}`` (``#`` is the element).

:func:`evaluate_result` is Argo Rollouts' ``EvaluateResult``: which of Successful, Failed,
Inconclusive a measured value is. Errors are :class:`ConditionError` naming the condition.
To add a function: one entry in ``_FUNCTIONS`` (or ``_PREDICATES`` for closure-taking ones).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ConditionError", "evaluate", "evaluate_condition", "evaluate_result"]


class ConditionError(ValueError):
    """A condition that does not parse or does not evaluate; the message names it."""


# ------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>\?\.|\*\*|==|!=|<=|>=|&&|\|\||[-+*/%^<>!?:.,()\[\]{}\#])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ConditionError(f"unexpected character {text[pos]!r} at {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, m.group(0), pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


# ------------------------------------------------------------------------- AST

Node = tuple[Any, ...]
"""(kind, ...): ("lit", v), ("var", name), ("elem",), ("member", obj, key, optional),
("call", name, args), ("closure", body), ("unary", op, x), ("bin", op, a, b),
("cond", c, a, b), ("array", items)."""

_BINARY: dict[str, int] = {
    "||": 1,
    "or": 1,
    "&&": 2,
    "and": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "in": 4,
    "not in": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "**": 7,
    "^": 7,
}
_RIGHT = {"**", "^"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.closure_depth = 0

    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise ConditionError(f"expected {text!r} at {tok.pos}, found {tok.text or 'the end'!r}")

    def parse(self) -> Node:
        node = self.expression()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(f"unexpected {tok.text!r} at {tok.pos}")
        return node

    def expression(self) -> Node:
        node = self.binary(1)
        if self.peek().text == "?":
            self.take()
            yes = self.expression()
            self.expect(":")
            no = self.expression()
            node = ("cond", node, yes, no)
        return node

    def binary_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == "op" and tok.text in _BINARY:
            return tok.text
        if tok.kind == "name" and tok.text in ("and", "or", "in"):
            return tok.text
        if tok.kind == "name" and tok.text == "not" and self.peek(1).text == "in":
            return "not in"
        return None

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            op = self.binary_op()
            if op is None or _BINARY[op] < min_prec:
                return left
            self.take()
            if op == "not in":
                self.take()
            prec = _BINARY[op]
            right = self.binary(prec if op in _RIGHT else prec + 1)
            left = ("bin", op, left, right)

    def unary(self) -> Node:
        tok = self.peek()
        if tok.text in ("!", "-", "+") and tok.kind == "op":
            self.take()
            return ("unary", tok.text, self.unary())
        if tok.kind == "name" and tok.text == "not":
            self.take()
            return ("unary", "!", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.text in (".", "?.") and tok.kind == "op":
                self.take()
                name = self.take()
                if name.kind != "name":
                    raise ConditionError(f"expected a field name at {name.pos}")
                node = ("member", node, ("lit", name.text), tok.text == "?.")
            elif tok.text == "[":
                self.take()
                key = self.expression()
                self.expect("]")
                node = ("member", node, key, False)
            else:
                return node

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "number":
            text = tok.text
            is_float = any(c in text for c in ".eE")
            return ("lit", float(text) if is_float else int(text))
        if tok.kind == "string":
            return ("lit", _unquote(tok.text))
        if tok.text == "#":
            if not self.closure_depth:
                raise ConditionError(f"'#' outside a closure at {tok.pos}")
            return ("elem",)
        if tok.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        if tok.text == "[":
            items: list[Node] = []
            while self.peek().text != "]":
                items.append(self.expression())
                if self.peek().text != ",":
                    break
                self.take()
            self.expect("]")
            return ("array", items)
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return ("lit", tok.text == "true")
            if tok.text in ("nil", "null"):
                return ("lit", None)
            if self.peek().text == "(":
                return self.call(tok)
            return ("var", tok.text)
        raise ConditionError(f"unexpected {tok.text or 'end'!r} at {tok.pos}")

    def call(self, name: _Tok) -> Node:
        if name.text not in _FUNCTIONS and name.text not in _PREDICATES:
            raise ConditionError(f"unknown function {name.text!r} at {name.pos}")
        self.expect("(")
        args: list[Node] = []
        while self.peek().text != ")":
            if self.peek().text == "{":
                self.take()
                self.closure_depth += 1
                body = self.expression()
                self.closure_depth -= 1
                self.expect("}")
                args.append(("closure", body))
            else:
                args.append(self.expression())
            if self.peek().text != ",":
                break
            self.take()
        self.expect(")")
        return ("call", name.text, args)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


# ------------------------------------------------------------------------- evaluation


def _number(value: Any, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConditionError(f"{what}: {value!r} is not a number")
    return value


def _as_int(value: Any) -> int:
    """Argo Rollouts' ``asInt``: a number truncated, or a string of an integer."""
    if isinstance(value, bool):
        raise ConditionError(f"asInt: {value!r} is not a number")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            raise ConditionError(f"asInt: {value!r} is not an integer") from None
    raise ConditionError(f"asInt: {value!r} is not a number or string")


def _as_float(value: Any) -> float:
    """Argo Rollouts' ``asFloat``: a number, or a string of one."""
    if isinstance(value, bool):
        raise ConditionError(f"asFloat: {value!r} is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ConditionError(f"asFloat: {value!r} is not a number") from None
    raise ConditionError(f"asFloat: {value!r} is not a number or string")


def _len(value: Any) -> int:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value)
    raise ConditionError(f"len: {value!r} has no length")


def _seq(value: Any, what: str) -> Sequence[Any]:
    if isinstance(value, (list, tuple)):
        return value
    raise ConditionError(f"{what}: {value!r} is not an array")


def _min_max(pick: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        values = list(_seq(args[0], "min/max")) if len(args) == 1 else list(args)
        if not values:
            raise ConditionError("min/max of nothing")
        return pick(_number(v, "min/max") for v in values)

    return run


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "isNaN": lambda v: isinstance(v, float) and math.isnan(v),
    "isInf": lambda v: isinstance(v, float) and math.isinf(v),
    "isNil": lambda v: v is None,
    "default": lambda v, d: d if v is None else v,
    "asInt": _as_int,
    "asFloat": _as_float,
    "int": _as_int,
    "float": _as_float,
    "string": lambda v: "nil" if v is None else str(v).lower() if isinstance(v, bool) else str(v),
    "abs": lambda v: abs(_number(v, "abs")),
    "min": _min_max(min),
    "max": _min_max(max),
    "sum": lambda v: sum(_number(x, "sum") for x in _seq(v, "sum")),
}
_PREDICATES = {"all", "any", "none", "one", "filter", "map", "count"}


def _member(obj: Any, key: Any, optional: bool) -> Any:
    if obj is None:
        if optional:
            return None
        raise ConditionError(f"cannot fetch {key!r} from nil")
    if isinstance(obj, Mapping):
        return obj.get(key)
    if isinstance(obj, (list, tuple, str)):
        if isinstance(key, bool) or not isinstance(key, int):
            raise ConditionError(f"array index {key!r} is not an integer")
        index = key + len(obj) if key < 0 else key
        if not 0 <= index < len(obj):
            raise ConditionError(f"index out of range: {key} (array of length {len(obj)})")
        return obj[index]
    raise ConditionError(f"cannot fetch {key!r} from {type(obj).__name__} {obj!r}")


def _truth(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"{op} needs booleans, got {value!r}")
    return value


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return bool(a == b) and (isinstance(a, bool) == isinstance(b, bool))
    if op == "!=":
        return not _compare("==", a, b)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numbers and not (isinstance(a, str) and isinstance(b, str)):
        raise ConditionError(f"cannot compare {a!r} {op} {b!r}")
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    x, y = _number(a, op), _number(b, op)
    try:
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return x / y if y else (math.nan if x == 0 else math.copysign(math.inf, x))
        if op == "%":
            if not isinstance(x, int) or not isinstance(y, int):
                raise ConditionError("% needs integers")
            return int(math.fmod(x, y))
        return float(x) ** float(y)
    except ZeroDivisionError:
        raise ConditionError("integer divide by zero") from None


class _Env:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = variables
        self.elements: list[Any] = []

    def eval(self, node: Node) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            if node[1] not in self.variables:
                raise ConditionError(f"unknown name {node[1]!r}")
            return self.variables[node[1]]
        if kind == "elem":
            return self.elements[-1]
        if kind == "array":
            return [self.eval(item) for item in node[1]]
        if kind == "member":
            return _member(self.eval(node[1]), self.eval(node[2]), node[3])
        if kind == "unary":
            value = self.eval(node[2])
            if node[1] == "!":
                return not _truth(value, "not")
            number = _number(value, node[1])
            return -number if node[1] == "-" else number
        if kind == "cond":
            return self.eval(node[2]) if _truth(self.eval(node[1]), "?:") else self.eval(node[3])
        if kind == "bin":
            return self.binary(node[1], node[2], node[3])
        if kind == "call":
            return self.call(node[1], node[2])
        raise ConditionError(f"a closure outside a predicate: {node!r}")

    def binary(self, op: str, a: Node, b: Node) -> Any:
        if op in ("||", "or"):
            return _truth(self.eval(a), op) or _truth(self.eval(b), op)
        if op in ("&&", "and"):
            return _truth(self.eval(a), op) and _truth(self.eval(b), op)
        left, right = self.eval(a), self.eval(b)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return _compare(op, left, right)
        if op in ("in", "not in"):
            if isinstance(right, Mapping) or isinstance(right, str) and isinstance(left, str):
                found = left in right
            else:
                found = any(_compare("==", left, item) for item in _seq(right, op))
            return found if op == "in" else not found
        return _arith("**" if op == "^" else op, left, right)

    def call(self, name: str, args: list[Node]) -> Any:
        if name in _PREDICATES:
            if len(args) != 2 or args[1][0] != "closure":
                raise ConditionError(f"{name} needs an array and a closure like {{# > 0}}")
            items = _seq(self.eval(args[0]), name)
            body = args[1][1]
            results: list[Any] = []
            for item in items:
                self.elements.append(item)
                try:
                    results.append(self.eval(body))
                finally:
                    self.elements.pop()
            if name == "map":
                return results
            if name == "filter":
                return [item for item, keep in zip(items, results, strict=True) if _truth(keep, name)]
            flags = [_truth(r, name) for r in results]
            if name == "all":
                return all(flags)
            if name == "any":
                return any(flags)
            if name == "none":
                return not any(flags)
            if name == "one":
                return sum(flags) == 1
            return sum(flags)
        if any(arg[0] == "closure" for arg in args):
            raise ConditionError(f"{name} takes no closure")
        values = [self.eval(arg) for arg in args]
        try:
            return _FUNCTIONS[name](*values)
        except TypeError:
            raise ConditionError(f"{name}: wrong number of arguments ({len(values)})") from None


_PARSED: dict[str, Node] = {}


def _parse(condition: str) -> Node:
    node = _PARSED.get(condition)
    if node is None:
        node = _PARSED[condition] = _Parser(condition).parse()
        if len(_PARSED) > 512:
            _PARSED.clear()
    return node


def evaluate(expression: str, result: Any) -> Any:
    """The value of ``expression`` with ``result`` bound (raises :class:`ConditionError`)."""
    try:
        return _Env({"result": result}).eval(_parse(expression))
    except ConditionError as exc:
        raise ConditionError(f"{expression!r}: {exc}") from None
    except RecursionError:
        raise ConditionError(f"{expression!r}: too deeply nested") from None


def evaluate_condition(condition: str, result: Any, *, which: str = "condition") -> bool:
    """A condition's truth; a condition whose value is not a boolean is an error (as Argo Rollouts)."""
    try:
        value = evaluate(condition, result)
    except ConditionError as exc:
        raise ConditionError(f"{which} {exc}") from None
    if not isinstance(value, bool):
        raise ConditionError(f"{which} {condition!r}: expected bool, but got {type(value).__name__} {value!r}")
    return value


def evaluate_result(result: Any, success_condition: str, failure_condition: str) -> str:
    """Argo Rollouts' ``EvaluateResult``: the measurement phase (Successful, Failed or
    Inconclusive) of ``result``; :class:`ConditionError` (the measurement's Error) when a
    condition fails to evaluate.

    Without conditions a measurement is Successful; with only a success condition, not
    meeting it is Failed; with only a failure condition, not meeting it is Successful; with
    both, meeting neither is Inconclusive (and failure wins when both hold)."""
    success = failure = False
    if success_condition:
        success = evaluate_condition(success_condition, result, which="successCondition")
    if failure_condition:
        failure = evaluate_condition(failure_condition, result, which="failureCondition")
    if not success_condition and not failure_condition:
        return "Successful"
    if success_condition and not failure_condition:
        failure = not success
    elif failure_condition and not success_condition:
        success = not failure
    if failure:
        return "Failed"
    if not success:
        return "Inconclusive"
    return "Successful"
