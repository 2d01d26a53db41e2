"""plan_changes: Argo CD's applicationsSync table and the fields it keeps from live Applications."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.appset.changes import plan_changes
from bosun.appset.spec import parse_applicationset
from tests.unit.appset_support import appset


def app(name: str, path: str = "a", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", **metadata},
        "spec": {"source": {"path": path}},
    }


def live(name: str, path: str = "a", **metadata: Any) -> dict[str, Any]:
    result = app(name, path, **metadata)
    result["metadata"]["resourceVersion"] = "7"
    result["metadata"]["ownerReferences"] = [{"kind": "ApplicationSet", "name": "set", "uid": "uid-1"}]
    result["status"] = {"sync": {"status": "Synced"}}
    return result


def policy(name: str | None, **spec: Any) -> Any:
    sync = {"applicationsSync": name} if name else {}
    return parse_applicationset(appset({"generators": [{"list": {"elements": []}}], "syncPolicy": sync, **spec}))


@pytest.mark.parametrize(
    ("name", "updated", "deleted"),
    [
        (None, ["changed"], ["gone"]),
        ("sync", ["changed"], ["gone"]),
        ("create-update", ["changed"], []),
        ("create-delete", [], ["gone"]),
        ("create-only", [], []),
    ],
)
def test_policy_table(name: str | None, updated: list[str], deleted: list[str]) -> None:
    desired = [app("new"), app("changed", "b"), app("same")]
    existing = [live("changed", "a"), live("same"), live("gone")]
    changes = plan_changes(policy(name), desired, existing)
    assert [a["metadata"]["name"] for a in changes.create] == ["new"]
    assert [a["metadata"]["name"] for a in changes.update] == updated
    assert changes.delete == deleted


def test_update_keeps_live_status_and_owner_and_takes_generated_spec() -> None:
    changes = plan_changes(policy(None), [app("x", "new")], [live("x", "old")])
    [updated] = changes.update
    assert updated["spec"] == {"source": {"path": "new"}}
    assert updated["status"] == {"sync": {"status": "Synced"}}
    assert updated["metadata"]["resourceVersion"] == "7"
    assert updated["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_preserved_annotations_labels_and_finalizers() -> None:
    # Argo CD keeps its refresh/notification annotations, spec.preservedFields, pre/post-delete finalizers
    generated = app("x", annotations={"mine": "generated"}, labels={"team": "a"}, finalizers=["f"])
    current = live(
        "x",
        annotations={
            "argocd.argoproj.io/refresh": "hard",
            "notified.notifications.argoproj.io": "{}",
            "my-annotation": "kept",
            "other": "dropped",
        },
        labels={"my-label": "kept", "stale": "dropped"},
        finalizers=["pre-delete-finalizer.argocd.argoproj.io/cleanup", "f"],
    )
    spec = {"preservedFields": {"annotations": ["my-annotation"], "labels": ["my-label"]}}
    [updated] = plan_changes(policy(None, **spec), [generated], [current]).update
    assert updated["metadata"]["annotations"] == {
        "mine": "generated",
        "argocd.argoproj.io/refresh": "hard",
        "notified.notifications.argoproj.io": "{}",
        "my-annotation": "kept",
    }
    assert updated["metadata"]["labels"] == {"team": "a", "my-label": "kept"}
    assert updated["metadata"]["finalizers"] == ["f", "pre-delete-finalizer.argocd.argoproj.io/cleanup"]


def test_no_update_when_only_preserved_fields_differ() -> None:
    current = live("x", annotations={"argocd.argoproj.io/refresh": "normal"})
    changes = plan_changes(policy(None), [app("x")], [current])
    assert changes.update == []
    assert changes.unchanged == ("x",)


def test_ignore_application_differences_keeps_live_fields() -> None:
    # ApplicationSet docs (Ignoring certain changes to Applications): targetRevision set by hand stays
    spec = {
        "ignoreApplicationDifferences": [
            {"jsonPointers": ["/spec/source/targetRevision"]},
            {"name": "other", "jsonPointers": ["/spec/source/path"]},
        ]
    }
    generated = app("x", "new")
    generated["spec"]["source"]["targetRevision"] = "main"
    current = live("x", "old")
    current["spec"]["source"]["targetRevision"] = "hotfix"
    [updated] = plan_changes(policy(None, **spec), [generated], [current]).update
    assert updated["spec"]["source"] == {"path": "new", "targetRevision": "hotfix"}
    # only the ignored field differs: no update
    generated_same = app("x", "old")
    assert plan_changes(policy(None, **spec), [generated_same], [current]).update == []
