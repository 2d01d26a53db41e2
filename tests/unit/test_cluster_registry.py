"""ClusterRegistry: destinations by server URL or name, from kubeconfig files and cluster Secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from activities.clusters import ClusterConfigError, ClusterEntry, ClusterSecretStore, ClusterSnapshot
from activities.contracts import Destination
from activities.destinations import cluster_task_queue
from activities.kube import IN_CLUSTER_SERVER, ClusterRegistry, KubeError
from activities.kubeaccess import KubeconfigAccess


def kubeconfig(path: Path, contexts: dict[str, str], current: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": current,
                "clusters": [
                    {"name": n, "cluster": {"server": url, "insecure-skip-tls-verify": True}}
                    for n, url in contexts.items()
                ],
                "users": [{"name": "u", "user": {"token": "t0ken"}}],
                "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in contexts],
            }
        )
    )
    return path


@pytest.fixture
def registry(tmp_path: Path) -> ClusterRegistry:
    management = kubeconfig(
        tmp_path / "a", {"other": "https://10.0.0.9:6443", "mgmt": "https://10.0.0.1:6443"}, current="mgmt"
    )
    secrets = ClusterSecretStore.static(
        [
            ClusterEntry(
                name="production", server="https://prod.example.com:6443/", secret="cluster-prod", bearer_token="s3cret"
            )
        ],
        errors=[("cluster-broken", "Secret bosun/cluster-broken: data.config is not valid JSON")],
    )
    return ClusterRegistry(KubeconfigAccess.of(management), secrets=secrets)


def test_in_cluster_is_the_first_kubeconfigs_current_context(registry: ClusterRegistry) -> None:
    clusters = registry.clusters()
    assert clusters[0].name == "in-cluster" and clusters[0].server == IN_CLUSTER_SERVER
    assert registry.resolve(Destination(server=IN_CLUSTER_SERVER)).name == "in-cluster"
    assert registry.resolve(Destination(name="in-cluster")).name == "in-cluster"
    assert registry.client(Destination(name="in-cluster"))._api_client.configuration.host == "https://10.0.0.1:6443"


def test_contexts_and_secrets_resolve_by_name_or_server(registry: ClusterRegistry) -> None:
    assert [c.name for c in registry.clusters()] == ["in-cluster", "mgmt", "other", "production"]
    assert registry.resolve(Destination(server="https://10.0.0.9:6443")).name == "other"
    prod = registry.resolve(Destination(server="https://prod.example.com:6443"))
    assert prod.name == "production" and prod.origin == "Secret cluster-prod"
    assert registry.resolve(Destination(name="production")).server == "https://prod.example.com:6443"
    client = registry.client(Destination(name="production"))
    assert client._api_client.configuration.host.rstrip("/") == "https://prod.example.com:6443"
    assert client is registry.client(Destination(server="https://prod.example.com:6443"))  # cached


def test_unknown_cluster_names_itself_and_the_unusable_secrets(registry: ClusterRegistry) -> None:
    with pytest.raises(KubeError) as caught:
        registry.resolve(Destination(name="staging"))
    message = str(caught.value)
    assert "'staging' is not known" in message and "cluster-broken" in message and "not valid JSON" in message
    assert not caught.value.retryable


def test_a_destination_must_name_a_cluster(registry: ClusterRegistry) -> None:
    with pytest.raises(KubeError, match="names no cluster"):
        registry.resolve(Destination(namespace="default"))


def test_each_cluster_has_its_own_task_queue() -> None:
    assert cluster_task_queue("bosun", "production") == "bosun/cluster:production"
    assert cluster_task_queue("bosun", "in-cluster") != cluster_task_queue("bosun", "production")


def test_clusters_from_secrets_stay_known_while_the_management_cluster_is_unreadable(tmp_path: Path) -> None:
    management = kubeconfig(tmp_path / "a", {"mgmt": "https://10.0.0.1:6443"}, current="mgmt")
    reads = iter(
        [
            ClusterSnapshot((ClusterEntry(name="production", server="https://prod:6443", secret="c"),)),
            ClusterConfigError("cannot list cluster Secrets: management cluster unreachable", retryable=True),
        ]
    )

    def read() -> ClusterSnapshot:
        value = next(reads)
        if isinstance(value, Exception):
            raise value
        return value

    registry = ClusterRegistry(KubeconfigAccess.of(management), secrets=ClusterSecretStore(read, ttl=0))
    assert registry.resolve(Destination(name="production")).server == "https://prod:6443"
    assert [c.name for c in registry.clusters()] == ["in-cluster", "mgmt", "production"]  # read fails now


def test_a_namespaced_cluster_permits_only_its_namespaces(tmp_path: Path) -> None:
    management = kubeconfig(tmp_path / "a", {"mgmt": "https://10.0.0.1:6443"}, current="mgmt")
    secrets = ClusterSecretStore.static(
        [
            ClusterEntry(name="shared", server="https://shared:6443", secret="c1", namespaces=("web", "api")),
            ClusterEntry(
                name="shared-admin",
                server="https://shared2:6443",
                secret="c2",
                namespaces=("web",),
                cluster_resources=True,
            ),
        ]
    )
    registry = ClusterRegistry(KubeconfigAccess.of(management), secrets=secrets)
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "namespace": "web"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "no", "namespace": "db"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "db"}},
    ]
    shared = registry.resolve(Destination(name="shared")).violations(objects)
    assert len(shared) == 2
    assert "ConfigMap/no" in shared[0] and "only namespaces web, api" in shared[0]
    assert "Namespace/db" in shared[1] and "cluster-scoped" in shared[1]
    admin = registry.resolve(Destination(name="shared-admin")).violations(objects)
    assert len(admin) == 1 and "ConfigMap/no" in admin[0]
    assert registry.resolve(Destination(name="in-cluster")).violations(objects) == []
