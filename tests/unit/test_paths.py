"""The one place that says where Bosun keeps its files (bosun.paths)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bosun.paths import bosun_cache, bosun_home, default_kubeconfig, first_kubeconfig, store_dir
from devstack.cluster import cluster_dir
from devstack.temporal import temporal_dir
from worker.config import WorkerConfig


def test_home_and_cache_come_from_the_environment() -> None:
    env = {"BOSUN_HOME": "/srv/bosun", "BOSUN_CACHE": "/var/cache/bosun"}
    assert bosun_home(env) == Path("/srv/bosun")
    assert bosun_cache(env) == Path("/var/cache/bosun")
    assert store_dir(bosun_home(env)) == Path("/srv/bosun/store")


@pytest.mark.parametrize("env", [{}, {"BOSUN_HOME": "", "BOSUN_CACHE": ""}], ids=["unset", "empty"])
def test_unset_or_empty_means_the_default_under_the_user_home(env: dict[str, str]) -> None:
    assert bosun_home(env) == Path.home() / ".bosun"
    assert bosun_cache(env) == Path.home() / ".cache" / "bosun"


def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_HOME", "/tmp/bosun-home-test")
    assert bosun_home() == Path("/tmp/bosun-home-test")


def test_worker_cli_and_dev_stack_share_the_one_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_HOME", "/tmp/bosun-home-test")
    assert WorkerConfig.from_env().home == Path("/tmp/bosun-home-test")
    assert temporal_dir() == Path("/tmp/bosun-home-test/temporal")
    assert cluster_dir("dev") == Path("/tmp/bosun-home-test/devclusters/dev")


def test_the_first_kubeconfig_named_wins_else_kubectls_default() -> None:
    assert first_kubeconfig(None, "", f"/a/one{os.pathsep}/a/two", "/b") == Path("/a/one")
    assert first_kubeconfig("~/flag") == Path.home() / "flag"
    assert first_kubeconfig(None, os.pathsep) == default_kubeconfig() == Path.home() / ".kube" / "config"
