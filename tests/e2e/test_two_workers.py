"""Two workers on two "machines" (separate BOSUN_HOMEs) serve the same apps (issue 14, item 4).

Nothing depends on one machine's disk: whichever worker takes an activity, apps sync and
report correctly; a worker whose store misses a digest renders it again from its recipe; a
worker killed mid-sync leaves the sync to the other; a CLI on a third machine shows
``app diff`` and ``app manifests`` through Temporal. Each store stays under its bound.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

STORE_BOUND = 128 * 1024
SLACK = 64 * 1024
"""What the last second wrote (one render and its diff) may stand above the bound: never evicted."""
PAD = 30_000
RECOMPUTED = "is not in this worker's store: computing it again from its recipe"


def store_bytes(machine: Bosun) -> int:
    return sum(p.stat().st_size for p in (machine.home / "store").rglob("*") if p.is_file())


def blobs(machine: Bosun) -> int:
    return len(list((machine.home / "store" / "blobs").glob("*/*")))


@pytest.fixture
def machines(bosun: Bosun, tmp_path: Path) -> Iterator[tuple[Bosun, Bosun, Bosun]]:
    """Workers on machines A and B (their own task queue, shared), and machine C with only the CLI."""
    queue = unique("two-workers")
    small = {"BOSUN_STORE_MAX_BYTES": str(STORE_BOUND), "BOSUN_STORE_GRACE_SECONDS": "1"}
    a = bosun.machine(tmp_path / "machine-a", task_queue=queue, **small)
    b = bosun.machine(tmp_path / "machine-b", task_queue=queue, **small)
    c = bosun.machine(tmp_path / "machine-c", task_queue=queue)
    a.start_worker()
    b.start_worker()
    try:
        yield a, b, c
    finally:
        a.stop_worker()
        b.stop_worker()


@pytest.mark.timeout(1500)
def test_two_workers_serve_the_same_apps_and_a_third_machine_shows_diff_and_manifests(
    machines: tuple[Bosun, Bosun, Bosun], devcluster_a: Cluster, tmp_path: Path
) -> None:
    a, b, c = machines
    repo = GitRepo.create(
        tmp_path / "repo",
        {"web.json": deployment("web", replicas=1), "settings.json": configmap("settings", {"mode": "fast"})},
    )
    apps = [unique("two") for _ in range(2)]
    namespaces = {app: unique("ns") for app in apps}
    for app in apps:
        c.create_app(app, repo, namespace=namespaces[app])
    manual, manual_ns = unique("manual"), unique("ns")
    c.create_app(manual, repo, namespace=manual_ns, automated=False)

    # churn: every commit renders anew for every app (and diffs), several times the stores' bound
    for generation in range(3):
        commit = repo.write({"settings.json": configmap("settings", {"mode": f"gen{generation}", "pad": "x" * PAD})})
        for app in apps:
            status = wait_status(c, app, timeout=300, sync="Synced", health="Healthy", revision=commit)
            assert status["synced_revision"] == commit
            assert live(devcluster_a, namespaces[app], "configmap", "settings")["data"]["mode"] == f"gen{generation}"  # type: ignore[index]
    # both machines did the work, each store within its bound (a few just-written entries of slack)
    assert blobs(a) > 0 and blobs(b) > 0
    for machine in (a, b):
        assert store_bytes(machine) <= STORE_BOUND + SLACK, f"{machine.home}: {store_bytes(machine)} bytes"

    # machine C has no store and no worker: diff and manifests come through Temporal
    wait_status(c, manual, sync="OutOfSync")
    diff = c.cli("app", "diff", manual, check=False)
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert "ConfigMap/settings" in diff.stdout or "settings" in diff.stdout
    assert "gen2" in diff.stdout
    shown = c.cli("app", "manifests", manual)
    assert "name: settings" in shown.stdout and "mode: gen2" in shown.stdout and "kind: Deployment" in shown.stdout
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    old = c.cli("app", "manifests", manual, "--revision", first)
    assert "mode: fast" in old.stdout and "gen2" not in old.stdout
    synced = c.cli("app", "manifests", apps[0], "--source", "live")
    assert "mode: gen2" in synced.stdout and "tracking-id" in synced.stdout
    assert not (c.home / "store").exists()


@pytest.mark.timeout(1200)
def test_a_worker_killed_mid_sync_leaves_the_sync_to_the_other_which_renders_what_it_misses(
    machines: tuple[Bosun, Bosun, Bosun], devcluster_a: Cluster, tmp_path: Path
) -> None:
    a, b, c = machines
    repo = GitRepo.create(tmp_path / "repo", {"settings.json": configmap("settings", {"mode": "fast"})})
    app, ns = unique("crash2"), unique("ns")
    c.create_app(app, repo, namespace=ns, automated=False)
    wait_status(c, app, sync="OutOfSync")
    slow_job = {
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
    after = json.loads(configmap("after", {"wave": "3"}))
    after["metadata"]["annotations"] = {"argocd.argoproj.io/sync-wave": "3"}
    repo.write({"job.json": json.dumps(slow_job), "after.json": json.dumps(after)}, "slow job, then a later wave")
    sync = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "app", "sync", app],
        env=c.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    eventually(lambda: live(devcluster_a, ns, "job", "slow") is not None, timeout=120, what="Job created")
    a.kill_worker()
    # B's store loses everything (evicted, or B is a fresh machine): wave 3 is applied from a render done again
    shutil.rmtree(b.home / "store" / "blobs", ignore_errors=True)
    out, err = sync.communicate(timeout=400)
    assert sync.returncode == 0, out + err
    assert "Succeeded" in out
    job = live(devcluster_a, ns, "job", "slow")
    assert job and job["status"].get("succeeded") == 1
    assert live(devcluster_a, ns, "configmap", "after") is not None
    assert RECOMPUTED in b.worker_log.read_text()
    history = json.loads(c.cli("app", "history", app, "-o", "json").stdout)
    assert [h["phase"] for h in history] == ["Succeeded"]
    wait_status(c, app, sync="Synced")
