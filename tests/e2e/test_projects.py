"""AppProjects in the management cluster, and their sync windows (issues 5 and 7)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.tools import REPO_ROOT
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, live, wait_status


@pytest.fixture(scope="module", autouse=True)
def crds(devcluster_a: Cluster) -> None:
    kubectl(devcluster_a, "apply", "-f", str(REPO_ROOT / "deploy" / "crds"))
    kubectl(devcluster_a, "apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bosun\n")
    eventually(
        lambda: "appprojects" in kubectl(devcluster_a, "api-resources", "--api-group=argoproj.io"),
        what="AppProject CRD served",
    )


def create_project(bosun: Bosun, name: str, spec: dict[str, object]) -> None:
    path = bosun.home / f"proj-{name}.json"
    path.write_text(
        json.dumps(
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": name}, "spec": spec}
        )
    )
    bosun.cli("proj", "create", "-f", str(path), "--kubeconfig", str(bosun.kubeconfigs[0]))


def test_deny_window_delays_an_automated_sync_until_it_opens(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    if now.second > 40:  # leave the window most of its minute
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0)
    window_end = start + timedelta(minutes=1)
    project = unique("windowed")
    create_project(
        bosun,
        project,
        {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "syncWindows": [
                {
                    "kind": "deny",
                    "schedule": f"{start.minute} {start.hour} * * *",
                    "duration": "1m",
                    "applications": ["*"],
                    "manualSync": False,
                }
            ],
        },
    )
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"a": "b"})})
    app, ns = unique("window"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, extra_spec={"project": project})

    status = wait_status(bosun, app, sync="OutOfSync")
    assert status["sync_window"]["automated_allowed"] is False
    assert "deny" in status["sync_window"]["reason"] or status["sync_window"]["active"]
    assert live(devcluster_a, ns, "configmap", "settings") is None
    get = bosun.cli("app", "get", app).stdout
    assert "automated syncs blocked" in get
    manual = bosun.cli("app", "sync", app, check=False)
    assert manual.returncode == 1 and "blocked by sync window" in manual.stdout

    wait_status(bosun, app, sync="Synced", timeout=120)
    created = live(devcluster_a, ns, "configmap", "settings")
    assert created is not None
    created_at = datetime.fromisoformat(created["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    assert created_at >= window_end - timedelta(seconds=1)  # not before the window opened


def test_app_in_a_missing_project_gets_a_condition_and_nothing_is_applied(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"a": "b"})})
    app, ns = unique("noproj"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, extra_spec={"project": "does-not-exist"})

    def condition() -> str | None:
        return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)

    assert "project 'does-not-exist' does not exist" in eventually(condition, timeout=60, what="condition")
    assert live(devcluster_a, ns, "configmap", "settings") is None


def test_proj_commands_round_trip(bosun: Bosun) -> None:
    name = unique("team-data")
    create_project(
        bosun,
        name,
        {
            "description": "data pipelines",
            "sourceRepos": ["https://git.example.com/*"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "data-*"}],
        },
    )
    kube = ["--kubeconfig", str(bosun.kubeconfigs[0])]
    assert name in bosun.cli("proj", "list", *kube).stdout
    shown = json.loads(bosun.cli("proj", "get", name, "-o", "json", *kube).stdout)
    assert shown["spec"]["destinations"][0]["namespace"] == "data-*"
    bosun.cli("proj", "delete", name, *kube)
    assert bosun.cli("proj", "get", name, *kube, check=False).returncode == 3


def test_app_outside_its_projects_destinations_or_kinds_is_refused_and_nothing_applied(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    project = unique("team")
    create_project(
        bosun,
        project,
        {"sourceRepos": ["*"], "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "team-*"}]},
    )
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "cm.json": configmap("settings", {"a": "b"}),
            "role.json": json.dumps(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": unique("reader")},
                    "rules": [],
                }
            ),
        },
    )

    def condition(app: str) -> str | None:
        return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)

    outside, ns = unique("outside"), unique("elsewhere")
    bosun.create_app(outside, repo, namespace=ns, extra_spec={"project": project})
    message = eventually(lambda: condition(outside), timeout=60, what="destination refused")
    assert f"does not permit destination https://kubernetes.default.svc namespace '{ns}'" in message
    assert live(devcluster_a, ns, "configmap", "settings") is None

    inside, team_ns = unique("inside"), unique("team")
    bosun.create_app(inside, repo, namespace=team_ns, extra_spec={"project": project})
    message = eventually(lambda: condition(inside), timeout=60, what="cluster-scoped kind refused")
    assert "ClusterRole/" in message
    assert "does not permit cluster-scoped rbac.authorization.k8s.io/ClusterRole" in message
    assert live(devcluster_a, team_ns, "configmap", "settings") is None  # nothing applied, not even the allowed part
