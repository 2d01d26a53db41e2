"""Declarative Applications and app-of-apps (issue 7): Application resources in the
management cluster get workflows that follow them; an app whose Git path holds
Application manifests brings up its children; the resources-finalizer cascades deletion."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

CONTROL_NAMESPACE = "bosun"
FINALIZER = "resources-finalizer.argocd.argoproj.io"


def application(
    name: str, repo: GitRepo, path: str, namespace: str, *, finalizer: bool = False, namespaced: bool = True
) -> dict[str, Any]:
    """An Application as an Argo CD user writes it."""
    metadata: dict[str, Any] = {"name": name}
    if namespaced:
        metadata["namespace"] = CONTROL_NAMESPACE
    if finalizer:
        metadata["finalizers"] = [FINALIZER]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "path": path, "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def resource(cluster: Cluster, name: str) -> dict[str, Any] | None:
    return live(cluster, CONTROL_NAMESPACE, "applications.argoproj.io", name)


def resource_status(cluster: Cluster, name: str) -> tuple[str, str]:
    status = (resource(cluster, name) or {}).get("status") or {}
    return (status.get("sync") or {}).get("status", ""), (status.get("health") or {}).get("status", "")


def workflow_status(bosun: Bosun, app: str) -> WorkflowExecutionStatus | None:
    async def describe() -> WorkflowExecutionStatus | None:
        client = await Client.connect(bosun.temporal.address)
        try:
            return (await client.get_workflow_handle(f"app:{app}").describe()).status
        except RPCError:
            return None

    return asyncio.run(describe())


def ended(bosun: Bosun, app: str) -> bool:
    return workflow_status(bosun, app) not in (WorkflowExecutionStatus.RUNNING, None)


def test_declared_application_is_followed_from_creation_to_deletion(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "one/cm.json": configmap("first", {"a": "b"}),
            "two/cm.json": configmap("second", {"c": "d"}),
        },
    )
    app, ns = unique("declared"), unique("ns")
    kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(application(app, repo, "one", ns)))
    eventually(
        lambda: workflow_status(bosun, app) is WorkflowExecutionStatus.RUNNING,
        timeout=30,
        what="a workflow for the Application",
    )
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=90)
    assert live(devcluster_a, ns, "configmap", "first") is not None
    # Status is written back to the resource in Argo CD's shape.
    eventually(
        lambda: resource_status(devcluster_a, app) == ("Synced", "Healthy"),
        timeout=30,
        what="status on the Application resource",
    )
    status = resource(devcluster_a, app)["status"]  # type: ignore[index]
    assert status["sync"]["revision"] == repo.git("rev-parse", "HEAD")
    assert {(r["kind"], r["name"]) for r in status["resources"]} == {("ConfigMap", "first")}
    table = kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "get", "application", app)  # the CRD's columns
    assert "SYNC STATUS" in table and "HEALTH STATUS" in table and "Synced" in table and "Healthy" in table

    # A change to the resource reaches the workflow: the new path is deployed, the old pruned.
    kubectl(
        devcluster_a,
        "-n",
        CONTROL_NAMESPACE,
        "patch",
        "application",
        app,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"source": {"path": "two"}}}),
    )
    eventually(lambda: live(devcluster_a, ns, "configmap", "second") is not None, timeout=60, what="second deployed")
    eventually(lambda: live(devcluster_a, ns, "configmap", "first") is None, timeout=60, what="first pruned")
    assert bosun.status(app)["path"] == "two"

    # Argo CD's refresh annotation is honoured and removed.
    kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "annotate", "application", app, "argocd.argoproj.io/refresh=hard")
    eventually(
        lambda: (
            "argocd.argoproj.io/refresh"
            not in ((resource(devcluster_a, app) or {}).get("metadata", {}).get("annotations") or {})
        ),
        timeout=30,
        what="refresh annotation removed",
    )

    # Argo CD's operation field (what `argocd app sync` sets) runs a sync and is cleared.
    kubectl(
        devcluster_a,
        "-n",
        CONTROL_NAMESPACE,
        "patch",
        "application",
        app,
        "--type=merge",
        "-p",
        json.dumps(
            {"operation": {"initiatedBy": {"username": "release-bot"}, "sync": {"revision": "HEAD", "prune": True}}}
        ),
    )

    def operation_synced() -> bool:
        history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
        return any(h["trigger"] == "operation.sync by release-bot" and h["phase"] == "Succeeded" for h in history)

    eventually(operation_synced, timeout=60, what="the operation's sync in the app's history")
    assert "operation" not in (resource(devcluster_a, app) or {})

    # An invalid spec is refused with the field named, and the running workflow keeps its spec.
    kubectl(
        devcluster_a,
        "-n",
        CONTROL_NAMESPACE,
        "patch",
        "application",
        app,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"syncPolicy": {"retry": {"limit": "many"}}}}),
    )

    def invalid() -> str:
        conditions = ((resource(devcluster_a, app) or {}).get("status") or {}).get("conditions") or []
        return next((c["message"] for c in conditions if c["type"] == "InvalidSpecError"), "")

    assert "retry" in eventually(invalid, timeout=30, what="InvalidSpecError on the resource")
    kubectl(
        devcluster_a,
        "-n",
        CONTROL_NAMESPACE,
        "patch",
        "application",
        app,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/spec/syncPolicy/retry"}]),
    )

    # Deleted without the finalizer: the workflow ends, the resources stay.
    kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "delete", "application", app)
    eventually(lambda: ended(bosun, app), timeout=30, what="workflow ended")
    assert live(devcluster_a, ns, "configmap", "second") is not None


def test_app_of_apps_brings_up_three_children_and_cascades_deletion(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    children = [unique(f"child{i}") for i in (1, 2, 3)]
    namespaces = [unique(f"team{i}") for i in (1, 2, 3)]
    repo = GitRepo.create(tmp_path / "repo", {})
    files: dict[str, str | None] = {}
    for i, (child, ns) in enumerate(zip(children, namespaces, strict=True)):
        files[f"children/{child}/web.yaml"] = deployment("web")
        files[f"children/{child}/cm.json"] = configmap("settings", {"team": child})
        # Children 1 and 2 carry the resources finalizer; child 3 does not. No namespace:
        # the parent deploys them to its destination namespace, the control namespace.
        files[f"apps/{child}.yaml"] = yaml.safe_dump(
            application(child, repo, f"children/{child}", ns, finalizer=i < 2, namespaced=False)
        )
    repo.write(files, "three child apps")
    parent = unique("parent")
    kubectl(
        devcluster_a,
        "apply",
        "-f",
        "-",
        input=json.dumps(application(parent, repo, "apps", CONTROL_NAMESPACE, finalizer=True)),
    )

    eventually(
        lambda: workflow_status(bosun, parent) is WorkflowExecutionStatus.RUNNING,
        timeout=30,
        what="a workflow for the parent",
    )
    wait_status(bosun, parent, sync="Synced", health="Healthy", timeout=120)
    for child, ns in zip(children, namespaces, strict=True):
        eventually(
            lambda child=child: workflow_status(bosun, child) is WorkflowExecutionStatus.RUNNING,
            timeout=30,
            what=f"a workflow for {child}",
        )
        wait_status(bosun, child, sync="Synced", health="Healthy", timeout=120)
        web = live(devcluster_a, ns, "deployment", "web")
        assert web is not None and web["status"].get("readyReplicas") == 2
        eventually(
            lambda child=child: resource_status(devcluster_a, child) == ("Synced", "Healthy"),
            timeout=30,
            what=f"{child} status on its resource",
        )
        annotations = resource(devcluster_a, child)["metadata"]["annotations"]  # type: ignore[index]
        assert (
            annotations["argocd.argoproj.io/tracking-id"]
            == f"{parent}:argoproj.io/Application:{CONTROL_NAMESPACE}/{child}"
        )

    # Child 1 leaves Git: the parent prunes its Application, whose finalizer deletes its resources.
    repo.write({f"apps/{children[0]}.yaml": None}, "retire child 1")
    eventually(lambda: resource(devcluster_a, children[0]) is None, timeout=90, what="child 1 Application gone")
    eventually(
        lambda: live(devcluster_a, namespaces[0], "deployment", "web") is None,
        timeout=30,
        what="child 1 Deployment deleted",
    )
    assert live(devcluster_a, namespaces[0], "configmap", "settings") is None
    assert ended(bosun, children[0])

    # Child 3 leaves Git: no finalizer, so its resources stay.
    repo.write({f"apps/{children[2]}.yaml": None}, "retire child 3")
    eventually(lambda: resource(devcluster_a, children[2]) is None, timeout=90, what="child 3 Application gone")
    eventually(lambda: ended(bosun, children[2]), timeout=30, what="child 3 workflow ended")
    assert live(devcluster_a, namespaces[2], "deployment", "web") is not None
    assert live(devcluster_a, namespaces[2], "configmap", "settings") is not None

    # Deleting the parent (with its finalizer) cascades: child 2's Application, then its resources.
    kubectl(devcluster_a, "-n", CONTROL_NAMESPACE, "delete", "application", parent, "--wait=false")
    eventually(lambda: resource(devcluster_a, parent) is None, timeout=120, what="parent Application gone")
    eventually(lambda: resource(devcluster_a, children[1]) is None, timeout=60, what="child 2 Application gone")
    eventually(
        lambda: live(devcluster_a, namespaces[1], "deployment", "web") is None,
        timeout=30,
        what="child 2 Deployment deleted",
    )
    assert ended(bosun, parent) and ended(bosun, children[1])
