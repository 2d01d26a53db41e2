"""ClusterActivities under each tracking method: what is written, found for pruning, pruned.

The Kubernetes API is an in-memory double that honours label selectors (so a test sees
which listing the activity asked for); the activities run in Temporal's
``ActivityEnvironment``. The real API server is exercised by tests/e2e/test_argocd_migration.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cluster import ClusterActivities
from activities.contracts import ApplyInput, CompareInput, Destination, PruneInput
from activities.kube import KubeError
from activities.settings import SettingsReader
from activities.store import ContentStore
from bosun.resources import Manifest, ResourceKey
from bosun.settings import Settings
from bosun.tracking import ANNOTATION, LEGACY_ANNOTATION

DESTINATION = Destination(server="https://kubernetes.default.svc", namespace="shop")


def configmap(
    name: str, *, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> Manifest:
    metadata: dict[str, Any] = {"name": name, "namespace": "shop"}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


class FakeKube:
    """Just enough of KubeClient: objects by key; apply merges metadata maps as SSA would."""

    api_calls = 0
    live = None  # no watch cache: every read goes to the "server"

    def __init__(self, *objects: Manifest) -> None:
        self.objects = {ResourceKey.of(o): copy.deepcopy(o) for o in objects}
        self.selectors: list[str] = []
        self.deleted: list[str] = []

    def namespaced(self, api_version: str, kind: str) -> bool:
        return True

    def preferred_api_version(self, group: str, kind: str) -> str:
        return "v1"

    def get(self, obj: Manifest) -> Manifest | None:
        found = self.objects.get(ResourceKey.of(obj))
        return copy.deepcopy(found) if found else None

    def apply(self, obj: Manifest, *, dry_run: bool = False, force: bool = True, validate: bool = True) -> Manifest:
        result = copy.deepcopy(obj)
        if not dry_run:
            self.objects[ResourceKey.of(obj)] = result
        return copy.deepcopy(result)

    def list(
        self, api_version: str, kind: str, *, label_selector: str = "", namespace: str | None = None
    ) -> list[Manifest]:
        self.selectors.append(label_selector)
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        return [
            copy.deepcopy(o)
            for k, o in self.objects.items()
            if k.kind == kind and all((o["metadata"].get("labels") or {}).get(lk) == lv for lk, lv in wanted.items())
        ]

    def delete(self, obj: Manifest, *, propagation_policy: str = "Foreground") -> bool:
        self.deleted.append(obj["metadata"]["name"])
        return self.objects.pop(ResourceKey.of(obj), None) is not None


class FakeClusters:
    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube

    def client(self, destination: Destination) -> FakeKube:
        return self.kube

    def resolve(self, destination: Destination) -> Any:
        raise KubeError("no cluster metadata in this test", retryable=False)


def activities(
    tmp_path: Path, kube: FakeKube, tracking: tuple[str, str] | None = None
) -> tuple[ClusterActivities, str]:
    """The activities over ``kube``; ``tracking`` is (application.resourceTrackingMethod, instanceLabelKey)."""
    store = ContentStore(tmp_path / "store")
    digest = store.put_json(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"k": "v"}}]
    )
    settings = Settings() if tracking is None else Settings(tracking_method=tracking[0], instance_label_key=tracking[1])
    acts = ClusterActivities(
        clusters=FakeClusters(kube),
        store=store,  # type: ignore[arg-type]
        settings=SettingsReader.static(settings),
    )
    return acts, digest


def run_compare(acts: ClusterActivities, digest: str) -> dict[str, str]:
    result = ActivityEnvironment().run(
        acts.compare, CompareInput(app="web", manifests_digest=digest, destination=DESTINATION, prune=True)
    )
    return {r.key.name: ("prune" if r.requires_pruning else r.sync.value) for r in result.resources}


def test_default_method_is_argo_cd_3s_annotation(tmp_path: Path) -> None:
    kube = FakeKube(
        configmap("argo", annotations={ANNOTATION: "web:/ConfigMap:shop/argo"}),
        configmap(
            "old-bosun",
            annotations={LEGACY_ANNOTATION: "web:/ConfigMap:shop/old-bosun"},
            labels={"app.kubernetes.io/instance": "web"},
        ),
        configmap("labelled-only", labels={"app.kubernetes.io/instance": "web"}),
        configmap("theirs", annotations={ANNOTATION: "other:/ConfigMap:shop/theirs"}),
    )
    acts, digest = activities(tmp_path, kube)
    assert run_compare(acts, digest) == {"settings": "OutOfSync", "argo": "prune", "old-bosun": "prune"}
    assert kube.selectors == [""], "annotation methods list the kind and read each tracking id"

    ActivityEnvironment().run(
        acts.apply,
        ApplyInput(
            app="web",
            manifests_digest=digest,
            destination=DESTINATION,
            keys=[ResourceKey(kind="ConfigMap", namespace="shop", name="settings")],
        ),
    )
    written = kube.objects[ResourceKey(kind="ConfigMap", namespace="shop", name="settings")]["metadata"]
    assert written["annotations"] == {ANNOTATION: "web:/ConfigMap:shop/settings"}
    assert "labels" not in written

    keys = [ResourceKey(kind="ConfigMap", namespace="shop", name=n) for n in ("argo", "old-bosun", "theirs")]
    result = ActivityEnvironment().run(acts.prune, PruneInput(app="web", destination=DESTINATION, keys=keys))
    assert [r.status for r in result.results] == ["pruned", "pruned", "skipped"]
    assert kube.deleted == ["argo", "old-bosun"]


def test_label_method_selects_by_label_and_writes_only_the_label(tmp_path: Path) -> None:
    kube = FakeKube(
        configmap("labelled", labels={"app.kubernetes.io/instance": "web"}),
        configmap("argo", annotations={ANNOTATION: "web:/ConfigMap:shop/argo"}),
        configmap("theirs", labels={"app.kubernetes.io/instance": "other"}),
    )
    acts, digest = activities(tmp_path, kube, ("label", ""))
    assert run_compare(acts, digest) == {"settings": "OutOfSync", "labelled": "prune"}
    assert kube.selectors == ["app.kubernetes.io/instance=web"]

    ActivityEnvironment().run(
        acts.apply,
        ApplyInput(
            app="web",
            manifests_digest=digest,
            destination=DESTINATION,
            keys=[ResourceKey(kind="ConfigMap", namespace="shop", name="settings")],
        ),
    )
    written = kube.objects[ResourceKey(kind="ConfigMap", namespace="shop", name="settings")]["metadata"]
    assert written["labels"] == {"app.kubernetes.io/instance": "web"}
    assert "annotations" not in written

    keys = [ResourceKey(kind="ConfigMap", namespace="shop", name=n) for n in ("labelled", "argo")]
    result = ActivityEnvironment().run(acts.prune, PruneInput(app="web", destination=DESTINATION, keys=keys))
    assert [r.status for r in result.results] == ["pruned", "skipped"]


def test_legacy_tracking_of_the_same_app_is_no_difference(tmp_path: Path) -> None:
    kube = FakeKube(
        configmap(
            "settings",
            annotations={LEGACY_ANNOTATION: "web:/ConfigMap:shop/settings"},
            labels={"app.kubernetes.io/instance": "web"},
        )
    )
    acts, digest = activities(tmp_path, kube)
    assert run_compare(acts, digest) == {"settings": "Synced"}


def test_shared_resource_names_the_other_app(tmp_path: Path) -> None:
    kube = FakeKube(configmap("settings", annotations={ANNOTATION: "team-a_other:/ConfigMap:shop/settings"}))
    acts, digest = activities(tmp_path, kube)
    result = ActivityEnvironment().run(
        acts.apply,
        ApplyInput(
            app="web",
            manifests_digest=digest,
            destination=DESTINATION,
            sync_options={"FailOnSharedResource": "true"},
            keys=[ResourceKey(kind="ConfigMap", namespace="shop", name="settings")],
        ),
    )
    assert result.results[0].status == "failed"
    assert result.results[0].message == "shared resource: already managed by app team-a/other"


def test_a_bad_tracking_setting_fails_clearly(tmp_path: Path) -> None:
    acts, digest = activities(tmp_path, FakeKube(), ("labels", ""))
    with pytest.raises(ApplicationError, match="application.resourceTrackingMethod"):
        run_compare(acts, digest)
