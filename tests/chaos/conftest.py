"""Fixtures of the chaos test: a stack of its own that the test may break.

The Temporal dev server is this module's own (restarting the session's would break every
other test's worker); the devcluster is the session's ``devcluster_a``, whose API server
is restarted as ``tests/e2e/test_live_cache.py`` does; the worker, its ``BOSUN_HOME`` and
task queue are the chaos test's own. Every test here is marked ``e2e`` (real servers).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devstack import cluster as devcluster
from devstack import processes
from devstack import temporal as devtemporal
from tests.chaos.chaos_run import ChaosStack, git_server
from tests.conftest import Cluster, TemporalServer
from tests.e2e.bosun_stack import Bosun, prepare_management_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def chaos_stack(devcluster_a: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosStack]:
    state = devcluster.ClusterState.load(devcluster_a.kubeconfig.parent)
    if state is None or "kube-apiserver" not in state.pids:
        pytest.skip("the devcluster was not started by this session (BOSUN_TEST_KUBECONFIG): cannot restart it")
    prepare_management_cluster(devcluster_a.kubeconfig)
    temporal_dir = tmp_path_factory.mktemp("chaos-temporal")
    port, ui_port = processes.free_ports(2)
    temporal = devtemporal.up(port=port, ui_port=ui_port, directory=temporal_dir)
    home = tmp_path_factory.mktemp("chaos-home")
    bosun = Bosun(
        temporal=TemporalServer(address=temporal.address, ui_url=temporal.ui_url),
        home=home,
        kubeconfigs=[devcluster_a.kubeconfig],
        task_queue=f"bosun-chaos-{uuid.uuid4().hex[:6]}",
        worker_log=home / "worker.log",
    )
    try:
        with git_server(tmp_path_factory.mktemp("chaos-git")) as server:
            bosun.start_worker()
            try:
                yield ChaosStack(
                    bosun=bosun,
                    temporal_dir=temporal_dir,
                    cluster=state,
                    git_server=server,
                    work=tmp_path_factory.mktemp("chaos-work"),
                )
            finally:
                bosun.stop_worker()
    finally:
        devtemporal.down(directory=temporal_dir)
