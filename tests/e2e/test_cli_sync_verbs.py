"""The sync verbs Argo CD users reach for, through the CLI on the real stack (issue 11):
``app refresh``, ``app get --refresh|--hard-refresh``, ``app sync --async|--resource|--force|
--replace|--apply-out-of-sync-only``, ``app diff --local`` (with no worker) and
``app resources [--orphaned]``."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from bosun.resources import ResourceKey
from bosun.tracking import ANNOTATION as TRACKING_ANNOTATION
from bosun.tracking import tracking_id
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, live, wait_status
from tests.e2e.test_sync_operations import job


def activity_summaries(bosun: Bosun, workflow_id: str) -> list[str]:
    async def fetch() -> list[str]:
        client = await Client.connect(bosun.temporal.address)
        events = (await client.get_workflow_handle(workflow_id).fetch_history()).events
        return [
            e.user_metadata.summary.data.decode()
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and e.user_metadata.summary.data
        ]

    return asyncio.run(fetch())


def workflow_status(bosun: Bosun, workflow_id: str) -> WorkflowExecutionStatus | None:
    async def describe() -> WorkflowExecutionStatus | None:
        client = await Client.connect(bosun.temporal.address)
        return (await client.get_workflow_handle(workflow_id).describe()).status

    return asyncio.run(describe())


def secret(name: str, value: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {"password": base64.b64encode(value.encode()).decode()},
        }
    )


def web_deployment(selector: str) -> str:
    """A Deployment whose (immutable) selector is ``tier=<selector>``."""
    labels = {"app": "web", "tier": selector}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
                },
            },
        }
    )


def result_of(proc: Any) -> dict[str, Any]:
    return dict(json.loads(proc.stdout))


# --------------------------------------------------------------------------- refresh


def test_refresh_and_get_refresh_compare_now_and_hard_refresh_renders_again(bosun: Bosun, tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("settings", {"mode": "fast"})})
    app, ns = unique("refresh"), unique("ns")
    first = repo.git("rev-parse", "HEAD")
    bosun.create_app(app, repo, namespace=ns, automated=False, refresh_seconds=600)  # no timer refresh here
    wait_status(bosun, app, revision=first)

    second = repo.write({"cm.json": configmap("settings", {"mode": "slow"})}, "slow")
    out = bosun.cli("app", "refresh", app).stdout
    assert second[:12] in out and "OutOfSync" in out
    assert bosun.status(app)["revision"] == second

    third = repo.write({"cm.json": configmap("settings", {"mode": "slower"})}, "slower")
    assert result_of(bosun.cli("app", "get", app, "--refresh", "-o", "json"))["revision"] == third
    assert not any(s.startswith('"hard refresh:') for s in activity_summaries(bosun, f"app:{app}"))

    status = result_of(bosun.cli("app", "get", app, "--hard-refresh", "-o", "json"))
    assert status["revision"] == third
    assert any(s.startswith('"hard refresh: render') for s in activity_summaries(bosun, f"app:{app}"))
    bosun.cli("app", "refresh", app, "--hard")
    assert sum(s.startswith('"hard refresh: render') for s in activity_summaries(bosun, f"app:{app}")) == 2


# --------------------------------------------------------------------------- sync --async


def test_sync_async_returns_before_the_sync_ends_with_its_operation_and_workflow(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "pre.json": job("slow-migrate", hook="PreSync", run_ms=8000),
            "cm.json": configmap("settings", {"a": "b"}),
        },
    )
    app, ns = unique("async"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")

    out = bosun.cli("app", "sync", app, "--async").stdout
    returned = datetime.now(UTC)
    assert f"Operation #1 queued: workflow app:{app}:sync:1" in out

    def finished() -> list[dict[str, Any]]:
        return list(json.loads(bosun.cli("app", "history", app, "-o", "json").stdout))

    (entry,) = eventually(finished, timeout=180, what="the queued sync finished")
    assert (entry["id"], entry["phase"], entry["workflow_id"]) == (1, "Succeeded", f"app:{app}:sync:1")
    assert returned < datetime.fromisoformat(entry["finished_at"])  # the command did not wait for it
    assert workflow_status(bosun, f"app:{app}:sync:1") == WorkflowExecutionStatus.COMPLETED
    assert live(devcluster_a, ns, "configmap", "settings") is not None


# --------------------------------------------------------------------------- sync --resource


def test_partial_sync_applies_only_the_named_resources_and_runs_no_hooks(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "a.json": configmap("alpha", {"x": "1"}),
            "b.json": configmap("beta", {"x": "1"}),
            "pre.json": job("migrate", hook="PreSync"),
        },
    )
    app, ns = unique("partial"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")

    result = result_of(bosun.cli("app", "sync", app, "--resource", f":ConfigMap:{ns}/alpha", "-o", "json"))
    assert result["phase"] == "Succeeded"
    assert [(r["key"]["kind"], r["key"]["name"]) for r in result["resources"]] == [("ConfigMap", "alpha")]
    assert live(devcluster_a, ns, "configmap", "alpha") is not None
    assert live(devcluster_a, ns, "configmap", "beta") is None
    assert live(devcluster_a, ns, "job", "migrate") is None  # no hook runs in a partial sync
    assert json.loads(bosun.cli("app", "history", app, "-o", "json").stdout) == []  # as Argo CD: no history

    wrong = bosun.cli("app", "sync", app, "--resource", ":ConfigMap:nothing-like-this", check=False)
    assert wrong.returncode == 2 and "no resource" in wrong.stderr
    bad = bosun.cli("app", "sync", app, "--resource", "ConfigMap:alpha", check=False)
    assert bad.returncode == 2 and "GROUP:KIND:NAME" in bad.stderr

    everything_but_alpha = bosun.cli("app", "sync", app, "--resource", "!:ConfigMap:alpha", "-o", "json")
    names = [r["key"]["name"] for r in result_of(everything_but_alpha)["resources"]]
    assert names == ["beta"]


# --------------------------------------------------------------------------- --force, --replace, ...


def test_force_replace_and_apply_out_of_sync_only_for_one_sync(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "web.json": web_deployment("one"),
            "settings.json": configmap("settings", {"mode": "fast"}),
            "other.json": configmap("other", {"mode": "fast"}),
        },
    )
    app, ns = unique("options"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    bosun.cli("app", "sync", app)

    # --apply-out-of-sync-only: the Synced resources are not applied again
    repo.write({"settings.json": configmap("settings", {"mode": "slow"})}, "settings")
    result = result_of(bosun.cli("app", "sync", app, "--apply-out-of-sync-only", "-o", "json"))
    assert [r["key"]["name"] for r in result["resources"]] == ["settings"]
    assert live(devcluster_a, ns, "configmap", "settings")["data"]["mode"] == "slow"  # type: ignore[index]

    # --replace: a PUT (managedFields operation Update), not a server-side apply
    repo.write({"other.json": configmap("other", {"mode": "slow"})}, "other")
    bosun.cli("app", "sync", app, "--replace", "--resource", ":ConfigMap:other")
    other = json.loads(
        kubectl(devcluster_a, "-n", ns, "get", "configmap", "other", "-o", "json", "--show-managed-fields")
    )
    assert other["data"]["mode"] == "slow"
    assert ("bosun", "Update") in {(m["manager"], m["operation"]) for m in other["metadata"]["managedFields"]}
    settings = json.loads(
        kubectl(devcluster_a, "-n", ns, "get", "configmap", "settings", "-o", "json", "--show-managed-fields")
    )
    assert ("bosun", "Update") not in {(m["manager"], m["operation"]) for m in settings["metadata"]["managedFields"]}

    # --force: an immutable field (the selector) changed: deleted and created again
    before = live(devcluster_a, ns, "deployment", "web")
    assert before
    repo.write({"web.json": web_deployment("two")}, "new selector")
    refused = bosun.cli("app", "sync", app, check=False)
    assert refused.returncode == 1 and "immutable" in refused.stdout
    bosun.cli("app", "sync", app, "--force")
    after = live(devcluster_a, ns, "deployment", "web")
    assert after and after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["spec"]["selector"]["matchLabels"]["tier"] == "two"


# --------------------------------------------------------------------------- resources


def test_resources_lists_the_app_and_orphaned_lists_what_no_app_tracks(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    ns = unique("ns")
    repo = GitRepo.create(
        tmp_path / "repo", {"a.json": configmap("alpha", {"x": "1"}), "pre.json": job("migrate", hook="PostSync")}
    )
    neighbour_repo = GitRepo.create(tmp_path / "neighbour", {"b.json": configmap("beta", {"x": "1"})})
    app, neighbour = unique("res"), unique("neighbour")
    bosun.create_app(app, repo, namespace=ns)
    bosun.create_app(neighbour, neighbour_repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    wait_status(bosun, neighbour, sync="Synced")
    kubectl(devcluster_a, "-n", ns, "create", "configmap", "stray", "--from-literal=x=1")
    left_behind = json.loads(configmap("left-behind", {"x": "1"}))
    gone = tracking_id("gone-app", ResourceKey(kind="ConfigMap", namespace=ns, name="left-behind"))
    left_behind["metadata"]["annotations"] = {TRACKING_ANNOTATION: gone}  # an app since deleted
    kubectl(devcluster_a, "-n", ns, "apply", "-f", "-", input=json.dumps(left_behind))

    table = bosun.cli("app", "resources", app).stdout
    header, *rows = table.splitlines()
    assert header.split() == ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "HOOK", "MESSAGE"]
    assert any(r.split()[:4] == ["ConfigMap", ns, "alpha", "Synced"] for r in rows)
    assert any(r.split()[:3] == ["batch", "Job", ns] and "Yes" in r.split() for r in rows)

    orphaned = json.loads(bosun.cli("app", "resources", app, "--orphaned", "-o", "json").stdout)
    found = {(o["key"]["kind"], o["key"]["name"]) for o in orphaned}
    assert found == {("ConfigMap", "stray"), ("ConfigMap", "left-behind")}  # beta: its app exists
    orphaned_table = bosun.cli("app", "resources", app, "--orphaned").stdout
    assert "stray" in orphaned_table and "kube-root-ca.crt" not in orphaned_table


# --------------------------------------------------------------------------- diff --local


def test_diff_local_renders_a_checkout_against_the_cluster_with_no_worker(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    files = {
        "settings.json": configmap("settings", {"mode": "fast"}),
        "old.json": configmap("old", {"x": "1"}),
        "db.json": secret("db", "hunter2-in-git"),
    }
    repo = GitRepo.create(tmp_path / "repo", files)
    app, ns = unique("localdiff"), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    wait_status(bosun, app, sync="Synced", health="Healthy")
    same = tmp_path / "same"
    same.mkdir()
    for name, text in files.items():
        (same / name).write_text(text)
    branch = tmp_path / "branch"  # the pull request: one change, one new, one removed, a new password
    branch.mkdir()
    (branch / "settings.json").write_text(configmap("settings", {"mode": "slow"}))
    (branch / "new.json").write_text(configmap("new", {"y": "2"}))
    (branch / "db.json").write_text(secret("db", "s3cret-in-the-branch"))
    app_file = tmp_path / "app.json"
    app_file.write_text(
        json.dumps(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": app},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": repo.url, "path": ".", "targetRevision": "HEAD"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                },
            }
        )
    )
    kubeconfig = str(devcluster_a.kubeconfig)

    bosun.stop_worker()
    try:
        started = time.monotonic()
        diff = bosun.cli(
            "app", "diff", app, "--local", str(branch), "--kubeconfig", kubeconfig, check=False, timeout=120
        )
        assert diff.returncode == 1, diff.stderr
        assert time.monotonic() - started < 60  # it did not wait for a worker
        out = diff.stdout
        assert "-  mode: fast" in out and "+  mode: slow" in out
        assert f"+++ desired/ConfigMap/{ns}/new" in out
        assert f"/ConfigMap/{ns}/old would be pruned" in out
        assert "/Secret/" in out and "++++++++" in out
        for plain in (
            "hunter2",
            "s3cret",
            base64.b64encode(b"s3cret-in-the-branch").decode(),
            base64.b64encode(b"hunter2-in-git").decode(),
        ):
            assert plain not in out

        unchanged = bosun.cli("app", "diff", app, "--local", str(same), "--kubeconfig", kubeconfig, check=False)
        assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
        assert unchanged.stdout.strip() == ""

        # fully local: the Application from a file, Temporal not even reachable
        bosun.env["BOSUN_TEMPORAL_ADDRESS"], address = "127.0.0.1:1", bosun.env["BOSUN_TEMPORAL_ADDRESS"]
        try:
            offline = bosun.cli(
                "app", "diff", app, "--local", str(branch), "-f", str(app_file), "--kubeconfig", kubeconfig, check=False
            )
        finally:
            bosun.env["BOSUN_TEMPORAL_ADDRESS"] = address
        assert offline.returncode == 1 and "+  mode: slow" in offline.stdout, offline.stderr
    finally:
        bosun.start_worker()
    assert live(devcluster_a, ns, "configmap", "settings")["data"]["mode"] == "fast"  # type: ignore[index]
