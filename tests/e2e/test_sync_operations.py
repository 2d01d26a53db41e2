"""Sync operations as Argo CD users know them, on the real stack (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status


def job(
    name: str,
    *,
    hook: str | None = None,
    delete_policy: str | None = None,
    wave: int | None = None,
    run_ms: int = 1000,
    fail: bool = False,
) -> str:
    annotations: dict[str, str] = {}
    if hook:
        annotations["argocd.argoproj.io/hook"] = hook
    if delete_policy:
        annotations["argocd.argoproj.io/hook-delete-policy"] = delete_policy
    if wave is not None:
        annotations["argocd.argoproj.io/sync-wave"] = str(wave)
    pod_annotations = {"devcluster.bosun.dev/run-ms": str(run_ms)}
    if fail:
        pod_annotations["devcluster.bosun.dev/fail"] = "true"
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": pod_annotations},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
                },
            },
        }
    )


def last_operation(bosun: Bosun, app: str, timeout: float = 120) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status = bosun.status(app)
        op = status.get("last_operation")
        return op if op and status["operation"] == "idle" else None

    return eventually(done, timeout=timeout, what=f"an operation of {app}")  # type: ignore[no-any-return]


def order_of(op: dict[str, Any]) -> list[str]:
    return [f"{r['key']['kind']}/{r['key']['name']}" for r in op["resources"]]


def test_waves_apply_in_order_each_healthy_before_the_next(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "migrate.json": job("migrate", wave=0, run_ms=3000),
            "web.json": deployment("web", wave=1),
            "after.json": json.dumps(
                {
                    **json.loads(configmap("after", {"x": "1"})),
                    "metadata": {"name": "after", "annotations": {"argocd.argoproj.io/sync-wave": "2"}},
                }
            ),
        },
    )
    app, ns = unique("waves"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    op = last_operation(bosun, app)
    assert order_of(op) == ["Job/migrate", "Deployment/web", "ConfigMap/after"]
    migrate = live(devcluster_a, ns, "job", "migrate")
    web = live(devcluster_a, ns, "deployment", "web")
    after = live(devcluster_a, ns, "configmap", "after")
    assert migrate and web and after
    # wave 1 was created only after the Job of wave 0 had completed (3 s of run time)
    assert web["metadata"]["creationTimestamp"] >= migrate["status"]["completionTime"]
    available = next(c for c in web["status"]["conditions"] if c["type"] == "Available")
    assert after["metadata"]["creationTimestamp"] >= available["lastTransitionTime"]


def test_presync_and_postsync_hooks_run_in_order_and_are_deleted_per_policy(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "pre.json": job("db-migrate", hook="PreSync", delete_policy="HookSucceeded"),
            "web.json": deployment("web"),
            "post.json": job("smoke-test", hook="PostSync"),
        },
    )
    app, ns = unique("hooks"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    op = last_operation(bosun, app)
    assert op["phase"] == "Succeeded"
    order = order_of(op)
    assert order.index("Job/db-migrate") < order.index("Deployment/web") < order.index("Job/smoke-test")
    eventually(lambda: live(devcluster_a, ns, "job", "db-migrate") is None, what="PreSync hook deleted")
    smoke = live(devcluster_a, ns, "job", "smoke-test")
    assert smoke and smoke["status"].get("succeeded") == 1  # BeforeHookCreation keeps it until next sync


def test_failing_presync_hook_runs_syncfail_hook_and_applies_nothing_else(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "pre.json": job("db-migrate", hook="PreSync", fail=True),
            "web.json": deployment("web"),
            "fail.json": job("notify-failure", hook="SyncFail"),
        },
    )
    app, ns = unique("hookfail"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    op = last_operation(bosun, app)
    assert op["phase"] == "Failed"
    assert "db-migrate" in op["message"] and "SyncFail hooks ran" in op["message"]
    assert live(devcluster_a, ns, "deployment", "web") is None
    notify = live(devcluster_a, ns, "job", "notify-failure")
    assert notify and notify["status"].get("succeeded") == 1


def test_failing_sync_retries_with_backoff_timers_and_stops_at_the_limit(bosun: Bosun, tmp_path: Path) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "web.json": deployment("web", labels={"tier": "not valid!"}),
        },
    )
    app, ns = unique("retry"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, extra_spec={})
    # add a retry policy through update_spec (create_app's spec + retry)
    document = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app},
        "spec": {
            "source": {"repoURL": repo.url, "path": ".", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 2}},
            },
        },
    }
    app_file = tmp_path / "app.json"
    app_file.write_text(json.dumps(document))
    bosun.cli("app", "create", "-f", str(app_file), "--upsert")
    result = bosun.cli("app", "sync", app, check=False)
    assert result.returncode == 1 and "Failed" in result.stdout

    async def timers() -> list[str]:
        client = await Client.connect(bosun.temporal.address, data_converter=pydantic_data_converter)
        history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
        child = client.get_workflow_handle(history[-1]["workflow_id"])
        events = (await child.fetch_history()).events
        started = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        return [e.user_metadata.summary.data.decode() for e in started]

    import asyncio

    summaries = asyncio.run(timers())
    assert len(summaries) == 2
    assert "retry 1 of 2 in 1s" in summaries[0] and "retry 2 of 2 in 2s" in summaries[1]


def test_ignore_differences_json_pointer_and_jq_stop_false_out_of_sync(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    from tests.e2e.conftest import kubectl

    repo = GitRepo.create(
        tmp_path / "repo",
        {"web.json": deployment("web", replicas=2), "cm.json": configmap("settings", {"mode": "fast"})},
    )
    app, ns = unique("ignore"), unique("ns")
    bosun.create_app(
        app,
        repo,
        namespace=ns,
        extra_spec={
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
                {"kind": "ConfigMap", "name": "settings", "jqPathExpressions": [".data.injected"]},
            ]
        },
    )
    wait_status(bosun, app, sync="Synced", health="Healthy")
    kubectl(devcluster_a, "-n", ns, "scale", "deployment", "web", "--replicas=4")
    kubectl(
        devcluster_a,
        "-n",
        ns,
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        '{"data": {"injected": "by-a-webhook"}}',
    )
    time.sleep(6)  # two refresh periods
    status = wait_status(bosun, app, sync="Synced")
    assert all(r["sync"] == "Synced" for r in status["resources"])
    assert live(devcluster_a, ns, "deployment", "web")["spec"]["replicas"] == 4  # type: ignore[index]


def test_rollback_holds_auto_sync_until_a_newer_commit(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("release", {"version": "1"})})
    app, ns = unique("rollback"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, self_heal=True)
    first = wait_status(bosun, app, sync="Synced", health="Healthy")["revision"]
    second = repo.write({"cm.json": configmap("release", {"version": "2"})}, "v2")
    wait_status(bosun, app, sync="Synced", revision=second)
    history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
    first_id = next(h["id"] for h in history if h["revision"] == first)

    bosun.cli("app", "rollback", app, str(first_id))
    status = wait_status(bosun, app, sync="Synced", revision=first)
    assert status["pinned_revision"] == first
    assert live(devcluster_a, ns, "configmap", "release")["data"]["version"] == "1"  # type: ignore[index]
    time.sleep(8)  # automated sync (with selfHeal) does not move forward to v2
    assert bosun.status(app)["revision"] == first
    assert live(devcluster_a, ns, "configmap", "release")["data"]["version"] == "1"  # type: ignore[index]

    third = repo.write({"cm.json": configmap("release", {"version": "3"})}, "v3")
    status = wait_status(bosun, app, sync="Synced", revision=third)
    assert status["pinned_revision"] == ""
    assert live(devcluster_a, ns, "configmap", "release")["data"]["version"] == "3"  # type: ignore[index]


def test_worker_killed_while_hook_runs_resumes_without_creating_it_twice(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "pre.json": job("slow-migrate", hook="PreSync", run_ms=8000),
            "cm.json": configmap("settings", {"a": "b"}),
        },
    )
    app, ns = unique("hookcrash"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    sync = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "app", "sync", app],
        env=bosun.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    created = eventually(lambda: live(devcluster_a, ns, "job", "slow-migrate"), timeout=60, what="hook Job")
    bosun.kill_worker()
    time.sleep(2)
    bosun.start_worker()
    out, err = sync.communicate(timeout=180)
    assert sync.returncode == 0, out + err
    after = live(devcluster_a, ns, "job", "slow-migrate")
    assert after and after["metadata"]["uid"] == created["metadata"]["uid"]  # the same Job, not a second one
    assert after["status"].get("succeeded") == 1


@pytest.fixture(autouse=True)
def _no_leftover_worker(bosun: Bosun) -> None:
    if bosun.worker is None or bosun.worker.poll() is not None:
        bosun.start_worker()


def test_respect_ignore_differences_keeps_ignored_fields_on_sync(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    from tests.e2e.conftest import kubectl

    repo = GitRepo.create(tmp_path / "repo", {"web.json": deployment("web", replicas=2)})
    app, ns = unique("respect"), unique("ns")
    bosun.create_app(
        app,
        repo,
        namespace=ns,
        extra_spec={
            "ignoreDifferences": [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}],
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true", "RespectIgnoreDifferences=true"]},
        },
    )
    wait_status(bosun, app, sync="Synced", health="Healthy")
    kubectl(devcluster_a, "-n", ns, "scale", "deployment", "web", "--replicas=4")  # as an HPA would
    commit = repo.write({"web.json": deployment("web", replicas=2, labels={"release": "two"})}, "label")
    wait_status(bosun, app, sync="Synced", revision=commit)
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["metadata"]["labels"]["release"] == "two"  # the sync happened
    assert web["spec"]["replicas"] == 4  # and left the ignored field alone
