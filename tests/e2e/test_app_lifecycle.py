"""ApplicationWorkflow end to end: real Temporal, real devcluster, real Git (issue 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl


def deployment(
    name: str,
    *,
    replicas: int = 2,
    wave: int | None = None,
    labels: dict[str, str] | None = None,
    run_ms: int | None = None,
) -> str:
    annotations = {"argocd.argoproj.io/sync-wave": str(wave)} if wave is not None else {}
    pod_annotations = {"devcluster.bosun.dev/run-ms": str(run_ms)} if run_ms else {}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "annotations": annotations, "labels": labels or {}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, "annotations": pod_annotations},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
                },
            },
        }
    )


def configmap(name: str, data: dict[str, str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def service(name: str) -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n"
        f"  ports:\n  - port: 80\n    targetPort: 8080\n"
    )


def wait_status(bosun: Bosun, app: str, *, timeout: float = 90, **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = bosun.status(app)
        ok = all(status.get(k) == v for k, v in expected.items()) and status["operation"] == "idle"
        return status if ok else None

    return eventually(check, timeout=timeout, what=f"{app} {expected}")  # type: ignore[no-any-return]


def live(cluster: Cluster, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    out = kubectl(cluster, "-n", ns, "get", kind, name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(
        tmp_path / "repo",
        {
            "web.yaml": deployment("web", replicas=2, wave=1) + "\n",
            "svc.yaml": service("web"),
            "settings.json": configmap("settings", {"mode": "fast"}),
        },
    )


def test_new_app_becomes_synced_and_healthy_with_deployment_rolled_out(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo
) -> None:
    app, ns = unique("web"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    status = wait_status(bosun, app, sync="Synced", health="Healthy")
    assert status["revision"] == repo.git("rev-parse", "HEAD")
    kinds = {(r["key"]["kind"], r["key"]["name"]): (r["sync"], r["health"]) for r in status["resources"]}
    assert kinds[("Deployment", "web")] == ("Synced", "Healthy")
    assert kinds[("Service", "web")][0] == "Synced"
    assert kinds[("ConfigMap", "settings")][0] == "Synced"
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["status"]["availableReplicas"] == 2
    # Argo CD 3's default tracking: the annotation alone, no instance label.
    assert "app.kubernetes.io/instance" not in web["metadata"].get("labels", {})
    assert web["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == f"{app}:apps/Deployment:{ns}/web"
    history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
    assert [h["phase"] for h in history] == ["Succeeded"]
    assert bosun.cli("app", "diff", app, check=False).returncode == 0


def test_new_commit_is_applied_automatically(bosun: Bosun, devcluster_a: Cluster, repo: GitRepo) -> None:
    app, ns = unique("auto"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    commit = repo.write({"web.yaml": deployment("web", replicas=3, wave=1)}, "scale to 3")
    wait_status(bosun, app, sync="Synced", health="Healthy", revision=commit)
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["spec"]["replicas"] == 3 and web["status"]["availableReplicas"] == 3


def test_manual_sync_applies_a_non_automated_app(bosun: Bosun, devcluster_a: Cluster, repo: GitRepo) -> None:
    app, ns = unique("manual"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    assert live(devcluster_a, ns, "deployment", "web") is None
    diff = bosun.cli("app", "diff", app, check=False)
    assert diff.returncode == 1 and "web" in diff.stdout
    result = bosun.cli("app", "sync", app)
    assert "Succeeded" in result.stdout
    wait_status(bosun, app, sync="Synced", health="Healthy")
    assert live(devcluster_a, ns, "deployment", "web") is not None


@pytest.mark.parametrize("self_heal", [True, False])
def test_change_made_with_kubectl_is_reverted_only_with_self_heal(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo, self_heal: bool
) -> None:
    app, ns = unique("heal"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, self_heal=self_heal)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    kubectl(
        devcluster_a, "-n", ns, "patch", "configmap", "settings", "--type=merge", "-p", '{"data": {"mode": "slow"}}'
    )
    if self_heal:
        eventually(
            lambda: live(devcluster_a, ns, "configmap", "settings")["data"]["mode"] == "fast",  # type: ignore[index]
            timeout=60,
            what="selfHeal reverted the ConfigMap",
        )
        wait_status(bosun, app, sync="Synced")
    else:
        status = wait_status(bosun, app, sync="OutOfSync")
        row = next(r for r in status["resources"] if r["key"]["name"] == "settings")
        assert row["sync"] == "OutOfSync" and "/data/mode" in row["changed_paths"]
        time.sleep(8)  # a few refresh periods: still not reverted
        assert live(devcluster_a, ns, "configmap", "settings")["data"]["mode"] == "slow"  # type: ignore[index]


@pytest.mark.parametrize("prune", [True, False])
def test_file_removed_from_git_is_pruned_only_with_prune(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo, prune: bool
) -> None:
    app, ns = unique("prune"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, prune=prune)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    commit = repo.write({"settings.json": None}, "drop settings")
    if prune:
        wait_status(bosun, app, sync="Synced", revision=commit)
        assert live(devcluster_a, ns, "configmap", "settings") is None
    else:
        status = wait_status(bosun, app, sync="OutOfSync", revision=commit)
        row = next(r for r in status["resources"] if r["key"]["name"] == "settings")
        assert row["requires_pruning"]
        assert live(devcluster_a, ns, "configmap", "settings") is not None


def test_invalid_manifest_gives_condition_naming_the_file_and_changes_nothing(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo
) -> None:
    app, ns = unique("invalid"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, prune=True)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    repo.write(
        {
            "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n",
            "web.yaml": deployment("web", replicas=5, wave=1),
        },
        "broken",
    )

    def condition() -> str | None:
        conditions = bosun.status(app)["conditions"]
        return next((c["message"] for c in conditions if c["type"] == "ComparisonError"), None)

    message = eventually(condition, timeout=60, what="ComparisonError")
    assert "svc.yaml" in message
    time.sleep(5)
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["spec"]["replicas"] == 2  # nothing applied
    assert live(devcluster_a, ns, "service", "web") is not None  # nothing pruned


def test_manifest_rejected_by_api_server_fails_the_sync_once(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo
) -> None:
    app, ns = unique("reject"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    repo.write({"web.yaml": deployment("web", wave=1, labels={"tier": "not a valid label value!"})}, "bad label")

    def failed_op() -> dict[str, Any] | None:
        op = bosun.status(app).get("last_operation") or {}
        return op if op.get("phase") == "Failed" else None

    op = eventually(failed_op, timeout=60, what="failed sync")
    assert "Deployment/web" in op["message"] and "not a valid label value!" in op["message"]
    assert "metadata.labels: Invalid value" in op["message"]
    time.sleep(10)  # several refresh periods
    history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
    assert [h["phase"] for h in history] == ["Succeeded", "Failed"]


def test_unreachable_repository_gives_condition_and_app_recovers(bosun: Bosun, repo: GitRepo, tmp_path: Path) -> None:
    app, ns = unique("gone"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    hidden = tmp_path / "hidden"
    shutil.move(repo.path, hidden)

    def condition() -> str | None:
        return next((c["message"] for c in bosun.status(app)["conditions"] if c["type"] == "ComparisonError"), None)

    message = eventually(condition, timeout=60, what="ComparisonError for the missing repo")
    assert str(repo.path) in message
    shutil.move(hidden, repo.path)
    eventually(lambda: condition() is None, timeout=60, what="condition cleared")
    wait_status(bosun, app, sync="Synced", health="Healthy")


def test_sync_finishes_after_worker_is_killed_mid_sync(bosun: Bosun, devcluster_a: Cluster, repo: GitRepo) -> None:
    app, ns = unique("crash"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    # a slow wave: Job pods run 8 s before they complete
    repo.write(
        {
            "job.yaml": json.dumps(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": "slow", "annotations": {"argocd.argoproj.io/sync-wave": "2"}},
                    "spec": {
                        "template": {
                            "metadata": {"annotations": {"devcluster.bosun.dev/run-ms": "8000"}},
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
                        }
                    },
                }
            )
        },
        "slow job",
    )
    sync = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "app", "sync", app],
        env=bosun.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    eventually(lambda: live(devcluster_a, ns, "job", "slow") is not None, timeout=60, what="Job created")
    bosun.kill_worker()
    time.sleep(2)
    bosun.start_worker()
    out, err = sync.communicate(timeout=180)
    assert sync.returncode == 0, out + err
    assert "Succeeded" in out
    job = live(devcluster_a, ns, "job", "slow")
    assert job and job["status"].get("succeeded") == 1
    history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
    assert [h["phase"] for h in history] == ["Succeeded"]


def test_secret_written_with_string_data_is_synced_and_masked(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo
) -> None:
    app, ns = unique("secret"), unique("ns")
    repo.write(
        {
            "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"
            "stringData:\n  password: hunter2-very-secret\n"
        },
        "secret",
    )
    bosun.create_app(app, repo, namespace=ns)
    status = wait_status(bosun, app, sync="Synced", health="Healthy")
    row = next(r for r in status["resources"] if r["key"]["kind"] == "Secret")
    assert row["sync"] == "Synced"
    kubectl(
        devcluster_a,
        "-n",
        ns,
        "patch",
        "secret",
        "db",
        "--type=merge",
        "-p",
        '{"stringData": {"password": "changed-by-hand-secret"}}',
    )
    diff = bosun.cli("app", "diff", app, check=False)
    assert diff.returncode == 1
    assert "password" in diff.stdout and "++++++++" in diff.stdout
    assert "hunter2" not in diff.stdout and "changed-by-hand" not in diff.stdout
    assert "aHVudGVyMi" not in diff.stdout  # nor base64 of it


@pytest.mark.parametrize("cascade", [True, False])
def test_delete_removes_resources_only_with_cascade(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo, cascade: bool
) -> None:
    app, ns = unique("del"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    bosun.cli("app", "delete", app, "--cascade" if cascade else "--no-cascade")
    assert bosun.cli("app", "get", app, check=False).returncode == 3
    if cascade:
        eventually(lambda: live(devcluster_a, ns, "deployment", "web") is None, timeout=60, what="web deleted")
        assert live(devcluster_a, ns, "configmap", "settings") is None
    else:
        assert live(devcluster_a, ns, "deployment", "web") is not None
        assert live(devcluster_a, ns, "configmap", "settings") is not None


def test_app_with_sync_schedule_annotation_syncs_only_when_scheduled(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo
) -> None:
    import asyncio

    from temporalio.client import Client

    app, ns = unique("monthly"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, extra_spec={})
    document = json.loads(bosun.cli("app", "get", app, "-o", "json").stdout)
    assert document["automated"]
    # annotate the app: synced on the first of each month only
    spec = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app, "annotations": {"bosun.dev/sync-schedule": "0 0 1 * *"}},
        "spec": {
            "source": {"repoURL": repo.url, "path": ".", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        },
    }
    app_file = bosun.home / f"{app}-scheduled.json"
    app_file.write_text(json.dumps(spec))
    bosun.cli("app", "create", "-f", str(app_file), "--upsert")
    wait_status(bosun, app, sync="Synced", health="Healthy")  # the first sync happened before the annotation

    async def schedule_ids() -> list[str]:
        client = await Client.connect(bosun.temporal.address)
        return [s.id async for s in await client.list_schedules()]

    eventually(lambda: f"sync:{app}" in asyncio.run(schedule_ids()), timeout=60, what="schedule created")
    commit = repo.write({"web.yaml": deployment("web", replicas=3, wave=1)}, "scale")
    status = wait_status(bosun, app, sync="OutOfSync", revision=commit)
    time.sleep(8)  # several refresh periods: automated sync waits for the schedule
    assert live(devcluster_a, ns, "deployment", "web")["spec"]["replicas"] == 2  # type: ignore[index]
    assert status["synced_revision"] != commit

    async def trigger() -> None:
        client = await Client.connect(bosun.temporal.address)
        await client.get_schedule_handle(f"sync:{app}").trigger()

    asyncio.run(trigger())
    wait_status(bosun, app, sync="Synced", revision=commit, timeout=120)
    assert live(devcluster_a, ns, "deployment", "web")["spec"]["replicas"] == 3  # type: ignore[index]
    bosun.cli("app", "delete", app)

    assert eventually(
        lambda: f"sync:{app}" not in asyncio.run(schedule_ids()), timeout=60, what="schedule removed with the app"
    )


def test_app_manifests_prints_git_at_a_revision_and_live_objects(
    bosun: Bosun, devcluster_a: Cluster, repo: GitRepo
) -> None:
    import yaml

    app, ns = unique("manifests"), unique("ns")
    first = repo.git("rev-parse", "HEAD")
    repo.write({"web.yaml": deployment("web", replicas=3, wave=1)}, "three")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")

    current = list(yaml.safe_load_all(bosun.cli("app", "manifests", app).stdout))
    old = list(yaml.safe_load_all(bosun.cli("app", "manifests", app, "--revision", first).stdout))
    live_objects = list(yaml.safe_load_all(bosun.cli("app", "manifests", app, "--source", "live").stdout))

    def replicas(objects: list[dict[str, Any]]) -> int:
        return int(next(o for o in objects if o["kind"] == "Deployment")["spec"]["replicas"])

    assert replicas(current) == 3 and replicas(old) == 2
    live_web = next(o for o in live_objects if o["kind"] == "Deployment")
    assert live_web["status"]["availableReplicas"] == 3 and "managedFields" not in live_web["metadata"]
    assert {o["kind"] for o in live_objects} == {"Deployment", "Service", "ConfigMap"}
