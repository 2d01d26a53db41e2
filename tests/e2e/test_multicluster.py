"""One Bosun, several clusters (issue 7): destinations by name and URL, cluster Secrets
added with ``bosun cluster add``, one task queue per cluster, and a stopped cluster that
does not hold up apps on the others."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from devstack import cluster as devcluster
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

IN_CLUSTER = "https://kubernetes.default.svc"


def overlay(env: str, replicas: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../../base"],
            "configMapGenerator": [
                {"name": "settings", "literals": [f"environment={env}"], "options": {"disableNameSuffixHash": True}}
            ],
            "replicas": [{"name": "web", "count": replicas}],
        }
    )


def add_cluster(bosun: Bosun, cluster: Cluster, name: str) -> None:
    context = yaml.safe_load(cluster.kubeconfig.read_text())["current-context"]
    # The kubeconfig's own credentials: bosun-manager is test_incluster's (a stopped cluster could not lose it).
    own = "--use-own-credentials"
    out = bosun.cli("cluster", "add", context, "--kubeconfig", str(cluster.kubeconfig), "--name", name, own).stdout
    assert name in out


def compare_task_queues(bosun: Bosun, app: str) -> set[str]:
    """The task queues the app workflow's compare activities were scheduled on."""

    async def read() -> set[str]:
        client = await Client.connect(bosun.temporal.address)
        queues = set()
        async for event in client.get_workflow_handle(f"app:{app}").fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                if attributes.activity_type.name == "compare":
                    queues.add(attributes.task_queue.name)
        return queues

    return asyncio.run(read())


def test_same_app_to_two_clusters_with_different_overlays(
    bosun: Bosun, devcluster_a: Cluster, devcluster_b: Cluster, tmp_path: Path
) -> None:
    production = unique("production")
    add_cluster(bosun, devcluster_b, production)
    listed = json.loads(bosun.cli("cluster", "list", "-o", "json").stdout)
    assert any(c["name"] == production and c["server"] == devcluster_b.server for c in listed)

    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "base/kustomization.yaml": yaml.safe_dump({"resources": ["web.yaml"]}),
            "base/web.yaml": deployment("web", replicas=1),
            "overlays/development/kustomization.yaml": overlay("development", 1),
            "overlays/production/kustomization.yaml": overlay("production", 3),
        },
    )
    ns = unique("shop")
    dev_app, prod_app = unique("shop-dev"), unique("shop-prod")
    bosun.create_app(dev_app, repo, path="overlays/development", namespace=ns, server=IN_CLUSTER)
    # Production by cluster name, as `bosun cluster add` registered it.
    bosun.create_app(
        prod_app,
        repo,
        path="overlays/production",
        namespace=ns,
        server="",
        extra_spec={"destination": {"name": production, "namespace": ns}},
    )

    wait_status(bosun, dev_app, sync="Synced", health="Healthy", timeout=120)
    wait_status(bosun, prod_app, sync="Synced", health="Healthy", timeout=120)
    dev_web, prod_web = live(devcluster_a, ns, "deployment", "web"), live(devcluster_b, ns, "deployment", "web")
    assert dev_web is not None and prod_web is not None
    assert (dev_web["spec"]["replicas"], prod_web["spec"]["replicas"]) == (1, 3)
    assert prod_web["status"].get("readyReplicas") == 3
    assert live(devcluster_a, ns, "configmap", "settings")["data"] == {"environment": "development"}  # type: ignore[index]
    assert live(devcluster_b, ns, "configmap", "settings")["data"] == {"environment": "production"}  # type: ignore[index]
    # Each cluster's work ran on its own task queue.
    assert compare_task_queues(bosun, dev_app) == {f"{bosun.task_queue}/cluster:in-cluster"}
    assert compare_task_queues(bosun, prod_app) == {f"{bosun.task_queue}/cluster:{production}"}

    # One commit reaches both, each through its overlay.
    repo.write({"overlays/production/kustomization.yaml": overlay("production", 2)}, "production: 2 replicas")
    eventually(
        lambda: (live(devcluster_b, ns, "deployment", "web") or {}).get("spec", {}).get("replicas") == 2,
        timeout=60,
        what="production scaled to 2",
    )
    assert live(devcluster_a, ns, "deployment", "web")["spec"]["replicas"] == 1  # type: ignore[index]

    bosun.cli("app", "delete", dev_app)
    bosun.cli("app", "delete", prod_app)
    bosun.cli("cluster", "rm", production)


def test_unknown_cluster_name_is_a_clear_condition(bosun: Bosun, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"a": "b"})})
    app = unique("nowhere")
    bosun.create_app(
        app,
        repo,
        namespace="default",
        server="",
        extra_spec={"destination": {"name": "no-such-cluster", "namespace": "default"}},
    )

    def condition() -> str | None:
        return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)

    message = eventually(condition, timeout=60, what="ComparisonError")
    assert "no-such-cluster" in message and "not known" in message
    bosun.cli("app", "delete", app)


@pytest.fixture
def third_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    """A devcluster of this test's own: the test stops it."""
    directory = tmp_path_factory.mktemp("test-c")
    state = devcluster.up("test-c", directory=directory, nodes=1, pod_run_ms=500)
    try:
        yield Cluster(name="test-c", kubeconfig=state.kubeconfig), directory
    finally:
        devcluster.down("test-c", directory=directory)


def test_a_stopped_cluster_does_not_hold_up_apps_on_the_others(
    bosun: Bosun, devcluster_a: Cluster, third_cluster: tuple[Cluster, Path], tmp_path: Path
) -> None:
    doomed, directory = third_cluster
    doomed_name = unique("doomed")
    add_cluster(bosun, doomed, doomed_name)
    ns = unique("pace")
    steady_repo = GitRepo.create(tmp_path / "steady", {"cm.json": configmap("beat", {"n": "0"})})
    doomed_repo = GitRepo.create(tmp_path / "doomed", {"cm.json": configmap("beat", {"n": "0"})})
    steady, lost = unique("steady"), unique("lost")
    bosun.create_app(steady, steady_repo, namespace=ns, refresh_seconds=2)
    bosun.create_app(
        lost,
        doomed_repo,
        namespace=ns,
        server="",
        refresh_seconds=2,
        extra_spec={"destination": {"name": doomed_name, "namespace": ns}},
    )
    wait_status(bosun, steady, sync="Synced", health="Healthy", timeout=120)
    wait_status(bosun, lost, sync="Synced", health="Healthy", timeout=120)

    devcluster.down("test-c", directory=directory)
    # The lost app's cluster refuses connections now; its activities retry on its own queue.
    delays = []
    for n in range(1, 5):
        steady_repo.write({"cm.json": configmap("beat", {"n": str(n)})}, f"beat {n}")
        committed = time.monotonic()
        eventually(
            lambda n=n: (live(devcluster_a, ns, "configmap", "beat") or {}).get("data") == {"n": str(n)},
            timeout=60,
            what=f"beat {n} deployed",
        )
        delays.append(time.monotonic() - committed)
    # Refresh every 2 s (+10% jitter) plus a sync: each commit is live within a few seconds.
    print(
        f"commit-to-live seconds on {devcluster_a.name} with {doomed_name} stopped: "
        + ", ".join(f"{d:.1f}" for d in delays)
    )
    assert max(delays) < 15, delays

    def lost_error() -> str | None:
        status = bosun.status(lost)
        return next((c["message"] for c in status["conditions"] if c["type"] == "ComparisonError"), None)

    assert "unreachable" in eventually(lost_error, timeout=120, what="the lost app's ComparisonError")
    bosun.cli("app", "delete", steady)
    bosun.cli("app", "delete", lost, "--no-cascade", check=False)
    bosun.cli("cluster", "rm", doomed_name)


def test_no_workflow_history_holds_a_cluster_credential(bosun: Bosun, devcluster_b: Cluster) -> None:
    """The cluster tests above stored devcluster_b's client key in a cluster Secret; it
    stays worker-side: no event of any workflow holds it, raw or base64."""
    user = yaml.safe_load(devcluster_b.kubeconfig.read_text())["users"][0]["user"]
    key_b64 = user["client-key-data"]
    key_pem = base64.b64decode(key_b64).decode()
    needles = [key_b64.encode(), key_pem.encode()]
    needles += [line.encode() for line in key_pem.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]

    async def scan() -> tuple[int, list[str]]:
        client = await Client.connect(bosun.temporal.address)
        runs = [(e.id, e.run_id) async for e in client.list_workflows()]
        leaks = []
        for workflow_id, run_id in runs:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            raw = b"".join(event.SerializeToString() for event in history.events)
            leaks += [f"{workflow_id}: {n[:6]!r}…" for n in needles if n in raw]
        return len(runs), leaks

    runs, leaks = asyncio.run(scan())
    assert runs > 0 and not leaks, leaks


def test_project_destinations_match_a_cluster_by_name_or_server(
    bosun: Bosun, devcluster_a: Cluster, devcluster_b: Cluster, tmp_path: Path
) -> None:
    """A project that permits devcluster_b by server URL permits an app naming it, and
    refuses the management cluster: nothing is applied there."""
    remote = unique("remote")
    add_cluster(bosun, devcluster_b, remote)
    project = unique("remote-only")
    path = tmp_path / "project.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": project},
                "spec": {"sourceRepos": ["*"], "destinations": [{"server": devcluster_b.server, "namespace": "*"}]},
            }
        )
    )
    bosun.cli("proj", "create", "-f", str(path), "--kubeconfig", str(bosun.kubeconfigs[0]))
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"a": "b"})})
    ns = unique("proj")
    allowed, refused = unique("by-name"), unique("local")
    bosun.create_app(
        allowed,
        repo,
        namespace=ns,
        server="",
        extra_spec={"project": project, "destination": {"name": remote, "namespace": ns}},
    )
    bosun.create_app(refused, repo, namespace=ns, extra_spec={"project": project})

    wait_status(bosun, allowed, sync="Synced", timeout=90)
    assert live(devcluster_b, ns, "configmap", "settings") is not None

    def refusal() -> str | None:
        return next((c["message"] for c in bosun.status(refused)["conditions"] if c["type"] == "ComparisonError"), None)

    assert "does not permit destination" in eventually(refusal, timeout=60, what="project refusal")
    assert live(devcluster_a, ns, "configmap", "settings") is None
    for app in (allowed, refused):
        bosun.cli("app", "delete", app)
    bosun.cli("cluster", "rm", remote)
