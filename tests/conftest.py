"""Session fixtures for the real local stack.

``devcluster`` / ``second_devcluster`` start real control planes (devstack.cluster),
``temporal_server`` the real Temporal dev server (devstack.temporal). Each is started
only when a test asks for it, and torn down at the end only if this session started
it. To reuse running ones (fast iteration), name them:

    BOSUN_TEST_KUBECONFIG=~/.bosun/devclusters/dev/kubeconfig
    BOSUN_TEST_KUBECONFIG_2=~/.bosun/devclusters/other/kubeconfig
    BOSUN_TEST_TEMPORAL_ADDRESS=127.0.0.1:7233
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devstack import cluster as devcluster
from devstack import processes
from devstack import temporal as devtemporal


@dataclass(frozen=True)
class Cluster:
    """What a test needs to reach a devcluster."""

    name: str
    kubeconfig: Path

    @property
    def server(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])


def _cluster(name: str, env_var: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reuse = os.environ.get(env_var)
    if reuse:
        yield Cluster(name=name, kubeconfig=Path(reuse).expanduser())
        return
    directory = tmp_path_factory.mktemp(name)
    state = devcluster.up(name, directory=directory, nodes=2, pod_run_ms=500)
    try:
        yield Cluster(name=name, kubeconfig=state.kubeconfig)
    finally:
        devcluster.down(name, directory=directory)


@pytest.fixture(scope="session")
def devcluster_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _cluster("test-a", "BOSUN_TEST_KUBECONFIG", tmp_path_factory)


@pytest.fixture(scope="session")
def devcluster_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _cluster("test-b", "BOSUN_TEST_KUBECONFIG_2", tmp_path_factory)


@dataclass(frozen=True)
class TemporalServer:
    address: str
    ui_url: str | None
    directory: Path | None = None
    """Where the dev server keeps its state (None: a reused server)."""


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    reuse = os.environ.get("BOSUN_TEST_TEMPORAL_ADDRESS")
    if reuse:
        yield TemporalServer(address=reuse, ui_url=os.environ.get("BOSUN_TEST_TEMPORAL_UI"))
        return
    directory = tmp_path_factory.mktemp("temporal")
    port, ui_port = processes.free_ports(2)
    state = devtemporal.up(port=port, ui_port=ui_port, directory=directory)
    try:
        yield TemporalServer(address=state.address, ui_url=state.ui_url, directory=directory)
    finally:
        devtemporal.down(directory=directory)
