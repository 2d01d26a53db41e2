"""The Lua sandbox: what scripts can reach, the time and memory budgets, and data conversion."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bosun.lua_sandbox import LuaScriptError, restore_empty_maps, run_script

OBJ: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "annotations": {}, "labels": {"a": "b"}},
    "spec": {"replicas": 3, "ratio": 1.5, "items": [1, "two", {"three": 3, "none": None}], "on": True},
}


def test_health_script_sees_obj_and_returns_hs() -> None:
    script = """
    hs = {}
    if obj.spec.replicas == 3 and obj.spec.on then
      hs.status = "Healthy"
      hs.message = obj.metadata.name .. " has " .. #obj.spec.items .. " items"
    end
    return hs
    """
    assert run_script(script, OBJ) == {"status": "Healthy", "message": "w has 3 items"}


def test_obj_round_trips_including_empty_maps_and_nulls() -> None:
    expected = {**OBJ, "spec": {**OBJ["spec"], "items": [1, "two", {"three": 3}]}}
    assert run_script("return obj", OBJ) == expected


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("return {}", []),  # a fresh empty table is an array, as gopher-json encodes it
        ("return {1, 2, 3}", [1, 2, 3]),
        ("return {1, 2, nil, 4}", {"1": 1, "2": 2, "4": 4}),
        ("return {a = 1, [1] = 2}", {"a": 1, "1": 2}),
        ("return 2.5", 2.5),
        ("return 4.0", 4),
        ("return 'text'", "text"),
        ("return true", True),
        ("return nil", None),
        ("", None),
        ("return {[true] = 1}", {"true": 1}),
    ],
)
def test_results_convert_like_argo_cds_json_encoding(script: str, expected: Any) -> None:
    assert run_script(script, OBJ) == expected


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("return function() end", "cannot convert a Lua function"),
        ("local t = {} t.t = t return t", "contains itself"),
        ("local t = {} for i = 1, 500 do t = {t} end return t", "nested more than"),
        ("return 1/0", "JSON cannot hold"),
    ],
)
def test_unconvertible_results_are_errors(script: str, message: str) -> None:
    with pytest.raises(LuaScriptError, match=message):
        run_script(script, OBJ)


@pytest.mark.parametrize(
    "script",
    [
        "return io.open('/etc/passwd')",
        "return os.execute('true')",
        "return os.getenv('HOME')",
        "return os.exit(1)",
        "return require('io')",
        "return require('debug')",
        "return dofile('/etc/passwd')",
        "return loadfile('/etc/passwd')",
        "return loadstring('return 1')()",
        "return load(function() return nil end)",
        "return getfenv(0).io",
        "return debug.getinfo(1)",
        "return python.eval('1')",
        "return package.loaded",
        "return coroutine.create(function() end)",
        "return string.rep('x', 2)",  # not opened without useOpenLibs, as in Argo CD
        "return math.floor(1.5)",
    ],
)
def test_unsafe_or_unopened_libraries_are_not_reachable(script: str) -> None:
    with pytest.raises(LuaScriptError):
        run_script(script, OBJ)


def test_safe_os_and_require_os_work_as_in_argo_cd() -> None:
    assert run_script("local os = require('os') return os.time() > 0", OBJ) is True
    assert run_script("return os.date('!%Y-%m-%d', 86400)", OBJ) == "1970-01-02"


def test_open_libs_adds_string_and_math() -> None:
    script = "return {string.find('abcd', 'c'), math.floor(2.7), string.format('%03d', 7)}"
    assert run_script(script, OBJ, open_libs=True) == [3, 2, "007"]


def test_globals_do_not_leak_between_runs() -> None:
    run_script("leaked = 1 return nil", OBJ)
    assert run_script("return leaked", OBJ) is None


def test_script_errors_carry_the_line() -> None:
    with pytest.raises(LuaScriptError, match=r"health.lua:2: boom"):
        run_script("local x = 1\nerror('boom')", OBJ, name="health.lua")
    with pytest.raises(LuaScriptError, match=r"health.lua:1: attempt to index"):
        run_script("return obj.status.phase", OBJ, name="health.lua")
    with pytest.raises(LuaScriptError, match=r"'=' expected"):
        run_script("this is not lua", OBJ)


@pytest.mark.parametrize(
    "script",
    [
        "while true do end",
        "local n = 0 repeat n = n + 1 until false",
        "local function f() return f() end return f()",  # a tail call loops forever too
        # a script cannot swallow the time budget with pcall / xpcall
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
    ],
)
def test_endless_scripts_stop_at_the_time_budget(script: str) -> None:
    started = time.monotonic()
    with pytest.raises(LuaScriptError, match="time budget"):
        run_script(script, OBJ, timeout_seconds=0.3)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "script",
    [
        "local s = 'x' while true do s = s .. s end",
        "local t = {} local i = 0 while true do i = i + 1 t[i] = {i, i, i, i} end",
        "local s = 'x' while true do pcall(function() s = s .. s end) end",
    ],
)
def test_memory_bombs_stop_at_the_memory_budget(script: str) -> None:
    with pytest.raises(LuaScriptError, match="budget"):
        run_script(script, OBJ, memory_bytes=8 * 1024 * 1024, timeout_seconds=5)


def test_extra_globals_are_converted_and_python_attributes_refused() -> None:
    params = [{"name": "replicas", "value": "5"}]
    assert run_script("return actionParams[1].value", OBJ, extra_globals={"actionParams": params}) == "5"

    def double(x: float) -> float:
        return x * 2

    assert run_script("return double(21)", OBJ, extra_globals={"double": double}) == 42
    with pytest.raises(LuaScriptError):
        run_script("return double.__globals__", OBJ, extra_globals={"double": double})


def test_restore_empty_maps_is_argo_cds_clean_returned_obj() -> None:
    result = {"metadata": {"annotations": [], "labels": []}, "spec": {"items": [1, "two", {"x": []}]}, "new": []}
    original = {"metadata": {"annotations": {"k": "v"}, "labels": []}, "spec": {"items": [1, "two", {"x": {}}]}}
    assert restore_empty_maps(result, original) == {
        "metadata": {"annotations": {}, "labels": []},
        "spec": {"items": [1, "two", {"x": {}}]},
        "new": [],
    }
