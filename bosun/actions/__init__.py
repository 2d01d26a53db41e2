"""Resource actions: named Lua scripts that change one live object (``bosun app actions``).

The same model as Argo CD's resource actions (``argocd app actions list|run``):

- **discovery**: a ``discovery.lua`` runs with the global ``obj`` (the live object) and
  returns a table ``name → {disabled, iconClass, displayName, params}``; an empty table
  means "offered and enabled". :func:`parse_discovery` reads that table.
- **run**: the action's ``action.lua`` runs with ``obj`` and ``actionParams`` (name →
  string) and returns either the modified ``obj`` (patched onto the live object), or a
  list of ``{operation = "patch" | "create", resource = <object>}``.
  :func:`parse_action_result` reads it.
- **apply**: a patch becomes a JSON merge patch from the live object to the returned one
  (:func:`merge_patch`); a change under ``status`` goes to the status subresource first
  (:func:`split_status`), as Argo CD does for CRDs that have one.

Where scripts come from, in Argo CD's order (see :func:`discovery_scripts` and
:func:`action_script`): the argocd-cm customization ``resource.customizations.actions.
<group>_<kind>`` (or the nested ``resource.customizations`` key), as
:meth:`bosun.settings.Settings.action_scripts` finds it, first: its definitions win by name,
and its ``discovery.lua`` replaces the built-in one unless it says
``mergeBuiltinActions: true``. Then Bosun's built-ins, in ``bosun/actions/builtin/``.

To add a built-in action: write ``builtin/<set>/<action>.lua``, offer it in that set's
``discovery.lua``; to give a kind a set, add it to :data:`BUILTIN_SETS`.

Everything here is pure: the Lua runtime is passed in (:data:`LuaRunner`, in production
:func:`bosun.lua_sandbox.run_script`), the cluster I/O lives in :mod:`activities.actions`.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from bosun.lua_sandbox import restore_empty_maps
from bosun.resources import Manifest, ResourceKey
from bosun.settings import ActionScripts

BUILTIN_DIR = Path(__file__).with_name("builtin")
BUILTIN_SETS: dict[tuple[str, str], str] = {
    ("apps", "Deployment"): "workload",
    ("apps", "StatefulSet"): "workload",
    ("apps", "DaemonSet"): "workload",
}
"""(group, kind) → the directory under ``builtin/`` holding its discovery.lua and actions."""

LuaRunner = Callable[[str, Manifest, dict[str, Any], str, bool], Any]
"""``run(script, obj, extra_globals, name, open_libs) -> the script's return value`` (tables
as dict/list, integral numbers as int); raises on a script error, whose message starts with
``name`` (see :func:`bosun.lua_sandbox.run_script`)."""


class LuaScript(NamedTuple):
    source: str
    open_libs: bool = False
    """Argo CD's ``useOpenLibs`` (``string`` and ``math``); Bosun's built-ins have them."""


PATCH, CREATE = "patch", "create"


class ActionError(Exception):
    """An action request that cannot be served; ``reason`` says which kind of problem.

    ``NotFound`` (no such resource), ``UnknownAction`` (no such action for that kind),
    ``InvalidArgument`` (ambiguous or bad input), ``Disabled`` (discovery offers it,
    disabled), ``ScriptError`` (a Lua script failed or returned something unusable).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ActionParam(BaseModel):
    name: str
    value: str = ""
    type: str = ""
    default: str = ""


class ResourceAction(BaseModel):
    """One action offered for a resource, as discovery described it."""

    name: str
    disabled: bool = False
    icon_class: str = ""
    display_name: str = ""
    params: list[ActionParam] = Field(default_factory=list)


class ImpactedResource(BaseModel):
    """What an action asks to do: patch the live object (or another), or create one."""

    operation: str
    resource: dict[str, Any]


# --------------------------------------------------------------------------- scripts


@functools.cache
def builtin_scripts(group: str, kind: str) -> ActionScripts | None:
    """Bosun's own actions for a kind (read once from ``builtin/``), or None."""
    name = BUILTIN_SETS.get((group, kind))
    if name is None:
        return None
    directory = BUILTIN_DIR / name
    definitions = {p.stem: p.read_text() for p in sorted(directory.glob("*.lua")) if p.stem != "discovery"}
    return ActionScripts(
        key=f"built-in {name}",
        discovery_lua=(directory / "discovery.lua").read_text(),
        definitions=definitions,
        use_open_libs=True,
    )


def discovery_scripts(custom: ActionScripts | None, builtin: ActionScripts | None) -> list[LuaScript]:
    """The discovery scripts to run, first one winning a name: the custom one, and the
    built-in one unless a custom discovery replaces it (Argo CD's GetResourceActionDiscovery)."""
    scripts = []
    if custom is not None and custom.discovery_lua:
        scripts.append(LuaScript(custom.discovery_lua, custom.use_open_libs))
        if not custom.merge_builtin_actions:
            return scripts
    if builtin is not None and builtin.discovery_lua:
        scripts.append(LuaScript(builtin.discovery_lua, builtin.use_open_libs))
    return scripts


def action_script(name: str, custom: ActionScripts | None, builtin: ActionScripts | None) -> LuaScript | None:
    """The action.lua of ``name``: a custom definition first, then the built-in one."""
    for scripts in (custom, builtin):
        if scripts is not None and name in scripts.definitions:
            return LuaScript(scripts.definitions[name], scripts.use_open_libs)
    return None


# --------------------------------------------------------------------------- discovery


def parse_discovery(value: Any) -> list[ResourceAction]:
    """The actions a discovery.lua returned (a table name → options), sorted by name."""
    if value is None or value == [] or value == {}:
        return []
    if not isinstance(value, dict):
        raise ActionError(f"discovery.lua must return a table of actions, not {_lua_type(value)}", reason="ScriptError")
    actions = []
    for name, options in value.items():
        if not isinstance(options, dict):  # an empty table (or a list): offered, enabled
            actions.append(ResourceAction(name=str(name)))
            continue
        disabled = options.get("disabled")
        params = options.get("params") or []
        if isinstance(params, dict):
            params = list(params.values())
        actions.append(
            ResourceAction(
                name=str(name),
                disabled=disabled if isinstance(disabled, bool) else False,
                icon_class=str(options.get("iconClass") or ""),
                display_name=str(options.get("displayName") or ""),
                params=[
                    ActionParam(
                        name=str(p.get("name", "")),
                        value=_text(p.get("value")),
                        type=str(p.get("type") or ""),
                        default=_text(p.get("default")),
                    )
                    for p in params
                    if isinstance(p, dict)
                ],
            )
        )
    return sorted(actions, key=lambda a: a.name)


def merge_discovered(results: Iterable[list[ResourceAction]]) -> list[ResourceAction]:
    """Several discovery results in order: the first to name an action wins."""
    merged: dict[str, ResourceAction] = {}
    for actions in results:
        for action in actions:
            merged.setdefault(action.name, action)
    return [merged[name] for name in sorted(merged)]


def discover(obj: Manifest, scripts: Iterable[LuaScript], run: LuaRunner) -> list[ResourceAction]:
    """Run the discovery scripts on a live object; the actions it offers."""
    return merge_discovered(parse_discovery(_run(run, "discovery.lua", script, obj, {})) for script in scripts)


# --------------------------------------------------------------------------- run


def run_action(
    obj: Manifest, name: str, script: LuaScript, params: Mapping[str, str], run: LuaRunner
) -> list[ImpactedResource]:
    """Run one action.lua on a live object: what it asks to patch or create."""
    result = _run(run, f"{name}/action.lua", script, copy.deepcopy(obj), {"actionParams": dict(params)})
    return parse_action_result(result, obj)


def parse_action_result(value: Any, live: Manifest) -> list[ImpactedResource]:
    """Read an action.lua's return value.

    A table that is an object is the modified ``obj`` (one patch); a list holds
    ``{operation, resource}`` entries (Argo CD 2.8's multi-resource actions). Lua cannot
    tell an empty map from an empty list, so an empty list where the live object has a
    map keeps the map (Argo CD's cleanReturnedObj, :func:`bosun.lua_sandbox.restore_empty_maps`).
    """
    if isinstance(value, dict):
        if not value:
            raise ActionError("action.lua returned an empty table, not the modified obj", reason="ScriptError")
        return [ImpactedResource(operation=PATCH, resource=restore_empty_maps(value, live))]
    if isinstance(value, list):
        impacted = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("resource"), dict):
                raise ActionError(
                    f"action.lua result [{i + 1}] must be a table with an operation and a resource",
                    reason="ScriptError",
                )
            operation = str(item.get("operation") or "")
            if operation not in (PATCH, CREATE):
                raise ActionError(
                    f"action.lua result [{i + 1}]: unsupported operation {operation!r} (patch or create)",
                    reason="ScriptError",
                )
            resource = item["resource"]
            if operation == PATCH:
                resource = restore_empty_maps(resource, live)
            impacted.append(ImpactedResource(operation=operation, resource=resource))
        return impacted
    raise ActionError(
        f"action.lua must return a table (the modified obj), not {_lua_type(value)}", reason="ScriptError"
    )


def merge_patch(original: Any, modified: Any) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``original`` into ``modified``; {} if equal."""
    patch: dict[str, Any] = {}
    for key, value in modified.items():
        if key not in original:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(original[key], dict):
            nested = merge_patch(original[key], value)
            if nested:
                patch[key] = nested
        elif not _same(original[key], value):
            patch[key] = value
    for key, value in original.items():
        if key not in modified and value is not None:  # a null the Lua round trip dropped is no change
            patch[key] = None
    return patch


def split_status(patch: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(everything but status, status only), each None when empty: a CRD with a status
    subresource takes ``status`` changes only through it."""
    status = {"status": patch["status"]} if "status" in patch else None
    rest = {k: v for k, v in patch.items() if k != "status"}
    return rest or None, status


# --------------------------------------------------------------------------- resources


def select_resource(
    keys: Iterable[ResourceKey], *, kind: str, name: str, namespace: str = "", group: str | None = None, app: str = ""
) -> ResourceKey:
    """The one resource of an app that ``--kind/--resource-name`` (and optionally
    ``--namespace``, ``--group``) name; ActionError if none or several do."""
    matches = sorted(
        {
            k
            for k in keys
            if k.kind.lower() == kind.lower()
            and k.name == name
            and (not namespace or k.namespace == namespace)
            and (group is None or k.group == group)
        },
        key=str,
    )
    where = f" in namespace {namespace}" if namespace else ""
    if not matches:
        raise ActionError(
            f"{kind}/{name}{where} is not a resource of application {app!r} (see `bosun app get`)", reason="NotFound"
        )
    if len(matches) > 1:
        raise ActionError(
            f"{kind}/{name} names several resources of application {app!r} "
            f"({', '.join(str(k) for k in matches)}): give --namespace or --group",
            reason="InvalidArgument",
        )
    return matches[0]


def parse_params(items: Iterable[str]) -> dict[str, str]:
    """``name=value`` pairs (``--param``) as a dict; ActionError on one without ``=``."""
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ActionError(f"--param {item!r}: expected name=value", reason="InvalidArgument")
        params[name] = value
    return params


# --------------------------------------------------------------------------- helpers


def _run(run: LuaRunner, name: str, script: LuaScript, obj: Manifest, extra: dict[str, Any]) -> Any:
    try:
        return run(script.source, obj, extra, name, script.open_libs)
    except ActionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sandbox's errors, whatever their type
        raise ActionError(f"Lua script failed: {exc}", reason="ScriptError") from None


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _lua_type(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
