"""How Bosun finds and loads cluster credentials: kubeconfig files merged by the kubernetes
library, the pod's ServiceAccount (in-cluster), and which of them is the management cluster."""

from __future__ import annotations

import datetime
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.config import incluster_config

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, IN_CLUSTER_SERVER, ClusterRegistry, KubeError
from activities.kubeaccess import (
    InClusterAccess,
    KubeAccessError,
    KubeconfigAccess,
    management_access,
)
from worker.config import WorkerConfig


def write(path: Path, current: str | None, contexts: dict[str, tuple[str, dict[str, Any]]]) -> Path:
    """A kubeconfig with one cluster and one user per context: {context: (server, user)}."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": n, "cluster": {"server": s, "insecure-skip-tls-verify": True}} for n, (s, _) in contexts.items()
        ],
        "users": [{"name": n, "user": u} for n, (_, u) in contexts.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in contexts],
    }
    if current:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def bearer(access: Any) -> str:
    conf = access.api_client().configuration
    return str(conf.get_api_key_with_prefix("BearerToken"))


def test_files_merge_as_kubectl_merges_them(tmp_path: Path) -> None:
    first = write(tmp_path / "a", "mgmt", {"mgmt": ("https://10.0.0.1:6443", {"token": "a-token"})})
    second = write(
        tmp_path / "b",
        "other",  # a later file's current-context does not win
        {
            "other": ("https://10.0.0.2:6443", {"token": "b-token"}),
            "mgmt": ("https://10.9.9.9:6443", {"token": "shadowed"}),  # the first file's name wins
        },
    )
    access = KubeconfigAccess.of([first, second])
    assert access.contexts() == [("mgmt", "https://10.0.0.1:6443"), ("other", "https://10.0.0.2:6443")]
    assert access.api_client().configuration.host == "https://10.0.0.1:6443"
    assert bearer(access) == "Bearer a-token"
    assert bearer(access.with_context("other")) == "Bearer b-token"

    registry = ClusterRegistry(access)
    assert [c.name for c in registry.clusters()] == [IN_CLUSTER_NAME, "mgmt", "other"]
    assert registry.client(Destination(server="https://10.0.0.2:6443"))._api_client.configuration.host == (
        "https://10.0.0.2:6443"
    )


def test_token_file_users_are_read_relative_to_their_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "mgmt").write_text("file-token")
    path = write(tmp_path / "config", "mgmt", {"mgmt": ("https://10.0.0.1:6443", {"tokenFile": "tokens/mgmt"})})
    assert bearer(KubeconfigAccess.of(path)) == "Bearer file-token"


def test_a_missing_context_or_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "config", "mgmt", {"mgmt": ("https://10.0.0.1:6443", {"token": "t"})})
    with pytest.raises(KubeAccessError, match=r"has no context 'nope' \(contexts: mgmt\)"):
        KubeconfigAccess.of(path, "nope").api_client()
    with pytest.raises(KubeAccessError, match="not found"):
        KubeconfigAccess.of(tmp_path / "missing").api_client()
    registry = ClusterRegistry(KubeconfigAccess.of(tmp_path / "missing"))
    with pytest.raises(KubeError, match="not found") as caught:
        registry.resolve(Destination(name=IN_CLUSTER_NAME))
    assert not caught.value.retryable


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("first-token")
    (directory / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (directory / "namespace").write_text("bosun\n")
    return directory


def test_in_cluster_uses_the_service_account_and_rereads_a_rotated_token(
    service_account: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = InClusterAccess(service_account, "127.0.0.1", "6443")
    conf = access.api_client().configuration
    assert conf.host == "https://127.0.0.1:6443"
    assert conf.ssl_ca_cert == str(service_account / "ca.crt")
    assert conf.get_api_key_with_prefix("BearerToken") == "bearer first-token"
    assert access.namespace() == "bosun"

    # The kubelet rotates the bound token; the library re-reads the file after a minute.
    (service_account / "token").write_text("rotated-token")
    later = datetime.datetime.now() + datetime.timedelta(minutes=2)

    class Later(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:  # noqa: ARG003 - datetime's signature
            return cls.fromtimestamp(later.timestamp())

    monkeypatch.setattr(
        incluster_config, "datetime", types.SimpleNamespace(datetime=Later, timedelta=datetime.timedelta)
    )
    assert conf.get_api_key_with_prefix("BearerToken") == "bearer rotated-token"


def test_in_cluster_without_a_token_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeAccessError, match="in-cluster ServiceAccount .*token file does not exist"):
        InClusterAccess(tmp_path, "127.0.0.1", "6443").api_client()


def test_the_registry_in_a_pod_knows_in_cluster_only(service_account: Path) -> None:
    registry = ClusterRegistry(InClusterAccess(service_account, "10.96.0.1", "443"))
    [cluster] = registry.clusters()
    assert (cluster.name, cluster.server) == (IN_CLUSTER_NAME, IN_CLUSTER_SERVER)
    client = registry.client(Destination(server=IN_CLUSTER_SERVER))
    assert client._api_client.configuration.host == "https://10.96.0.1:443"


def test_which_credentials_are_the_management_cluster(tmp_path: Path, service_account: Path) -> None:
    pod = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    explicit = management_access({**pod, "BOSUN_KUBECONFIG": f"{tmp_path}/a:{tmp_path}/b", "KUBECONFIG": "/x"})
    assert explicit == KubeconfigAccess((tmp_path / "a", tmp_path / "b"))
    assert management_access({**pod, "KUBECONFIG": "/x"}) == KubeconfigAccess((Path("/x"),))
    assert management_access({**pod, "BOSUN_SERVICEACCOUNT_DIR": str(service_account)}) == InClusterAccess(
        service_account, "10.96.0.1", "443"
    )
    assert management_access(pod) == InClusterAccess(
        Path("/var/run/secrets/kubernetes.io/serviceaccount"), "10.96.0.1", "443"
    )
    outside = management_access({})
    assert isinstance(outside, KubeconfigAccess) and outside.files == (Path.home() / ".kube" / "config",)


def test_the_worker_in_a_pod_has_no_kubeconfig_and_uses_its_service_account(service_account: Path) -> None:
    config = WorkerConfig.from_env(
        {
            "KUBERNETES_SERVICE_HOST": "10.96.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
            "BOSUN_SERVICEACCOUNT_DIR": str(service_account),
        }
    )
    assert config.kubeconfigs == []
    assert config.management() == InClusterAccess(service_account, "10.96.0.1", "443")
    outside = WorkerConfig.from_env({"BOSUN_KUBECONFIG": "/k/a:/k/b"})
    assert outside.in_cluster is None and outside.kubeconfigs == [Path("/k/a"), Path("/k/b")]
    assert outside.management() == KubeconfigAccess((Path("/k/a"), Path("/k/b")))
