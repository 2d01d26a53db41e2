"""Resource actions, the pure parts: where scripts come from, what discovery and action
scripts return, the merge patch, and naming the resource (bosun/actions)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bosun.actions import (
    ActionError,
    LuaScript,
    action_script,
    builtin_scripts,
    discover,
    discovery_scripts,
    merge_patch,
    parse_action_result,
    parse_discovery,
    parse_params,
    run_action,
    select_resource,
    split_status,
)
from bosun.lua_sandbox import run_script
from bosun.resources import ResourceKey
from bosun.settings import ActionScripts, parse_settings

CRONJOB_ACTIONS = """\
discovery.lua: |
  actions = {}
  actions["suspend"] = {["disabled"] = false}
  return actions
definitions:
- name: suspend
  action.lua: |
    obj.spec.suspend = true
    return obj
"""


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7", "annotations": {}},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "nginx"}]},
            },
        },
    }


# ------------------------------------------------------------------ where scripts come from


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_workloads_have_the_builtin_restart(kind: str) -> None:
    builtin = builtin_scripts("apps", kind)
    assert builtin is not None
    assert "restartedAt" in builtin.definitions["restart"]
    assert builtin.discovery_lua


def test_other_kinds_have_no_builtin_actions() -> None:
    assert builtin_scripts("", "ConfigMap") is None
    assert builtin_scripts("apps", "ReplicaSet") is None


def scripts(
    discovery: str, definitions: dict[str, str], *, merge: bool = False, open_libs: bool = False
) -> ActionScripts:
    return ActionScripts(
        key="test",
        discovery_lua=discovery,
        definitions=definitions,
        merge_builtin_actions=merge,
        use_open_libs=open_libs,
    )


def test_custom_discovery_replaces_the_builtin_one_unless_merged() -> None:
    builtin = scripts("builtin", {"restart": "b"}, open_libs=True)
    custom = scripts("custom", {"restart": "c", "scale": "s"})
    assert discovery_scripts(custom, builtin) == [LuaScript("custom", False)]
    merged = scripts("custom", {}, merge=True)
    assert discovery_scripts(merged, builtin) == [LuaScript("custom", False), LuaScript("builtin", True)]
    assert discovery_scripts(None, builtin) == [LuaScript("builtin", True)]
    assert discovery_scripts(None, None) == []


def test_custom_definitions_win_by_name_and_builtins_stay_runnable() -> None:
    builtin = scripts("b", {"restart": "builtin restart"})
    custom = scripts("c", {"restart": "custom restart", "scale": "scale"}, open_libs=True)
    assert action_script("restart", custom, builtin) == LuaScript("custom restart", True)
    assert action_script("scale", custom, builtin) == LuaScript("scale", True)
    assert action_script("restart", scripts("", {"x": "x"}), builtin) == LuaScript("builtin restart", False)
    assert action_script("nope", custom, builtin) is None


@pytest.mark.parametrize(
    "data",
    [
        {"resource.customizations.actions.batch_CronJob": CRONJOB_ACTIONS},
        {
            "resource.customizations": "batch/CronJob:\n  actions: |\n"
            + "".join(f"    {line}\n" for line in CRONJOB_ACTIONS.splitlines())
        },
    ],
)
def test_argocd_cm_actions_in_both_key_forms_reach_the_action_lookup(data: dict[str, str]) -> None:
    custom = parse_settings(data, source="argocd-cm").action_scripts("batch", "CronJob")
    assert custom is not None
    assert [s.source for s in discovery_scripts(custom, builtin_scripts("batch", "CronJob"))] == [custom.discovery_lua]
    found = action_script("suspend", custom, None)
    assert found is not None and "obj.spec.suspend = true" in found.source


# ------------------------------------------------------------------ discovery


def test_discovery_table_with_options_and_empty_entries() -> None:
    actions = parse_discovery(
        {
            "restart": [],
            "resume": {"disabled": True},
            "scale": {"params": [{"name": "replicas", "default": 2.0}], "displayName": "Scale", "iconClass": "fa"},
            "pause": [False],
        }
    )
    by_name = {a.name: a for a in actions}
    assert [a.name for a in actions] == ["pause", "restart", "resume", "scale"]
    assert not by_name["restart"].disabled and by_name["resume"].disabled
    assert by_name["scale"].params[0].name == "replicas" and by_name["scale"].params[0].default == "2"
    assert by_name["scale"].display_name == "Scale"
    assert not by_name["pause"].disabled


def test_an_empty_discovery_table_offers_nothing() -> None:
    assert parse_discovery({}) == [] and parse_discovery([]) == [] and parse_discovery(None) == []


def test_discovery_that_returns_no_table_is_a_script_error() -> None:
    with pytest.raises(ActionError, match="not string") as info:
        parse_discovery("restart")
    assert info.value.reason == "ScriptError"


def test_first_discovery_script_wins_a_name() -> None:
    results = {"custom": {"restart": {"disabled": True}, "extra": []}, "builtin": {"restart": []}}
    actions = discover(
        {}, [LuaScript("custom"), LuaScript("builtin")], lambda script, obj, extra, name, open_libs: results[script]
    )
    assert [(a.name, a.disabled) for a in actions] == [("extra", False), ("restart", True)]


def test_a_failing_discovery_script_is_a_script_error() -> None:
    def boom(script: str, obj: dict[str, Any], extra: dict[str, Any], name: str, open_libs: bool) -> Any:
        raise RuntimeError(f"{name}:1: attempt to index a nil value")

    with pytest.raises(ActionError, match="Lua script failed: discovery.lua:1: attempt to index a nil value") as info:
        discover({}, [LuaScript("x")], boom)
    assert info.value.reason == "ScriptError"


# ------------------------------------------------------------------ action results


def test_modified_obj_is_one_patch_and_empty_lists_stay_maps() -> None:
    live = deployment()
    returned = deployment()
    returned["metadata"]["annotations"] = []  # Lua's empty table, where live has a map
    returned["spec"]["replicas"] = 3
    [impacted] = parse_action_result(returned, live)
    assert impacted.operation == "patch"
    assert impacted.resource["metadata"]["annotations"] == {}
    assert impacted.resource["spec"]["replicas"] == 3


def test_multi_resource_result() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "run-1"}}
    impacted = parse_action_result(
        [{"operation": "create", "resource": job}, {"operation": "patch", "resource": deployment()}], deployment()
    )
    assert [i.operation for i in impacted] == ["create", "patch"]


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "not nil"),
        ("ok", "not string"),
        ({}, "empty table"),
        ([{"operation": "delete", "resource": {"kind": "x"}}], "unsupported operation 'delete'"),
        ([{"operation": "create"}], r"result \[1\] must be a table with an operation and a resource"),
    ],
)
def test_unusable_action_results(value: Any, message: str) -> None:
    with pytest.raises(ActionError, match=message) as info:
        parse_action_result(value, deployment())
    assert info.value.reason == "ScriptError"


def test_run_action_gives_the_script_a_copy_and_the_params() -> None:
    live = deployment()
    seen: dict[str, Any] = {}

    def fake(script: str, obj: dict[str, Any], extra: dict[str, Any], name: str, open_libs: bool) -> Any:
        seen.update(extra)
        obj["spec"]["replicas"] = int(extra["actionParams"]["replicas"])
        return obj

    [impacted] = run_action(live, "scale", LuaScript("script"), {"replicas": "5"}, fake)
    assert seen == {"actionParams": {"replicas": "5"}}
    assert impacted.resource["spec"]["replicas"] == 5
    assert live["spec"]["replicas"] == 2


# ------------------------------------------------------------------ merge patch


def test_merge_patch_holds_only_what_changed() -> None:
    live = deployment()
    new = deployment()
    new["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}
    assert merge_patch(live, new) == {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}
        }
    }


def test_merge_patch_removes_with_null_replaces_lists_and_skips_dropped_nulls() -> None:
    live = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2], "n": 2, "gone": None}
    new = {"b": {"c": 2}, "l": [1], "n": 2, "e": "x"}
    assert merge_patch(live, new) == {"a": None, "b": {"d": None}, "l": [1], "e": "x"}
    assert merge_patch(live, live) == {}


def test_split_status() -> None:
    assert split_status({"spec": {"a": 1}, "status": {"b": 2}}) == ({"spec": {"a": 1}}, {"status": {"b": 2}})
    assert split_status({"spec": {"a": 1}}) == ({"spec": {"a": 1}}, None)
    assert split_status({"status": {"b": 2}}) == (None, {"status": {"b": 2}})


# ------------------------------------------------------------------ naming the resource


KEYS = [
    ResourceKey(group="apps", kind="Deployment", namespace="a", name="web"),
    ResourceKey(group="apps", kind="Deployment", namespace="b", name="web"),
    ResourceKey(group="", kind="ConfigMap", namespace="a", name="settings"),
]


def test_select_by_kind_and_name() -> None:
    assert select_resource(KEYS, kind="ConfigMap", name="settings") == KEYS[2]
    assert select_resource(KEYS, kind="configmap", name="settings", group="") == KEYS[2]
    assert select_resource(KEYS, kind="Deployment", name="web", namespace="b") == KEYS[1]


def test_select_ambiguous_is_bad_input() -> None:
    with pytest.raises(ActionError, match="give --namespace or --group") as info:
        select_resource(KEYS, kind="Deployment", name="web", app="shop")
    assert info.value.reason == "InvalidArgument"


def test_select_unknown_is_not_found() -> None:
    with pytest.raises(ActionError, match="Deployment/api is not a resource of application 'shop'") as info:
        select_resource(KEYS, kind="Deployment", name="api", app="shop")
    assert info.value.reason == "NotFound"


def test_params() -> None:
    assert parse_params(["replicas=3", "note=a=b"]) == {"replicas": "3", "note": "a=b"}
    with pytest.raises(ActionError, match="expected name=value"):
        parse_params(["replicas"])


# ------------------------------------------------------------------ the real Lua


def lua(script: str, obj: dict[str, Any], extra: dict[str, Any], name: str, open_libs: bool) -> Any:
    return run_script(script, obj, extra_globals=extra, name=name, open_libs=open_libs)


def test_builtin_restart_stamps_the_pod_template_and_nothing_else() -> None:
    live = deployment()
    builtin = builtin_scripts("apps", "Deployment")
    assert builtin is not None
    assert [a.name for a in discover(live, discovery_scripts(None, builtin), lua)] == ["restart"]
    restart = action_script("restart", None, builtin)
    assert restart is not None
    [impacted] = run_action(live, "restart", restart, {}, lua)
    patch = merge_patch(live, impacted.resource)
    stamp = patch["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert patch == {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}


def test_custom_action_with_params_through_the_sandbox() -> None:
    script = 'obj.spec.replicas = tonumber(actionParams["replicas"])\nreturn obj'
    [impacted] = run_action(deployment(), "scale", LuaScript(script), {"replicas": "4"}, lua)
    assert merge_patch(deployment(), impacted.resource) == {"spec": {"replicas": 4}}


def test_a_lua_error_names_the_action_script() -> None:
    with pytest.raises(ActionError, match=r"Lua script failed: boom/action.lua:1: .*nil") as info:
        run_action(deployment(), "boom", LuaScript("obj.spec.missing.field = 1\nreturn obj"), {}, lua)
    assert info.value.reason == "ScriptError"
