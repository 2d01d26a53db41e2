"""Run Argo CD's Lua customizations (health.lua, action.lua, discovery.lua) in a sandbox.

Argo CD runs these scripts with gopher-lua, a Lua 5.1 interpreter, in a fresh state per call:
the resource is the global ``obj``, the script's return value is the result (``hs`` for a health
check, the changed ``obj`` for an action), and a context cancels the script after one second.
Bosun runs them with a real Lua 5.1 from PyPI (``lupa.lua51``), also one fresh runtime per call
(about 0.2 ms), so a script sees exactly one object and nothing a previous script left behind.

What a script can reach, as in Argo CD's ``util/lua`` (``runLua`` and ``oslib_safe.go``):

* always: the base functions (``assert error ipairs next pairs pcall print rawequal rawget rawset
  select setmetatable getmetatable tonumber tostring type unpack xpcall _G _VERSION``), the
  ``table`` library, a safe ``os`` with only ``os.time`` and ``os.date``, and ``require`` for that
  ``os`` (``local os = require("os")`` works as in Argo CD);
* with ``open_libs=True`` (Argo CD's ``resource.customizations.useOpenLibs.<group>_<kind>``), also
  ``string`` and ``math``.

Never: ``io``, the rest of ``os``, ``debug``, ``coroutine``, ``package``, ``load``/``loadstring``/
``dofile``/``loadfile``, ``getfenv``/``setfenv`` (which would hand out the real global table) and
Python itself (lupa's ``python`` module is not in the script's environment, and attribute access
on any Python object is refused). ``print`` is accepted and discards its output (Argo CD's goes to
the controller's stdout). String methods (``s:find(...)``) work in every mode: Lua 5.1 gives every
string the ``string`` library as metatable, so Bosun accepts a little more than gopher-lua does.

Budgets: a count hook checks the wall clock every 1,000 VM instructions and stops the script at
``timeout_seconds``; ``pcall``/``xpcall`` inside the script cannot swallow that stop. Memory is
capped by lupa's allocator (``memory_bytes``). Either raises :class:`LuaScriptError`, as does any
error in the script, so a bad script costs the caller one failed evaluation, never a hung or
crashed worker. Known limit: the hook cannot interrupt a single long C call (e.g. a pathological
``string.find`` pattern with ``open_libs``); memory still bounds what such a call can build.

Conversion follows Argo CD's JSON round trip (``decodeValue`` in, ``gopher-json`` out): JSON
objects become tables, arrays become sequences, ``null`` is ``nil``. On the way out a table whose
keys are exactly 1..n is a list, any other table a dict (keys as strings), integral numbers are
ints, and an empty table is a list, unless it came from a JSON object (Bosun marks those, so an
untouched ``{}`` in ``obj`` stays ``{}``). :func:`restore_empty_maps` is Argo CD's
``cleanReturnedObj`` for action results, where a script wrote a fresh ``{}`` where a map was.
Functions, cycles and non-finite numbers in a result are errors, as in gopher-json.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import lupa.lua51 as lupa

MiB = 1024 * 1024
DEFAULT_MEMORY_BYTES = 64 * MiB
DEFAULT_TIMEOUT_SECONDS = 1.0
# Instructions between two clock checks: small enough to stop a tight loop within milliseconds
# of its budget, large enough that the Python call costs nothing measurable.
_HOOK_EVERY = 1000
_MAX_SAFE_INT = 2**53
_MAX_DEPTH = 200


class LuaScriptError(Exception):
    """A script failed: a Lua error, a time or memory budget exceeded, or an unconvertible result."""


# Runs in the runtime's own (unsandboxed) globals once per call and returns the entry point.
# Only the returned function and the values passed to it cross into the script's environment.
_BOOTSTRAP = """
local sethook, loadstring, setfenv = debug.sethook, loadstring, setfenv
local pcall, xpcall, error, setmetatable, getmetatable = pcall, xpcall, error, setmetatable, getmetatable
local rawequal, rawget, rawset, next, pairs, ipairs = rawequal, rawget, rawset, next, pairs, ipairs
local select, tonumber, tostring, type, unpack, assert = select, tonumber, tostring, type, unpack, assert
local os_time, os_date = os.time, os.date
local function copy(lib)
  local t = {}
  for k, v in pairs(lib) do t[k] = v end
  return t
end
local string_lib, math_lib, table_lib = copy(string), copy(math), copy(table)

local MAP = {}          -- metatable marking tables that were JSON objects
local TIMEOUT = {}      -- the error value the hook raises
local timed_out = false

local function new_map() return setmetatable({}, MAP) end
local function is_map(t) return getmetatable(t) == MAP end
local ids, last_id = setmetatable({}, {__mode = "k"}), 0
local function ident(t)         -- a stable number per table, to find cycles in a result
  local id = ids[t]
  if not id then last_id = last_id + 1; id = last_id; ids[t] = id end
  return id
end

local function run(source, chunkname, now, deadline, every, extras, open_libs)
  local chunk, err = loadstring(source, "=" .. chunkname)
  if not chunk then return "error", err end

  local function hook()
    if timed_out or now() > deadline then
      timed_out = true
      error(TIMEOUT, 0)
    end
  end
  local function guard(...)
    if timed_out then error(TIMEOUT, 0) end
    return ...
  end

  local safe_os = {time = os_time, date = os_date}
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
    setmetatable = setmetatable, getmetatable = getmetatable,
    tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    _VERSION = _VERSION,
    print = function(...) end,
    pcall = function(...) return guard(pcall(...)) end,
    xpcall = function(f, h) return guard(xpcall(f, h)) end,
    table = copy(table_lib),
    os = safe_os,
    require = function(name)
      if name == "os" then return safe_os end
      error("module '" .. tostring(name) .. "' not found", 2)
    end,
  }
  if open_libs then
    env.string = copy(string_lib)
    env.math = copy(math_lib)
  end
  env._G = env
  for k, v in pairs(extras) do env[k] = v end
  setfenv(chunk, env)

  sethook(hook, "", every)
  local results = {pcall(chunk)}
  sethook()
  if timed_out then return "timeout" end
  if not results[1] then
    local e = results[2]
    if type(e) == "string" then return "error", e end
    if type(e) == "userdata" then return "error", tostring(e) end
    return "error", "error object is a " .. type(e) .. " value"
  end
  return "ok", results[2]
end

return run, new_map, is_map, ident
"""


def run_script(
    script: str,
    obj: Mapping[str, Any] | None,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    extra_globals: Mapping[str, Any] | None = None,
    open_libs: bool = False,
    name: str = "script",
) -> Any:
    """Run ``script`` with the global ``obj`` and return its first return value as Python data.

    ``extra_globals`` are set as further globals (converted like ``obj``; Argo CD's actions get
    ``actionParams`` this way). ``open_libs`` is Argo CD's ``useOpenLibs``. ``name`` is the chunk
    name in error messages (``health.lua:3: attempt to index ...``). Raises :class:`LuaScriptError`.
    """
    try:
        runtime = lupa.LuaRuntime(
            max_memory=memory_bytes,
            register_eval=False,
            register_builtins=False,
            attribute_filter=_refuse_attributes,
        )
        run, new_map, is_map, ident = runtime.execute(_BOOTSTRAP)
        converter = _ToLua(runtime, new_map)
        extras = runtime.table()
        extras["obj"] = converter.convert(obj)
        for key, value in (extra_globals or {}).items():
            extras[key] = converter.convert(value)
        deadline = time.monotonic() + timeout_seconds
        outcome = run(script, name, time.monotonic, deadline, _HOOK_EVERY, extras, open_libs)
    except lupa.LuaMemoryError as e:
        raise LuaScriptError(f"{name}: exceeded its memory budget of {_size(memory_bytes)}") from e
    except lupa.LuaError as e:
        raise LuaScriptError(f"{name}: {e}") from e
    status, value = (outcome[0], outcome[1]) if isinstance(outcome, tuple) else (outcome, None)
    if status == "timeout":
        raise LuaScriptError(f"{name}: exceeded its time budget of {timeout_seconds:g}s")
    if status == "error":
        message = str(value)
        if message == "not enough memory":
            raise LuaScriptError(f"{name}: exceeded its memory budget of {_size(memory_bytes)}")
        raise LuaScriptError(message)
    return _FromLua(is_map, ident, name).convert(value)


def restore_empty_maps(new: Any, original: Any) -> Any:
    """Argo CD's ``cleanReturnedObj``: an empty list where ``original`` has a map becomes a map.

    Lua has one empty table for ``{}`` and ``[]``. When an action script assigns a fresh ``{}``
    where the resource has an object, the result says ``[]``; this puts an (empty) object back,
    recursing through maps and lists alongside ``original``. Values are copied, not mutated.
    """
    if isinstance(new, dict) and isinstance(original, dict):
        return {k: restore_empty_maps(v, original[k]) if k in original else v for k, v in new.items()}
    if isinstance(new, list):
        if not new and isinstance(original, dict):
            return {}
        if isinstance(original, list):
            return [restore_empty_maps(v, original[i]) if i < len(original) else v for i, v in enumerate(new)]
    return new


def _refuse_attributes(obj: object, attr_name: object, is_setting: bool) -> str:
    raise AttributeError("Lua scripts cannot access Python attributes")


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


class _ToLua:
    """Python (JSON-shaped) data to Lua values, marking tables that were objects."""

    def __init__(self, runtime: Any, new_map: Any) -> None:
        self._runtime = runtime
        self._new_map = new_map

    def convert(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            table = self._new_map()
            for key, item in value.items():
                if item is not None:
                    table[str(key)] = self.convert(item)
            return table
        if isinstance(value, list | tuple):
            table = self._runtime.table()
            for index, item in enumerate(value, start=1):
                table[index] = self.convert(item)
            return table
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return float(value)  # Lua 5.1, like gopher-lua, has one number type
        if callable(value):
            return value
        raise LuaScriptError(f"cannot pass a {type(value).__name__} to a Lua script")


class _FromLua:
    """A script's result to Python data, the way gopher-json encodes it for Argo CD."""

    def __init__(self, is_map: Any, ident: Any, name: str) -> None:
        self._is_map = is_map
        self._ident = ident
        self._name = name

    def convert(self, value: Any, seen: tuple[int, ...] = ()) -> Any:
        kind = lupa.lua_type(value)
        if kind is None:
            if isinstance(value, float | int) and not isinstance(value, bool):
                return _number(float(value), self._name)
            return value  # None, bool, str
        if kind != "table":
            raise LuaScriptError(f"{self._name}: cannot convert a Lua {kind} in the script's result")
        ident = self._ident(value)
        if ident in seen:
            raise LuaScriptError(f"{self._name}: the script's result contains a table that contains itself")
        if len(seen) >= _MAX_DEPTH:
            raise LuaScriptError(f"{self._name}: the script's result is nested more than {_MAX_DEPTH} levels deep")
        seen = (*seen, ident)
        items = list(value.items())
        if not items:
            return {} if self._is_map(value) else []
        keys = [k for k, _ in items]
        if all(isinstance(k, float | int) and not isinstance(k, bool) for k in keys):
            ints = sorted(int(k) for k in keys if float(k).is_integer())
            if len(ints) == len(keys) and ints == list(range(1, len(ints) + 1)):
                by_index = {int(k): v for k, v in items}
                return [self.convert(by_index[i], seen) for i in ints]
        return {_key(k, self._name): self.convert(v, seen) for k, v in items}


def _number(value: float, name: str) -> int | float:
    if not math.isfinite(value):
        raise LuaScriptError(f"{name}: the script's result contains a number JSON cannot hold ({value})")
    if value.is_integer() and abs(value) < _MAX_SAFE_INT:
        return int(value)
    return value


def _key(key: Any, name: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        number = _number(float(key), name)
        return str(number)
    raise LuaScriptError(f"{name}: cannot convert a Lua {lupa.lua_type(key) or type(key).__name__} key")
