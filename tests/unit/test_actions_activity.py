"""ActionActivities against a recording fake cluster client: what reaches the API server
(merge patches, the status subresource, creates after a dry run) and what is refused.
The real stack is exercised by tests/e2e/test_resource_actions.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.actions import ActionActivities, ResourceActionInput
from activities.contracts import Destination
from activities.kube import KubeError
from activities.settings import SettingsReader
from bosun.resources import Manifest, ResourceKey
from bosun.settings import parse_settings
from bosun.tracking import apply_tracking

APP = "shop"
WIDGET = ResourceKey(group="example.com", kind="Widget", namespace="shop", name="w")


class FakeClient:
    """Objects by key; records patches and creates as the API server would receive them."""

    def __init__(self, *objects: Manifest, status_subresource: bool = True) -> None:
        self.objects = {ResourceKey.of(o): copy.deepcopy(o) for o in objects}
        self.status_subresource = status_subresource
        self.calls: list[tuple[str, str, Any]] = []

    def preferred_api_version(self, group: str, kind: str) -> str:
        return "example.com/v1" if group == "example.com" else ("apps/v1" if group == "apps" else "v1")

    def namespaced(self, api_version: str, kind: str) -> bool:
        return kind != "Namespace"

    def get(self, obj: Manifest) -> Manifest | None:
        found = self.objects.get(ResourceKey.of(obj))
        return copy.deepcopy(found) if found else None

    def merge_patch(
        self, obj: Manifest, patch: Manifest, *, subresource: str = "", field_manager: str | None = None
    ) -> Manifest | None:
        if subresource and not self.status_subresource:
            return None
        self.calls.append(("patch", subresource, patch))
        live = self.objects[ResourceKey.of(obj)]
        live["metadata"]["resourceVersion"] = str(int(live["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(live)

    def create(self, obj: Manifest, *, dry_run: bool = False, field_manager: str = "") -> Manifest:
        if ResourceKey.of(obj) in self.objects:
            raise KubeError("create Widget/w: already exists", retryable=True, status=409)
        self.calls.append(("create", "dry-run" if dry_run else "", obj))
        return obj


class FakeClusters:
    def __init__(self, client: FakeClient) -> None:
        self._client = client

    def client(self, destination: Destination) -> FakeClient:
        return self._client


def widget(**status: Any) -> Manifest:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "shop", "resourceVersion": "1"},
        "spec": {"size": 1},
        "status": {"phase": "Running", **status},
    }
    return apply_tracking(obj, APP)


def activities(client: FakeClient, actions_yaml: str) -> ActionActivities:
    settings = parse_settings({"resource.customizations.actions.example.com_Widget": actions_yaml}, source="test")
    return ActionActivities(clusters=FakeClusters(client), settings=SettingsReader.static(settings))  # type: ignore[arg-type]


def run(acts: ActionActivities, action: str) -> Any:
    return acts.run_resource_action(
        ResourceActionInput(
            app=APP,
            destination=Destination(server="https://kubernetes.default.svc", namespace="shop"),
            key=WIDGET,
            action=action,
        )
    )


def actions_yaml(body: str) -> str:
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return f"discovery.lua: |\n  return {{go = {{}}}}\ndefinitions:\n- name: go\n  action.lua: |\n{indented}"


def test_spec_and_status_changes_go_to_the_object_and_its_status_subresource() -> None:
    client = FakeClient(widget())
    acts = activities(client, actions_yaml('obj.spec.size = 3\nobj.status.phase = "Paused"\nreturn obj'))
    result = run(acts, "go")
    assert [r.status for r in result.results] == ["configured"]
    (status_call, spec_call) = client.calls
    assert status_call == ("patch", "status", {"status": {"phase": "Paused"}, "metadata": {"resourceVersion": "1"}})
    assert spec_call == ("patch", "", {"spec": {"size": 3}, "metadata": {"resourceVersion": "2"}})


def test_without_a_status_subresource_one_patch_carries_both() -> None:
    client = FakeClient(widget(), status_subresource=False)
    acts = activities(client, actions_yaml('obj.spec.size = 3\nobj.status.phase = "Paused"\nreturn obj'))
    run(acts, "go")
    assert client.calls == [
        ("patch", "", {"spec": {"size": 3}, "status": {"phase": "Paused"}, "metadata": {"resourceVersion": "1"}})
    ]


def test_an_action_that_changes_nothing_patches_nothing() -> None:
    client = FakeClient(widget())
    result = run(activities(client, actions_yaml("return obj")), "go")
    assert [r.status for r in result.results] == ["unchanged"] and client.calls == []


def test_create_is_dry_run_first_and_gets_the_resources_namespace() -> None:
    client = FakeClient(widget())
    script = (
        'local job = {apiVersion = "batch/v1", kind = "Job", metadata = {name = "w-run"}}\n'
        'return {{operation = "create", resource = job}}'
    )
    result = run(activities(client, actions_yaml(script)), "go")
    assert [(r.key.kind, r.key.namespace, r.status) for r in result.results] == [("Job", "shop", "created")]
    assert [(c[0], c[1]) for c in client.calls] == [("create", "dry-run"), ("create", "")]


def test_creating_what_exists_is_refused_before_anything_changes() -> None:
    client = FakeClient(widget())
    script = 'obj.spec.size = 9\nreturn {{operation = "patch", resource = obj}, {operation = "create", resource = obj}}'
    with pytest.raises(ApplicationError, match="already exists") as info:
        run(activities(client, actions_yaml(script)), "go")
    assert info.value.type == "InvalidArgument" and client.calls == []


def test_an_untracked_resource_is_refused() -> None:
    obj = widget()
    del obj["metadata"]["annotations"]
    client = FakeClient(obj)
    with pytest.raises(ApplicationError, match="not tracked by application 'shop'") as info:
        run(activities(client, actions_yaml("return obj")), "go")
    assert info.value.type == "NotFound"


def test_a_lua_error_changes_nothing() -> None:
    client = FakeClient(widget())
    with pytest.raises(ApplicationError, match="go/action.lua") as info:
        run(activities(client, actions_yaml('error("no way")')), "go")
    assert info.value.type == "ScriptError" and "no way" in info.value.message and client.calls == []
