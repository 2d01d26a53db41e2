"""Pure parts of the cluster activities: rows for live objects Git no longer holds, the
scope of a custom resource whose CRD comes in the same sync, and the order of applies."""

from __future__ import annotations

from typing import Any

import pytest

from activities.cluster import _extraneous_status, _kind_runs, _list_where_permitted, _namespaced, comparison_result
from activities.contracts import CompareInput, Destination, ResourceStatus
from activities.kube import KubeError, UnknownKind
from bosun.crds import DefinedKind
from bosun.manifests import set_default_namespace
from bosun.plan import TaskAction
from bosun.resources import HealthCode, ResourceKey, SyncCode
from bosun.tracking import apply_tracking

APP = "shop"


def finished_hook(**annotations: str) -> dict[str, Any]:
    """A PreSync Job created from ``generateName: migrate-`` by an earlier sync, completed."""
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate-7f3a9c", "namespace": "shop", "annotations": dict(annotations)},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }
    return apply_tracking(job, APP)


def configmap(name: str, **annotations: str) -> dict[str, Any]:
    return apply_tracking(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop", "annotations": dict(annotations)},
        },
        APP,
    )


@pytest.mark.parametrize(
    "annotations",
    [
        {"argocd.argoproj.io/hook": "PreSync"},
        {"argocd.argoproj.io/hook": "PostSync", "argocd.argoproj.io/hook-delete-policy": "HookFailed"},
        {"helm.sh/hook": "pre-install"},
    ],
)
def test_a_live_hook_is_never_out_of_sync_nor_to_prune(annotations: dict[str, str]) -> None:
    row = _extraneous_status(finished_hook(**annotations))
    assert row.hook and not row.requires_pruning
    assert row.sync is SyncCode.SYNCED
    assert row.health is HealthCode.HEALTHY


def test_a_live_object_git_no_longer_holds_requires_pruning() -> None:
    row = _extraneous_status(configmap("old"))
    assert row.requires_pruning and not row.hook
    assert row.sync is SyncCode.OUT_OF_SYNC
    assert row.message == "no longer in Git: requires pruning"
    ignored = _extraneous_status(configmap("old", **{"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}))
    assert ignored.requires_pruning and ignored.sync is SyncCode.SYNCED


def test_an_extraneous_object_with_an_invalid_compare_options_annotation_says_why() -> None:
    row = _extraneous_status(configmap("old", **{"argocd.argoproj.io/compare-options": "IgnoreExtraneus"}))
    assert row.requires_pruning and row.sync is SyncCode.OUT_OF_SYNC
    assert row.message.startswith("no longer in Git: requires pruning; ConfigMap")
    assert "annotation argocd.argoproj.io/compare-options: 'IgnoreExtraneus': unknown compare option" in row.message


def test_an_app_whose_only_extra_live_object_is_a_finished_hook_is_synced_and_prunes_nothing() -> None:
    desired = [configmap("settings")]
    hook, old = finished_hook(**{"argocd.argoproj.io/hook": "PreSync"}), configmap("old")
    input = CompareInput(app=APP, manifests_digest="d", destination=Destination(namespace="shop"), prune=True)
    synced_row = ResourceStatus(key=ResourceKey.of(desired[0]), api_version="v1", sync=SyncCode.SYNCED)

    result = comparison_result(input, desired, [hook], [synced_row, _extraneous_status(hook)], diff_digest="x")
    assert result.sync is SyncCode.SYNCED
    prunes = [t.key.name for w in result.plan.waves for t in w.tasks if t.action is TaskAction.PRUNE]
    assert prunes == []

    result = comparison_result(
        input, desired, [hook, old], [synced_row, _extraneous_status(hook), _extraneous_status(old)], diff_digest="x"
    )
    assert result.sync is SyncCode.OUT_OF_SYNC
    prunes = [t.key.name for w in result.plan.waves for t in w.tasks if t.action is TaskAction.PRUNE]
    assert prunes == ["old"]


class Discovery:
    """Serves the kinds it is given (kind → namespaced); any other kind is unknown."""

    def __init__(self, served: dict[str, bool]) -> None:
        self.served = served

    def namespaced(self, api_version: str, kind: str) -> bool:
        if kind not in self.served:
            raise UnknownKind(api_version, kind)
        return self.served[kind]


def test_a_custom_resource_whose_crd_comes_in_the_same_sync_is_scoped_as_that_crd_says() -> None:
    crd_kinds = {
        ("example.com", "Widget"): DefinedKind("example.com", "Widget", namespaced=True),
        ("example.com", "Gizmo"): DefinedKind("example.com", "Gizmo", namespaced=False),
    }
    client: Any = Discovery({"ConfigMap": True})
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g", "namespace": "shop"}}
    assert _namespaced(client, widget, crd_kinds) is True
    assert _namespaced(client, gizmo, crd_kinds) is False
    assert "namespace" not in set_default_namespace(gizmo, "shop", namespaced=False)["metadata"]
    with pytest.raises(UnknownKind):
        _namespaced(client, {"apiVersion": "other.io/v1", "kind": "Thing", "metadata": {"name": "t"}}, crd_kinds)
    # once served, the cluster's answer is used
    assert _namespaced(Discovery({"Widget": False}), widget, crd_kinds) is False  # type: ignore[arg-type]


def test_applies_run_kind_after_kind_in_plan_order() -> None:
    def key(kind: str, name: str, group: str = "") -> ResourceKey:
        return ResourceKey(group=group, kind=kind, name=name)

    keys = [
        key("Namespace", "a"),
        key("CustomResourceDefinition", "w", "apiextensions.k8s.io"),
        key("CustomResourceDefinition", "g", "apiextensions.k8s.io"),
        key("Widget", "one", "example.com"),
        key("Widget", "two", "example.com"),
        key("Gizmo", "x", "example.com"),
    ]
    assert [[k.name for k in run] for run in _kind_runs(keys)] == [["a"], ["w", "g"], ["one", "two"], ["x"]]
    assert _kind_runs([]) == []


class NamespacedInstall:
    """A client whose credentials may list only in ``permitted`` namespaces (Roles, no ClusterRole)."""

    def __init__(self, permitted: set[str]) -> None:
        self.permitted = permitted
        self.listed: list[str | None] = []

    def namespaced(self, api_version: str, kind: str) -> bool:
        return kind != "Namespace"

    def list(self, api_version: str, kind: str, *, label_selector: str = "", namespace: str | None = None) -> Any:
        self.listed.append(namespace)
        if namespace not in self.permitted:
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            raise KubeError(f"list {kind}: cannot list resource {where}", retryable=False, status=403)
        return [configmap(f"in-{namespace}")]


def test_a_namespaced_install_lists_in_the_apps_namespaces_and_is_refused_naming_one() -> None:
    desired = [configmap("a"), {**configmap("b"), "metadata": {"name": "b", "namespace": "web"}}]
    client: Any = NamespacedInstall({"shop", "web"})
    found = _list_where_permitted(client, "v1", "ConfigMap", "", desired, Destination(name="x", namespace="shop"))
    assert [o["metadata"]["name"] for o in found] == ["in-shop", "in-web"]
    assert client.listed == [None, "shop", "web"]

    refused: Any = NamespacedInstall({"shop"})
    with pytest.raises(KubeError, match='in the namespace "web"'):
        _list_where_permitted(refused, "v1", "ConfigMap", "", desired, Destination(name="x", namespace="shop"))
    with pytest.raises(KubeError, match="at the cluster scope"):
        _list_where_permitted(refused, "v1", "Namespace", "", [], Destination(name="x", namespace="shop"))
