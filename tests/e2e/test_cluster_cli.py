"""``bosun cluster add|list|rm`` against real devclusters: A manages, B is the destination.

``add --use-own-credentials`` reads B's context from ``KUBECONFIG`` and writes Argo CD's cluster Secret into A
(``BOSUN_KUBECONFIG``); what the worker would read back from A really reaches B, and
nothing the CLI prints carries B's credentials.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from activities.clusters import ClusterSecrets
from tests.conftest import Cluster
from tests.e2e.bosun_stack import unique
from tests.e2e.conftest import kubectl, kubectl_json

OWN = ("--use-own-credentials",)
"""These tests are about the Secret holding a context's own credentials (bosun-manager: test_incluster)."""


@dataclass(frozen=True)
class Setup:
    namespace: str
    env: dict[str, str]
    context: str
    """devcluster B's context in its kubeconfig."""


@pytest.fixture
def setup(devcluster_a: Cluster, devcluster_b: Cluster) -> Iterator[Setup]:
    namespace = unique("clusters")
    env = {**os.environ, "BOSUN_KUBECONFIG": str(devcluster_a.kubeconfig), "KUBECONFIG": str(devcluster_b.kubeconfig)}
    env.pop("BOSUN_CONTROL_NAMESPACE", None)
    env.pop("BOSUN_SECRETS_NAMESPACE", None)
    context = str(yaml.safe_load(devcluster_b.kubeconfig.read_text())["current-context"])
    yield Setup(namespace=namespace, env=env, context=context)
    kubectl(devcluster_a, "delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def cli(setup: Setup, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "cluster", *args, "--secrets-namespace", setup.namespace],
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=300,  # a CLI start takes tens of seconds on a loaded machine
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"bosun cluster {args[0]} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def credentials(cluster: Cluster) -> list[str]:
    """The client key of ``cluster``'s kubeconfig, as text, its lines, and base64."""
    user = yaml.safe_load(cluster.kubeconfig.read_text())["users"][0]["user"]
    key = base64.b64decode(user["client-key-data"]).decode()
    lines = [line for line in key.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]
    return [user["client-key-data"], key.strip(), *lines]


def cluster_secrets(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    listing = kubectl_json(cluster, "-n", namespace, "get", "secrets", "-l", "argocd.argoproj.io/secret-type=cluster")
    return list(listing["items"])


def test_add_list_rm_a_cluster_that_really_is_reachable(
    setup: Setup, devcluster_a: Cluster, devcluster_b: Cluster
) -> None:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    out = cli(setup, "add", setup.context, *OWN, "--name", "dev-b", "--namespace", "web", "--namespace", "api").stdout
    [secret] = cluster_secrets(devcluster_a, setup.namespace)
    name = secret["metadata"]["name"]
    assert out.strip() == f"cluster dev-b ({devcluster_b.server}) added (Secret {setup.namespace}/{name})"
    assert name.startswith("cluster-127.0.0.1-")
    assert secret["metadata"]["labels"] == {
        "argocd.argoproj.io/secret-type": "cluster",
        "app.kubernetes.io/managed-by": "bosun",
    }
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(data) == {"name", "server", "config", "namespaces"}
    assert (data["name"], data["server"], data["namespaces"]) == ("dev-b", devcluster_b.server, "api,web")
    tls = json.loads(data["config"])["tlsClientConfig"]
    assert set(tls) == {"insecure", "caData", "certData", "keyData"} and tls["insecure"] is False
    assert setup.namespace not in kubectl(devcluster_b, "get", "namespaces", "-o", "name")  # written into A only

    # What the worker reads from A connects to B.
    snapshot = ClusterSecrets(devcluster_a.kubeconfig, namespace=setup.namespace).list()
    assert snapshot.errors == ()
    [entry] = snapshot.entries
    assert (entry.name, entry.server, entry.namespaces, entry.auth) == (
        "dev-b",
        devcluster_b.server,
        ("api", "web"),
        "client certificate",
    )
    new_client: Any = k8s_config.new_client_from_config_dict  # untyped
    api = new_client(entry.kubeconfig(), context=entry.name)
    assert k8s_client.VersionApi(api).get_code(_request_timeout=15).git_version
    marker = unique("reached")
    k8s_client.CoreV1Api(api).create_namespaced_config_map(
        "default", k8s_client.V1ConfigMap(metadata=k8s_client.V1ObjectMeta(name=marker)), _request_timeout=15
    )
    try:
        assert marker in kubectl(devcluster_b, "-n", "default", "get", "configmaps", "-o", "name")
        assert marker not in kubectl(devcluster_a, "-n", "default", "get", "configmaps", "-o", "name")
    finally:
        kubectl(devcluster_b, "-n", "default", "delete", "configmap", marker, check=False)

    listed = cli(setup, "list", "-o", "json")
    assert json.loads(listed.stdout) == [
        {
            "name": "dev-b",
            "server": devcluster_b.server,
            "auth": "client certificate",
            "namespaces": ["api", "web"],
            "project": "",
            "insecure": False,
            "secret": name,
        }
    ]
    table = cli(setup, "list").stdout
    assert "dev-b" in table and "client certificate" in table and name in table
    for text in (listed.stdout, listed.stderr, table, out):
        for value in credentials(devcluster_b):
            assert value not in text

    again = cli(setup, "add", setup.context, *OWN, "--name", "dev-b", check=False)
    assert again.returncode == 1 and "exists (use --upsert to replace it)" in again.stderr
    updated = cli(setup, "add", setup.context, *OWN, "--name", "dev-b", "--upsert").stdout
    assert updated.strip() == f"cluster dev-b ({devcluster_b.server}) updated (Secret {setup.namespace}/{name})"
    assert "namespaces" not in cluster_secrets(devcluster_a, setup.namespace)[0]["data"]

    removed = cli(setup, "rm", "dev-b").stdout
    assert removed.strip() == f"removed dev-b (Secret {setup.namespace}/{name})"
    assert cluster_secrets(devcluster_a, setup.namespace) == []
    gone = cli(setup, "rm", "dev-b", check=False)
    assert gone.returncode == 3 and "no cluster dev-b" in gone.stderr


def test_a_broken_secret_is_reported_and_hides_nothing(
    setup: Setup, devcluster_a: Cluster, devcluster_b: Cluster
) -> None:
    token = "broken-secret-token-0123456789"
    cli(setup, "add", setup.context, *OWN, "--name", "good")
    broken = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "broken",
            "namespace": setup.namespace,
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "stringData": {"server": "https://broken.example.com", "config": '{"bearerToken": "' + token + '", '},
    }
    kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(broken))

    listed = cli(setup, "list", "-o", "json")
    assert [c["name"] for c in json.loads(listed.stdout)] == ["good"]
    assert f"Secret {setup.namespace}/broken: data.config is not valid JSON" in listed.stderr
    assert token not in listed.stderr + listed.stdout

    removed = cli(setup, "rm", "broken").stdout  # by Secret name: a broken Secret can still be removed
    assert removed.strip() == f"removed broken (Secret {setup.namespace}/broken)"
    [left] = cluster_secrets(devcluster_a, setup.namespace)
    assert base64.b64decode(left["data"]["name"]).decode() == "good"


def test_bad_input_is_refused_before_anything_is_written(setup: Setup, devcluster_a: Cluster) -> None:
    reserved = cli(setup, "add", setup.context, "--name", "in-cluster", check=False)
    assert reserved.returncode == 2 and "reserved" in reserved.stderr
    unknown = cli(setup, "add", "no-such-context", check=False)
    assert unknown.returncode == 2
    assert f"has no context 'no-such-context' (contexts: {setup.context})" in unknown.stderr
    assert cli(setup, "list", "-o", "json").stdout.strip() == "[]"  # no namespace yet: no clusters, no error
    assert setup.namespace not in kubectl(devcluster_a, "get", "namespaces", "-o", "name")
