"""Custom health checks from the settings: Argo CD's ``health.lua`` scripts.

A script configured for a kind (``resource.customizations.health.<group>_<kind>``, the nested
``resource.customizations`` or a glob key; see :mod:`bosun.settings`) replaces the built-in
check for that kind, as in Argo CD (gitops-engine's ``GetResourceHealth`` asks the override
first). It runs in :mod:`bosun.lua_sandbox` with the object as ``obj`` and must return a table
with ``status`` (Healthy, Progressing, Degraded, Suspended, Missing or Unknown) and an optional
``message``. As in Argo CD (``util/lua``): a script error or a budget exceeded is Unknown with
the error as message, an unknown status is Unknown "Lua returned an invalid health status",
and a result that is not a table is Unknown "expect table output from Lua script, not <type>".

Use :func:`settings_health` to get the override hook ``assess_health(obj, override=...)`` takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bosun.lua_sandbox import DEFAULT_TIMEOUT_SECONDS, LuaScriptError, run_script
from bosun.resources import HealthCode, HealthStatus, Manifest, ResourceKey
from bosun.settings import HealthScript, Settings

HealthOverride = Callable[[Manifest], HealthStatus | None]
INVALID_STATUS = "Lua returned an invalid health status"


def run_health_script(
    script: HealthScript, obj: Manifest, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> HealthStatus:
    """Run one health script on ``obj``; never raises for what the script does."""
    try:
        result = run_script(
            script.lua, obj, open_libs=script.use_open_libs, timeout_seconds=timeout_seconds, name="health.lua"
        )
    except LuaScriptError as exc:
        return HealthStatus(status=HealthCode.UNKNOWN, message=str(exc))
    return _health_status(result)


def settings_health(settings: Settings) -> HealthOverride | None:
    """The override hook for ``assess_health``, or None when no custom check is configured."""
    if not any(o.health_lua for o in settings.overrides.values()):
        return None

    def override(obj: Manifest) -> HealthStatus | None:
        key = ResourceKey.of(obj)
        script = settings.health_script(key.group, key.kind)
        return None if script is None else run_health_script(script, obj)

    return override


def _health_status(result: Any) -> HealthStatus:
    if isinstance(result, list) and not result:
        result = {}  # `return {}`: an empty table, no status
    if not isinstance(result, dict):
        kind = "nil" if result is None else _lua_type(result)
        return HealthStatus(status=HealthCode.UNKNOWN, message=f"expect table output from Lua script, not {kind}")
    try:
        status = HealthCode(str(result.get("status")))
    except ValueError:
        return HealthStatus(status=HealthCode.UNKNOWN, message=INVALID_STATUS)
    message = result.get("message")
    return HealthStatus(status=status, message=message if isinstance(message, str) else "")


def _lua_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "table"
