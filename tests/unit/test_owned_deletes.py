"""Bosun deletes only what the app tracks (issue #16, finding 5): Replace=true,Force=true and a
hook's BeforeHookCreation delete a same-named live object first — never one of another app or
of nobody; the resource fails with the reason instead, and the object stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.contracts import ApplyInput
from bosun.resources import Manifest, ResourceKey
from bosun.tracking import ANNOTATION
from tests.unit.test_cluster_tracking import DESTINATION, FakeKube, activities, configmap


class ReplacingKube(FakeKube):
    def replace(self, obj: Manifest, *, dry_run: bool = False) -> Manifest:
        return self.apply(obj, dry_run=dry_run)


SETTINGS = ResourceKey(group="", kind="ConfigMap", namespace="shop", name="settings")


def desired(annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "annotations": annotations},
        "data": {"k": "new"},
    }


def apply(tmp_path: Path, kube: FakeKube, obj: Manifest) -> tuple[str, str]:
    acts, _ = activities(tmp_path, kube)
    digest = acts._store.put_json([obj])
    result = ActivityEnvironment().run(
        acts.apply,
        ApplyInput(
            app="web", manifests_digest=digest, destination=DESTINATION, keys=[SETTINGS], operation="app:web:sync:1#1"
        ),
    )
    (row,) = result.results
    return str(row.status), row.message


@pytest.mark.parametrize(
    ("owner", "deleted"),
    [("web", True), ("other", False), (None, False)],
    ids=["this app's", "another app's", "nobody's"],
)
def test_replace_force_deletes_only_an_object_the_app_tracks(tmp_path: Path, owner: str | None, deleted: bool) -> None:
    annotations = {ANNOTATION: f"{owner}:/ConfigMap:shop/settings"} if owner else None
    kube = ReplacingKube(configmap("settings", annotations=annotations))
    status, message = apply(tmp_path, kube, desired({"argocd.argoproj.io/sync-options": "Replace=true,Force=true"}))
    if deleted:
        assert (status, kube.deleted) == ("configured", ["settings"])
    else:
        assert status == "failed" and kube.deleted == []
        assert "not deleted to replace it (Replace=true,Force=true)" in message
        assert "not tracked by this app" in message


def test_before_hook_creation_never_deletes_a_same_named_object_of_someone_else(tmp_path: Path) -> None:
    kube = FakeKube(configmap("settings", annotations={ANNOTATION: "other:/ConfigMap:shop/settings"}))
    status, message = apply(tmp_path, kube, desired({"argocd.argoproj.io/hook": "PreSync"}))
    assert status == "failed" and kube.deleted == []
    assert "not deleted to create the hook again (BeforeHookCreation)" in message
    assert kube.objects[SETTINGS]["data"] == {"k": "v"}  # left as it was


def test_before_hook_creation_replaces_the_apps_own_hook_of_an_earlier_operation(tmp_path: Path) -> None:
    kube = FakeKube(configmap("settings", annotations={ANNOTATION: "web:/ConfigMap:shop/settings"}))
    status, _ = apply(tmp_path, kube, desired({"argocd.argoproj.io/hook": "PreSync"}))
    assert (status, kube.deleted) == ("created", ["settings"])
