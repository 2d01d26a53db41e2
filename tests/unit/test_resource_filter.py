"""``--resource`` selectors (Argo CD's GROUP:KIND:NAME syntax) and the partial sync plan."""

from __future__ import annotations

import pytest

from bosun.plan import TaskAction, build_plan, only_resources
from bosun.resource_filter import SelectorError, SyncResource, parse_selector, select_keys
from bosun.resources import ResourceKey

WEB = ResourceKey(group="apps", kind="Deployment", namespace="shop", name="web")
WEB_OTHER_NS = ResourceKey(group="apps", kind="Deployment", namespace="staging", name="web")
SVC = ResourceKey(kind="Service", namespace="shop", name="web")
CM = ResourceKey(kind="ConfigMap", namespace="shop", name="settings")
ROLE = ResourceKey(group="rbac.authorization.k8s.io", kind="ClusterRole", name="reader")
ALL = [WEB, WEB_OTHER_NS, SVC, CM, ROLE]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ([":Service:web"], [SVC]),
        (["apps:Deployment:web"], [WEB, WEB_OTHER_NS]),  # no namespace: every namespace
        (["apps:Deployment:staging/web"], [WEB_OTHER_NS]),
        (["rbac.authorization.k8s.io:ClusterRole:reader"], [ROLE]),
        (["*:*:web"], [WEB, WEB_OTHER_NS, SVC]),
        (["!*:Service:*"], [WEB, WEB_OTHER_NS, CM, ROLE]),  # only exclusions: everything else
        (["apps:Deployment:web", ":Service:web", "!apps:Deployment:staging/web"], [WEB, SVC]),
        ([":Service:web", ":Service:web"], [SVC]),
        ([":Secret:web"], []),
    ],
)
def test_selectors_choose_resources_as_argocd_does(patterns: list[str], expected: list[ResourceKey]) -> None:
    assert select_keys(ALL, patterns) == expected


@pytest.mark.parametrize("text", ["Service:web", "apps:Deployment:web:x", "::web", ":Service:", "a:B:c/d/e"])
def test_a_malformed_selector_is_refused_quoting_it(text: str) -> None:
    with pytest.raises(SelectorError, match="--resource"):
        parse_selector(text)


def test_a_sync_resource_without_namespace_matches_any_namespace() -> None:
    assert SyncResource(group="apps", kind="Deployment", name="web").has_identity(WEB_OTHER_NS)
    assert not SyncResource.of(WEB).has_identity(WEB_OTHER_NS)
    assert SyncResource.of(ROLE).has_identity(ROLE)


def _obj(kind: str, name: str, *, api: str = "v1", annotations: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
    }


def test_partial_plan_keeps_selected_applies_and_prunes_and_runs_no_hooks() -> None:
    desired = [
        _obj("Deployment", "web", api="apps/v1"),
        _obj("Service", "web"),
        _obj("Job", "migrate", api="batch/v1", annotations={"argocd.argoproj.io/hook": "PreSync"}),
        _obj("Job", "notify", api="batch/v1", annotations={"argocd.argoproj.io/hook": "SyncFail"}),
    ]
    old = _obj("ConfigMap", "old")
    older = _obj("ConfigMap", "older")
    plan = build_plan(desired, [old, older], prune=True, app_sync_options={})
    chosen = {
        WEB,
        ResourceKey(kind="ConfigMap", namespace="shop", name="old"),
        ResourceKey(group="batch", kind="Job", namespace="shop", name="migrate"),
    }

    partial = only_resources(plan, lambda key: key in chosen)

    assert [(t.action, t.key.name) for t in partial.tasks] == [(TaskAction.PRUNE, "old"), (TaskAction.APPLY, "web")]
    assert partial.sync_fail_hooks == []
    assert all(w.tasks for w in partial.waves)  # the PreSync wave, now empty, is gone
