"""``/metrics`` on the real stack (issue 15, item 7): a real Prometheus (Debian's, as the analysis
tests use) scrapes a worker's ``/metrics`` and the Temporal SDK's metrics port, and answers PromQL
about a synced app with Argo CD's metric names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bosun.metrics import SDK_EXPORTED
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.prometheus import PROMETHEUS, Prometheus
from tests.e2e.test_app_lifecycle import configmap, wait_status
from tests.e2e.test_worker_processes import Stack, free_port, http_status

pytestmark = pytest.mark.skipif(not PROMETHEUS.exists(), reason="prometheus is not installed (scripts/setup)")


@pytest.fixture
def stack(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> Iterator[Stack]:
    own = Bosun(
        temporal=bosun.temporal,
        home=tmp_path / "home",
        kubeconfigs=bosun.kubeconfigs,
        task_queue=unique("bosun-metrics"),
        worker_log=tmp_path / "unused.log",
    )
    own.home.mkdir()
    result = Stack(own, devcluster_a, [])
    try:
        yield result
    finally:
        for worker in result.workers:
            worker.stop()


def value(prometheus: Prometheus, query: str) -> float:
    found: list[Any] = prometheus.query(query)
    return float(found[0]["value"][1]) if found else 0.0


def test_prometheus_scrapes_argo_cd_metrics_of_a_synced_app(stack: Stack, tmp_path: Path) -> None:
    sdk_port = free_port()
    worker = stack.start(env={"BOSUN_SDK_METRICS_PORT": str(sdk_port)})
    worker.wait_log(r"bosun worker polling")
    eventually(lambda: http_status(worker.port, "/metrics") == 200, what="/metrics 200")

    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("measured", {"by": "prometheus"})})
    app = unique("metrics")
    stack.bosun.create_app(app, repo, namespace=app)
    wait_status(stack.bosun, app, sync="Synced", health="Healthy", timeout=180)

    (tmp_path / "prom").mkdir()
    prometheus = Prometheus(tmp_path / "prom", [f"127.0.0.1:{worker.port}", f"127.0.0.1:{sdk_port}"])
    try:
        info = eventually(
            lambda: prometheus.query(f'argocd_app_info{{name="{app}",sync_status="Synced",health_status="Healthy"}}'),
            timeout=120,
            what="argocd_app_info of the synced app",
        )
        labels = info[0]["metric"]
        assert (labels["dest_namespace"], labels["project"], info[0]["value"][1]) == (app, "default", "1")
        assert labels["dest_server"] and labels["operation"] == "idle" and labels["repo"]
        assert labels.get("autosync_enabled") == "true"  # the app workflow's autosync memo
        # The automated sync that made it Synced, counted once by the app workflow's count_sync.
        synced = f'argocd_app_sync_total{{name="{app}",phase="Succeeded",project="default"}}'
        assert eventually(lambda: value(prometheus, f"sum({synced})") >= 1, timeout=60, what=synced)
        assert value(prometheus, "sum(argocd_app_k8s_request_total)") > 0
        assert value(prometheus, f'sum(argocd_app_k8s_request_total{{name="{app}",dry_run="true"}})') > 0
        assert value(prometheus, 'sum(argocd_git_request_total{request_type="ls-remote"})') > 0
        assert value(prometheus, 'sum(argocd_git_request_duration_seconds_count{request_type="ls-remote"})') > 0
        assert value(prometheus, "sum(argocd_app_reconcile_count)") > 0
        assert value(prometheus, 'max(argocd_cluster_connection_status{server="https://kubernetes.default.svc"})') == 1
        for name in sorted(SDK_EXPORTED):  # the SDK metrics the dashboard uses are there
            eventually(
                lambda name=name: value(prometheus, f'count({{__name__=~"{name}(_bucket)?"}})') > 0,
                timeout=60,
                what=f"the Temporal SDK's {name} scraped",
            )
        assert value(prometheus, f'up{{instance="127.0.0.1:{worker.port}"}}') == 1
    finally:
        prometheus.stop()


def test_two_processes_are_scraped_as_one_worker(stack: Stack, tmp_path: Path) -> None:
    """``--processes 2``: the supervisor serves both children's counters summed, and the apps once."""
    worker = stack.start("--processes", "2")
    worker.wait_log(r"bosun worker polling", count=2)
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("measured", {"by": "two processes"})})
    app = unique("metrics-procs")
    stack.bosun.create_app(app, repo, namespace=app)
    wait_status(stack.bosun, app, sync="Synced", health="Healthy", timeout=180)

    (tmp_path / "prom").mkdir()
    prometheus = Prometheus(tmp_path / "prom", [f"127.0.0.1:{worker.port}"])
    try:
        info = eventually(
            lambda: prometheus.query(f'argocd_app_info{{name="{app}",sync_status="Synced"}}'),
            timeout=120,
            what="argocd_app_info of the synced app, from process 0",
        )
        assert len(info) == 1 and info[0]["value"][1] == "1"
        assert value(prometheus, f'sum(argocd_app_k8s_request_total{{name="{app}"}})') > 0
        assert value(prometheus, 'sum(argocd_git_request_total{request_type="ls-remote"})') > 0
        assert value(prometheus, "sum(argocd_app_reconcile_count)") > 0
    finally:
        prometheus.stop()
