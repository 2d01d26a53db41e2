"""Moving an app from Argo CD to Bosun (issue 11): its resources are adopted, not re-created.

The cluster starts as Argo CD 3 leaves it: objects applied client-side (kubectl's
``last-applied-configuration``) by the ``argocd-controller`` field manager, each carrying
``argocd.argoproj.io/tracking-id`` for the app and no instance label. A Bosun app of the
same name then takes over.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, service, wait_status

TRACKING = "argocd.argoproj.io/tracking-id"
LEGACY = "bosun.dev/tracking-id"


def tracked(
    document: str, annotations: dict[str, str], namespace: str = "", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(document)  # JSON or YAML
    metadata = obj["metadata"]
    metadata.setdefault("annotations", {}).update(annotations)
    if labels:
        metadata.setdefault("labels", {}).update(labels)
    if namespace:
        metadata["namespace"] = namespace
    return obj


def cluster_role(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        }
    )


def apply_as_argo_cd(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    """``kubectl apply`` (client-side, as Argo CD syncs by default) under Argo CD's field manager."""
    kubectl(
        cluster,
        "apply",
        "--field-manager=argocd-controller",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )


def uid(cluster: Cluster, ns: str, kind: str, name: str) -> str:
    obj = live(cluster, ns, kind, name)
    assert obj is not None, f"{kind}/{name} in {ns} is missing"
    return str(obj["metadata"]["uid"])


def test_app_deployed_by_argo_cd_is_adopted_and_pruned_by_bosun(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Any
) -> None:
    app, ns, role = unique("shop"), unique("ns"), unique("reader")
    files: dict[str, str | None] = {
        "web.yaml": deployment("web", replicas=2),
        "svc.yaml": service("web"),
        "settings.json": configmap("settings", {"mode": "fast"}),
        "role.json": cluster_role(role),
    }
    repo = GitRepo.create(tmp_path / "repo", files)

    def argo_id(group: str, kind: str, name: str, owner: str = app) -> dict[str, str]:
        # Argo CD records the destination namespace for a cluster-scoped object too.
        return {TRACKING: f"{owner}:{group}/{kind}:{ns}/{name}"}

    kubectl(devcluster_a, "create", "namespace", ns)
    apply_as_argo_cd(
        devcluster_a,
        [
            tracked(files["web.yaml"] or "", argo_id("apps", "Deployment", "web"), ns),
            tracked(files["svc.yaml"] or "", argo_id("", "Service", "web"), ns),
            tracked(files["settings.json"] or "", argo_id("", "ConfigMap", "settings"), ns),
            tracked(files["role.json"] or "", argo_id("rbac.authorization.k8s.io", "ClusterRole", role)),
            # Argo CD deployed it, Git no longer holds it: Bosun prunes it.
            tracked(configmap("retired", {"old": "yes"}), argo_id("", "ConfigMap", "retired"), ns),
            # Another Argo CD app's object in the same namespace, and an object carrying a
            # tracking id copied from this app's ConfigMap: neither is this app's.
            tracked(configmap("theirs", {}), argo_id("", "ConfigMap", "theirs", owner="other-app"), ns),
            tracked(configmap("copy", {}), argo_id("", "ConfigMap", "settings"), ns),
        ],
    )
    eventually(
        lambda: (live(devcluster_a, ns, "deployment", "web") or {}).get("status", {}).get("readyReplicas") == 2,
        timeout=90,
        what="Argo CD's Deployment rolled out",
    )
    adopted = {
        (kind, name): uid(devcluster_a, ns, kind, name)
        for kind, name in [("deployment", "web"), ("service", "web"), ("configmap", "settings")]
    }
    role_uid = kubectl(devcluster_a, "get", "clusterrole", role, "-o", "jsonpath={.metadata.uid}")

    bosun.create_app(app, repo, namespace=ns, prune=True)

    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=180)
    assert live(devcluster_a, ns, "configmap", "retired") is None, "what Git no longer holds is pruned"
    for (kind, name), before in adopted.items():
        assert uid(devcluster_a, ns, kind, name) == before, f"{kind}/{name} was re-created"
    assert kubectl(devcluster_a, "get", "clusterrole", role, "-o", "jsonpath={.metadata.uid}") == role_uid
    assert live(devcluster_a, ns, "configmap", "theirs") is not None, "another app's object is left alone"
    assert live(devcluster_a, ns, "configmap", "copy") is not None, "a copied tracking id is not ownership"
    rows = {(r["key"]["kind"], r["key"]["name"]) for r in status["resources"]}
    assert rows == {("Deployment", "web"), ("Service", "web"), ("ConfigMap", "settings"), ("ClusterRole", role)}

    web = live(devcluster_a, ns, "deployment", "web")
    assert web is not None
    assert web["metadata"]["annotations"][TRACKING] == f"{app}:apps/Deployment:{ns}/web"
    assert "app.kubernetes.io/instance" not in web["metadata"].get("labels", {})
    assert bosun.cli("app", "diff", app, check=False).returncode == 0, "nothing left to change"


def test_objects_of_an_older_bosun_are_still_recognised(bosun: Bosun, devcluster_a: Cluster, tmp_path: Any) -> None:
    """Bosun before Argo CD's scheme wrote ``bosun.dev/tracking-id`` and the instance label."""
    app, ns = unique("old"), unique("ns")
    files: dict[str, str | None] = {"settings.json": configmap("settings", {"mode": "fast"})}
    repo = GitRepo.create(tmp_path / "repo", files)

    def legacy(name: str) -> dict[str, str]:
        return {LEGACY: f"{app}:/ConfigMap:{ns}/{name}"}

    kubectl(devcluster_a, "create", "namespace", ns)
    label = {"app.kubernetes.io/instance": app}
    for obj in (
        tracked(files["settings.json"] or "", legacy("settings"), ns, label),
        tracked(configmap("retired", {}), legacy("retired"), ns, label),
    ):
        kubectl(devcluster_a, "apply", "--server-side", "--field-manager=bosun", "-f", "-", input=json.dumps(obj))
    before = uid(devcluster_a, ns, "configmap", "settings")

    bosun.create_app(app, repo, namespace=ns, prune=True)

    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=180)
    eventually(
        lambda: live(devcluster_a, ns, "configmap", "retired") is None,
        timeout=60,
        what="the old Bosun's object that Git no longer holds pruned",
    )
    assert uid(devcluster_a, ns, "configmap", "settings") == before
    settings = live(devcluster_a, ns, "configmap", "settings")
    assert settings is not None
    assert settings["metadata"]["annotations"][TRACKING] == f"{app}:/ConfigMap:{ns}/settings", (
        "the sync that pruned also rewrote the tracking in Argo CD's scheme"
    )
    assert LEGACY not in settings["metadata"]["annotations"]
    assert "app.kubernetes.io/instance" not in settings["metadata"].get("labels", {})
