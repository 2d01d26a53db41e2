"""Live state from watches (issue #15 items 1-3): drift is seen at once, a compare with
nothing changed costs no API call, and a watch broken by an API server restart recovers.

The worker logs one line per compare with the requests it sent to the destination
cluster (``compare <app>: <how>, <n> objects, <k> API calls``, counted on the cluster's
client: requests other compares of that cluster sent meanwhile count too, so the figure
can only be too high)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from devstack import cluster as devcluster
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status


def compares(bosun: Bosun, app: str) -> list[tuple[str, int, int]]:
    """(how, objects, API calls) of each compare of ``app`` the worker logged, oldest first."""
    text = bosun.worker_log.read_text(errors="replace")
    pattern = re.compile(rf"compare {re.escape(app)}: ([^,]+), (\d+) objects, (\d+) API calls")
    return [(m.group(1), int(m.group(2)), int(m.group(3))) for m in pattern.finditer(text)]


def test_drift_is_reverted_within_seconds_with_a_long_refresh(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {"web.yaml": deployment("web", replicas=1), "settings.json": configmap("settings", {"mode": "fast"})},
    )
    app, ns = unique("drift"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, self_heal=True, refresh_seconds=180)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    kubectl(devcluster_a, "-n", ns, "scale", "deployment", "web", "--replicas=3")
    scaled = time.monotonic()
    eventually(
        lambda: live(devcluster_a, ns, "deployment", "web")["spec"]["replicas"] == 1,  # type: ignore[index]
        timeout=10,
        what="selfHeal scaled the Deployment back",
    )
    print(f"drift to healed: {time.monotonic() - scaled:.1f}s")  # a figure for the note (pytest -s)
    kubectl(
        devcluster_a, "-n", ns, "patch", "configmap", "settings", "--type=merge", "-p", '{"data": {"mode": "slow"}}'
    )
    eventually(
        lambda: live(devcluster_a, ns, "configmap", "settings")["data"]["mode"] == "fast",  # type: ignore[index]
        timeout=10,
        what="selfHeal reverted the ConfigMap",
    )


def test_an_app_of_500_objects_reconciles_with_no_api_call_when_nothing_changed(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    documents = [json.loads(configmap(f"cm-{i:03d}", {"index": str(i)})) for i in range(500)]
    repo = GitRepo.create(tmp_path / "repo", {"all.yaml": "\n---\n".join(json.dumps(d) for d in documents)})
    app, ns = unique("many"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, refresh_seconds=3)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=600)
    seen = len(compares(bosun, app))
    # Two compares after it is synced, none of which sent any request to the cluster: the
    # second at the latest finds nothing changed, in the workflow's worker ("unchanged: checked",
    # activities/unchanged.py) or from the memo of the first ("unchanged: last result").
    eventually(
        lambda: [c for c in compares(bosun, app)[seen:] if c[2] == 0 and c[1] == 500][1:],
        timeout=120,
        what="two compares of 500 objects with 0 API calls",
    )
    assert any(how.startswith("unchanged: ") for how, _, calls in compares(bosun, app)[seen:] if calls == 0)
    # A change made by hand is seen (the cache follows the cluster), and costs a few calls only.
    kubectl(devcluster_a, "-n", ns, "patch", "configmap", "cm-250", "--type=merge", "-p", '{"data": {"index": "x"}}')
    status = wait_status(bosun, app, sync="OutOfSync", timeout=60)
    row = next(r for r in status["resources"] if r["key"]["name"] == "cm-250")
    assert "/data/index" in row["changed_paths"]


def test_a_watch_broken_by_an_api_server_restart_recovers_and_the_cache_follows(
    bosun: Bosun, devcluster_a: Cluster, tmp_path: Path
) -> None:
    state = devcluster.ClusterState.load(devcluster_a.kubeconfig.parent)
    if state is None or "kube-apiserver" not in state.pids:
        pytest.skip("the devcluster was not started by this session (BOSUN_TEST_KUBECONFIG): cannot restart it")
    files = {f"cm{i}.json": configmap(f"cm-{i}", {"value": "git"}) for i in range(3)}
    repo = GitRepo.create(tmp_path / "repo", files)
    app, ns = unique("restart"), unique("ns")
    bosun.create_app(app, repo, namespace=ns, refresh_seconds=3, automated=False)  # drift stays
    wait_status(bosun, app, sync="OutOfSync", timeout=120)
    bosun.cli("app", "sync", app)
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    listed_before = bosun.worker_log.read_text(errors="replace").count("v1 ConfigMap listed")

    devcluster.restart_apiserver(state)

    # The watch reconnects (with backoff) and lists again.
    eventually(
        lambda: bosun.worker_log.read_text(errors="replace").count("v1 ConfigMap listed") > listed_before,
        timeout=120,
        what="the ConfigMap watch listed again after the restart",
    )
    kubectl(devcluster_a, "-n", ns, "patch", "configmap", "cm-1", "--type=merge", "-p", '{"data": {"value": "hand"}}')
    kubectl(devcluster_a, "-n", ns, "delete", "configmap", "cm-2")
    eventually(
        lambda: (
            {r["key"]["name"]: (r["sync"], r["health"]) for r in bosun.status(app)["resources"]}
            == {"cm-0": ("Synced", None), "cm-1": ("OutOfSync", None), "cm-2": ("OutOfSync", "Missing")}
        ),
        timeout=60,
        what="the change and the deletion made after the restart are seen",
    )
    # ... and they are seen in the cache: a compare answered from it, with no API call.
    seen = len(compares(bosun, app))
    eventually(
        lambda: [c for c in compares(bosun, app)[seen:] if c[2] == 0],
        timeout=60,
        what="a compare answered from the cache after the restart",
    )
