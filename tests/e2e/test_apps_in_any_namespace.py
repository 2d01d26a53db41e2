"""Applications in any namespace (issue 11): an app-of-apps written for Argo CD, whose
children live in ``argocd``, comes up with no configuration; an Application in another
namespace runs as ``<namespace>/<name>`` only once its project lists the namespace in
``sourceNamespaces``; and changes are seen through a watch, not a poll."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from bosun.tracking import ANNOTATION
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

CONTROL_NAMESPACE = "bosun"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
SAFETY_NET_SECONDS = 120
"""The full-pass period while the watch is measured: anything seen sooner came through the watch."""
WATCH_LATENCY_SECONDS = 10


def application(
    name: str,
    namespace: str,
    repo: GitRepo,
    path: str,
    dest_namespace: str,
    *,
    project: str = "default",
    finalizer: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if finalizer:
        metadata["finalizers"] = [FINALIZER]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": {
            "project": project,
            "source": {"repoURL": repo.url, "path": path, "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": dest_namespace},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def resource(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    return live(cluster, namespace, "applications.argoproj.io", name)


def resource_status(cluster: Cluster, namespace: str, name: str) -> tuple[str, str]:
    status = (resource(cluster, namespace, name) or {}).get("status") or {}
    return (status.get("sync") or {}).get("status", ""), (status.get("health") or {}).get("status", "")


def synced_and_healthy(cluster: Cluster, namespace: str, name: str) -> bool:
    return resource_status(cluster, namespace, name) == ("Synced", "Healthy")


def condition(cluster: Cluster, namespace: str, name: str, kind: str = "InvalidSpecError") -> str:
    conditions = ((resource(cluster, namespace, name) or {}).get("status") or {}).get("conditions") or []
    return next((c.get("message") or "" for c in conditions if c.get("type") == kind), "")


def workflow(bosun: Bosun, app: str, query: str | None = None) -> Any:
    """The app workflow's status (or the answer to ``query``); None if there is none."""

    async def ask() -> Any:
        client = await Client.connect(bosun.temporal.address)
        handle = client.get_workflow_handle(f"app:{app}")
        try:
            if query:
                return await handle.query(query)
            return (await handle.describe()).status
        except RPCError:
            return None

    return asyncio.run(ask())


def running(bosun: Bosun, app: str) -> bool:
    return workflow(bosun, app) is WorkflowExecutionStatus.RUNNING


def ensure_namespace(cluster: Cluster, name: str) -> None:
    kubectl(cluster, "create", "namespace", name, check=False)


def remove(cluster: Cluster, namespace: str, name: str) -> None:
    """Delete an Application resource without its cascade (test clean-up)."""
    kubectl(
        cluster,
        "-n",
        namespace,
        "patch",
        "application",
        name,
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"finalizers": None}}),
        check=False,
    )
    kubectl(cluster, "-n", namespace, "delete", "application", name, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture
def restarted_worker(bosun: Bosun) -> Iterator[Bosun]:
    """The session's worker, restarted with Applications followed in ``team-*`` as well and a
    slow safety-net pass; restored afterwards (the running DeclarativeAppsWorkflow takes each
    worker's periods through its ``configure`` signal)."""
    saved = dict(bosun.env)
    bosun.stop_worker()
    bosun.env.update({"BOSUN_APPLICATION_NAMESPACES": "team-*", "BOSUN_DISCOVERY_SECONDS": str(SAFETY_NET_SECONDS)})
    offset = bosun.worker_log.stat().st_size
    bosun.start_worker()
    eventually(
        lambda: "watching Applications" in bosun.worker_log.read_bytes()[offset:].decode(errors="replace"),
        timeout=60,
        what="the restarted worker's watch",
    )
    try:
        yield bosun
    finally:
        bosun.stop_worker()
        bosun.env = saved
        bosun.start_worker()


def test_app_of_apps_with_children_in_argocd_comes_up_with_no_configuration(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    ensure_namespace(devcluster_a, "argocd")
    children, namespaces = [unique("argo-child1"), unique("argo-child2")], [unique("ns1"), unique("ns2")]
    repo = GitRepo.create(tmp_path / "repo", {})
    files: dict[str, str | None] = {}
    for child, ns in zip(children, namespaces, strict=True):
        files[f"children/{child}/web.yaml"] = deployment("web")
        files[f"children/{child}/cm.json"] = configmap("settings", {"team": child})
        # As in Argo CD's app-of-apps examples: the children say `namespace: argocd`.
        files[f"apps/{child}.yaml"] = yaml.safe_dump(
            application(child, "argocd", repo, f"children/{child}", ns, finalizer=True)
        )
    repo.write(files, "two child apps in argocd")
    parent = unique("argo-parent")
    kubectl(
        devcluster_a,
        "apply",
        "-f",
        "-",
        input=json.dumps(application(parent, CONTROL_NAMESPACE, repo, "apps", CONTROL_NAMESPACE, finalizer=True)),
    )
    try:
        wait_status(bosun, parent, sync="Synced", health="Healthy", timeout=120)
        for child, ns in zip(children, namespaces, strict=True):
            assert resource(devcluster_a, "argocd", child) is not None
            # Home namespace: the child keeps its plain name.
            eventually(partial(running, bosun, child), timeout=60, what=f"a workflow app:{child}")
            wait_status(bosun, child, sync="Synced", health="Healthy", timeout=120)
            web = live(devcluster_a, ns, "deployment", "web")
            assert web is not None and web["status"].get("readyReplicas") == 2
            # Argo CD's tracking annotation names the plain (home) app name.
            assert web["metadata"]["annotations"][ANNOTATION] == f"{child}:apps/Deployment:{ns}/web"
            # Status is written back to the resource in argocd.
            eventually(
                partial(synced_and_healthy, devcluster_a, "argocd", child),
                timeout=60,
                what=f"{child} status on its resource in argocd",
            )

        # A child leaves Git: its Application in argocd is pruned and its finalizer deletes its resources.
        repo.write({f"apps/{children[0]}.yaml": None}, "retire child 1")
        eventually(
            lambda: resource(devcluster_a, "argocd", children[0]) is None,
            timeout=120,
            what="child 1 Application gone from argocd",
        )
        eventually(
            lambda: live(devcluster_a, namespaces[0], "deployment", "web") is None,
            timeout=60,
            what="child 1 Deployment deleted",
        )
        eventually(lambda: not running(bosun, children[0]), timeout=30, what="child 1 workflow ended")
    finally:
        for child in children:
            remove(devcluster_a, "argocd", child)
        remove(devcluster_a, CONTROL_NAMESPACE, parent)


def test_same_name_in_both_home_namespaces_the_control_namespace_wins(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    ensure_namespace(devcluster_a, "argocd")
    repo = GitRepo.create(
        tmp_path / "repo",
        {"bosun/cm.json": configmap("from-bosun", {"a": "b"}), "argocd/cm.json": configmap("from-argocd", {"a": "b"})},
    )
    name, ns = unique("twin"), unique("twin-ns")
    kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(application(name, CONTROL_NAMESPACE, repo, "bosun", ns)))
    kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(application(name, "argocd", repo, "argocd", ns)))
    try:
        wait_status(bosun, name, sync="Synced", health="Healthy", timeout=120)
        message = eventually(
            lambda: condition(devcluster_a, "argocd", name), timeout=60, what="the argocd twin refused"
        )
        assert "'bosun'" in message and name in message
        assert live(devcluster_a, ns, "configmap", "from-bosun") is not None
        assert live(devcluster_a, ns, "configmap", "from-argocd") is None
        assert bosun.status(name)["path"] == "bosun"
    finally:
        remove(devcluster_a, "argocd", name)
        remove(devcluster_a, CONTROL_NAMESPACE, name)


def test_an_app_in_another_namespace_needs_source_namespaces_and_the_watch_is_quick(
    restarted_worker: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    bosun = restarted_worker
    team = unique("team")  # matches BOSUN_APPLICATION_NAMESPACES=team-*
    ensure_namespace(devcluster_a, team)
    repo = GitRepo.create(
        tmp_path / "repo",
        {"one/cm.json": configmap("first", {"a": "b"}), "two/cm.json": configmap("second", {"c": "d"})},
    )
    project, name, dest = unique("proj"), unique("web"), unique("dest")
    app = f"{team}/{name}"
    kubectl(
        devcluster_a,
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": project, "namespace": CONTROL_NAMESPACE},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            }
        ),
    )
    try:
        # Refused while the project does not list the namespace: a clear condition, no workflow.
        started = time.monotonic()
        kubectl(
            devcluster_a,
            "apply",
            "-f",
            "-",
            input=json.dumps(application(name, team, repo, "one", dest, project=project)),
        )
        message = eventually(
            lambda: condition(devcluster_a, team, name),
            timeout=WATCH_LATENCY_SECONDS,
            what="the refusal on the resource, through the watch",
        )
        assert time.monotonic() - started < WATCH_LATENCY_SECONDS
        assert f"namespace '{team}'" in message and "sourceNamespaces" in message and project in message
        assert workflow(bosun, app) is None and workflow(bosun, name) is None

        # The project lists it (a glob): the app comes up as <namespace>/<name>, seen through the watch.
        started = time.monotonic()
        kubectl(
            devcluster_a,
            "-n",
            CONTROL_NAMESPACE,
            "patch",
            "appproject",
            project,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"sourceNamespaces": ["team-*"]}}),
        )
        eventually(lambda: running(bosun, app), timeout=WATCH_LATENCY_SECONDS, what=f"a workflow app:{app}")
        assert time.monotonic() - started < WATCH_LATENCY_SECONDS
        status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
        assert status["name"] == app
        cm = live(devcluster_a, dest, "configmap", "first")
        # Argo CD's instance name of an app outside the home namespaces: <namespace>_<name>.
        assert cm is not None and cm["metadata"]["annotations"][ANNOTATION] == f"{team}_{name}:/ConfigMap:{dest}/first"
        eventually(
            partial(synced_and_healthy, devcluster_a, team, name),
            timeout=60,
            what="status written to the resource in its own namespace",
        )
        assert not condition(devcluster_a, team, name)

        # A change to the resource reaches the workflow through the watch, well before the safety net.
        started = time.monotonic()
        kubectl(
            devcluster_a,
            "-n",
            team,
            "patch",
            "application",
            name,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"source": {"path": "two"}}}),
        )
        eventually(
            lambda: (
                ((workflow(bosun, app, "application") or {}).get("spec") or {}).get("source", {}).get("path") == "two"
            ),
            timeout=WATCH_LATENCY_SECONDS,
            what="the new path in the workflow",
        )
        latency = time.monotonic() - started
        assert latency < WATCH_LATENCY_SECONDS < SAFETY_NET_SECONDS
        eventually(
            lambda: live(devcluster_a, dest, "configmap", "second") is not None,
            timeout=90,
            what="the new path deployed",
        )

        # Deleted with the finalizer: the resources go with it, from the right namespace's resource.
        kubectl(
            devcluster_a,
            "-n",
            team,
            "patch",
            "application",
            name,
            "--type=merge",
            "-p",
            json.dumps({"metadata": {"finalizers": [FINALIZER]}}),
        )
        kubectl(devcluster_a, "-n", team, "delete", "application", name, "--wait=false")
        eventually(lambda: resource(devcluster_a, team, name) is None, timeout=90, what="the Application gone")
        eventually(
            lambda: live(devcluster_a, dest, "configmap", "second") is None, timeout=60, what="its resources deleted"
        )
        eventually(lambda: not running(bosun, app), timeout=30, what="its workflow ended")
    finally:
        remove(devcluster_a, team, name)
        kubectl(
            devcluster_a, "-n", CONTROL_NAMESPACE, "delete", "appproject", project, "--ignore-not-found", check=False
        )
