"""Regression tests for the three sync bugs of issue 11, on the real stack.

1. CRDs and their custom resources in one app: the first sync creates the CRDs, waits
   until the cluster serves their kinds, then creates the custom resources (namespaced in
   the app's namespace, namespaced elsewhere, cluster-scoped) in the same operation.
2. A CRD deleted from the cluster with kubectl: the app is OutOfSync (CRD and custom
   resource Missing), not in ComparisonError, and a sync creates both again.
3. A finished PreSync hook made from ``generateName`` (argocd-example-apps' sync-waves):
   a hook, governed by its delete policy, never "requires pruning"; the app stays Synced.

CRDs are cluster-wide and outlive a test, so each test defines kinds in a group of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bosun.tracking import is_tracked_by
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl, kubectl_json
from tests.e2e.test_app_lifecycle import configmap, wait_status
from tests.e2e.test_sync_operations import last_operation


def crd(group: str, kind: str, *, scope: str = "Namespaced") -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                        }
                    },
                }
            ],
        },
    }


def custom(group: str, kind: str, name: str, *, namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": metadata, "spec": spec}


def documents(*objects: dict[str, Any]) -> str:
    return "\n---\n".join(json.dumps(o) for o in objects) + "\n"


def group_of_this_test() -> str:
    return f"t{uuid.uuid4().hex[:8]}.bosun.example.com"


def custom_object(cluster: Cluster, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    where = ["-n", namespace] if namespace else []
    out = kubectl(cluster, *where, "get", resource, name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def rows(status: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["key"]["kind"], r["key"]["name"]): r for r in status["resources"]}


def condition_types(status: dict[str, Any]) -> list[str]:
    return [c["type"] for c in status.get("conditions") or []]


def test_crds_and_their_custom_resources_are_created_in_one_first_sync(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    group = group_of_this_test()
    app, ns, other = unique("crds"), unique("ns"), unique("other")
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "crds.yaml": documents(crd(group, "Widget"), crd(group, "Gizmo", scope="Cluster")),
            "other-namespace.json": json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}}),
            "instances.yaml": documents(
                custom(group, "Widget", "home", size=1),  # in the app's namespace
                custom(group, "Widget", "away", namespace=other, size=2),  # in another namespace
                custom(group, "Gizmo", f"{app}-global", colour="blue"),  # cluster-scoped
            ),
        },
    )
    bosun.create_app(app, repo, namespace=ns, automated=False)

    # Before any sync: the kinds do not exist yet, and that is "Missing", not an error.
    status = wait_status(bosun, app, sync="OutOfSync")
    assert "ComparisonError" not in condition_types(status)
    found = rows(status)
    for name in ("home", "away"):
        assert found[("Widget", name)]["sync"] == "OutOfSync" and found[("Widget", name)]["health"] == "Missing"
    gizmo = found[("Gizmo", f"{app}-global")]
    assert gizmo["health"] == "Missing" and gizmo["key"]["namespace"] == ""
    assert found[("Widget", "away")]["key"]["namespace"] == other

    # A dry run cannot validate objects of kinds that do not exist yet: it skips them.
    dry = bosun.cli("app", "sync", app, "--dry-run", "-o", "json", check=False)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    results = {r["key"]["name"]: r["status"] for r in json.loads(dry.stdout)["resources"]}
    assert results[f"widgets.{group}"] == results[f"gizmos.{group}"] == "created (dry run)"
    assert results["home"] == results["away"] == results[f"{app}-global"] == "skipped (dry run)"
    assert kubectl(devcluster_a, "get", "crd", f"widgets.{group}", "--ignore-not-found").strip() == ""

    synced = bosun.cli("app", "sync", app, check=False, timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    op = last_operation(bosun, app)
    assert op["phase"] == "Succeeded", op["message"]
    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    assert "ComparisonError" not in condition_types(status)

    home = custom_object(devcluster_a, f"widgets.{group}", "home", ns)
    away = custom_object(devcluster_a, f"widgets.{group}", "away", other)
    global_ = custom_object(devcluster_a, f"gizmos.{group}", f"{app}-global")
    assert home and home["spec"] == {"size": 1}
    assert away and away["spec"] == {"size": 2}
    assert global_ and global_["spec"] == {"colour": "blue"} and "namespace" not in global_["metadata"]
    assert is_tracked_by(global_, app)  # Argo CD's tracking id, checked against the object's own key


def test_a_crd_deleted_with_kubectl_makes_the_app_out_of_sync_and_a_sync_creates_it_again(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    group = group_of_this_test()
    app, ns = unique("crdgone"), unique("ns")
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "crd.json": json.dumps(crd(group, "Widget")),
            "widget.json": json.dumps(custom(group, "Widget", "w", size=3)),
            "settings.json": configmap("settings", {"mode": "fast"}),
        },
    )
    bosun.create_app(app, repo, namespace=ns)  # automated, without self-heal: the drift stays visible
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    first_uid = kubectl_json(devcluster_a, "get", "crd", f"widgets.{group}")["metadata"]["uid"]
    # The worker's discovery knows the kind now; deleting the CRD (its Widgets go with it)
    # leaves that knowledge stale.
    kubectl(devcluster_a, "delete", "crd", f"widgets.{group}", "--wait=true")

    def missing() -> dict[str, Any] | None:
        status = bosun.status(app)
        found = rows(status)
        gone = [found[("CustomResourceDefinition", f"widgets.{group}")]["health"], found[("Widget", "w")]["health"]]
        return status if status["sync"] == "OutOfSync" and gone == ["Missing", "Missing"] else None

    status = eventually(missing, timeout=60, what="CRD and Widget Missing")
    assert "ComparisonError" not in condition_types(status)
    assert rows(status)[("ConfigMap", "settings")]["sync"] == "Synced"

    synced = bosun.cli("app", "sync", app, check=False, timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    assert "ComparisonError" not in condition_types(status)
    assert kubectl_json(devcluster_a, "get", "crd", f"widgets.{group}")["metadata"]["uid"] != first_uid
    widget = custom_object(devcluster_a, f"widgets.{group}", "w", ns)
    assert widget and widget["spec"] == {"size": 3}


def test_a_finished_generate_name_hook_keeps_the_app_synced(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    # As argocd-example-apps' sync-waves: a PreSync Job named by generateName, no delete policy.
    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "upgrade-sql-schema-", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"devcluster.bosun.dev/run-ms": "1000"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "alpine:latest"}]},
            },
        },
    }
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "upgrade-sql-schema.json": json.dumps(hook),
            "settings.json": configmap("settings", {"mode": "fast"}),
        },
    )
    app, ns = unique("genhook"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    op = last_operation(bosun, app)
    assert op["phase"] == "Succeeded", op["message"]
    jobs = kubectl_json(devcluster_a, "-n", ns, "get", "jobs")["items"]
    assert [j["metadata"]["name"].startswith("upgrade-sql-schema-") for j in jobs] == [True]
    assert jobs[0]["status"].get("succeeded") == 1  # kept: BeforeHookCreation deletes it only before the next run

    # Compares after the sync see the finished hook: a hook row, never "requires pruning".
    finished = datetime.fromisoformat(op["finished_at"])

    def compared_after_the_sync() -> dict[str, Any] | None:
        status = bosun.status(app)
        at = status.get("reconciled_at")
        return status if at and datetime.fromisoformat(at) > finished and status["operation"] == "idle" else None

    for _ in range(3):  # several refreshes (every 3 s): the app stays Synced
        status = eventually(compared_after_the_sync, timeout=60, what="a compare after the sync")
        assert status["sync"] == "Synced", [r for r in status["resources"] if r["sync"] != "Synced"]
        job_row = rows(status)[("Job", jobs[0]["metadata"]["name"])]
        assert job_row["hook"] and not job_row["requires_pruning"]
        finished = datetime.fromisoformat(status["reconciled_at"])
        time.sleep(1)
    history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
    assert len(history) == 1  # nothing made it sync again
