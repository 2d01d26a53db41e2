"""deploy/install (kustomize) and the committed deploy/install.yaml / deploy/namespace-install.yaml.

The committed files must be what kustomize makes of deploy/install today (a stale file fails,
naming the command that regenerates it), and the objects must be what the brief of issue 14
asks: the worker's RBAC, a Deployment a read-only root filesystem does not break, probes on the
`http` port, a PodDisruptionBudget and NetworkPolicies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.install_render import (
    INSTALL,
    INSTALL_YAML,
    NAMESPACE_INSTALL_YAML,
    REPO,
    key,
    kustomize,
    objects,
    one,
    worker_container,
)
from worker.config import WorkerConfig

CRDS = sorted(p for p in (REPO / "deploy" / "crds").glob("*.yaml"))


@pytest.mark.parametrize(
    ("directory", "committed"),
    [(INSTALL, INSTALL_YAML), (INSTALL / "namespaced", NAMESPACE_INSTALL_YAML)],
    ids=["install", "namespace-install"],
)
def test_the_committed_install_yaml_is_what_kustomize_renders(directory: Path, committed: Path) -> None:
    rendered = kustomize(directory)
    command = f"kubectl kustomize {directory.relative_to(REPO)} > {committed.relative_to(REPO)}"
    assert committed.exists(), f"{committed.relative_to(REPO)} is missing: run `{command}`"
    assert committed.read_text() == rendered, f"{committed.relative_to(REPO)} is stale: run `{command}`"


@pytest.fixture(scope="module")
def install() -> list[dict[str, Any]]:
    return objects(INSTALL_YAML.read_text())


@pytest.fixture(scope="module")
def namespace_install() -> list[dict[str, Any]]:
    return objects(NAMESPACE_INSTALL_YAML.read_text())


def test_install_yaml_holds_every_crd_and_the_worker(install: list[dict[str, Any]]) -> None:
    crd_names = sorted(o["metadata"]["name"] for o in install if o["kind"] == "CustomResourceDefinition")
    assert len(CRDS) == 7 and crd_names == sorted(objects_name(p) for p in CRDS)
    assert {(k, n, ns) for k, n, ns in map(key, install) if k != "CustomResourceDefinition"} == {
        ("Namespace", "bosun", ""),
        ("ServiceAccount", "bosun-worker", "bosun"),
        ("Role", "bosun-worker", "bosun"),
        ("RoleBinding", "bosun-worker", "bosun"),
        ("ClusterRole", "bosun-worker", ""),
        ("ClusterRoleBinding", "bosun-worker", ""),
        ("Deployment", "bosun-worker", "bosun"),
        ("Service", "bosun-worker", "bosun"),
        ("PodDisruptionBudget", "bosun-worker", "bosun"),
        ("NetworkPolicy", "bosun-worker", "bosun"),
    }


def objects_name(path: Path) -> str:
    (crd,) = objects(path.read_text())
    return str(crd["metadata"]["name"])


def test_the_cluster_role_is_argo_cds_everything_and_names_what_the_worker_itself_writes(
    install: list[dict[str, Any]],
) -> None:
    rules = one(install, "ClusterRole")["rules"]
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in rules
    argo = {r for rule in rules if rule.get("apiGroups") == ["argoproj.io"] for r in rule["resources"]}
    assert {"applications", "appprojects", "applicationsets", "rollouts/status", "analysisruns/status"} <= argo
    binding = one(install, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "bosun-worker"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "bosun-worker", "namespace": "bosun"}]


def test_the_control_namespace_role_reads_secrets_and_never_writes_them(install: list[dict[str, Any]]) -> None:
    rules = one(install, "Role")["rules"]
    secrets = [r for r in rules if "secrets" in r["resources"]]
    assert secrets == [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"]}]


def test_the_namespaced_install_grants_nothing_cluster_wide_but_reading_the_watched_kinds(
    namespace_install: list[dict[str, Any]],
) -> None:
    kinds = [o["kind"] for o in namespace_install]
    assert "CustomResourceDefinition" not in kinds  # as Argo CD's namespace-install: CRDs apart
    cluster_roles = [o for o in namespace_install if o["kind"] == "ClusterRole"]
    assert [r["metadata"]["name"] for r in cluster_roles] == ["bosun-worker-watch"]
    for rule in cluster_roles[0]["rules"]:
        assert rule["verbs"] == ["get", "list", "watch"], rule
    manage = one(namespace_install, "Role", "bosun-worker-manage")
    assert manage["metadata"]["namespace"] == "bosun"
    assert manage["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def test_the_worker_reads_its_configuration_from_the_deployments_env(install: list[dict[str, Any]]) -> None:
    container = worker_container(install)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "BOSUN_KUBECONFIG" not in env and "KUBECONFIG" not in env  # the ServiceAccount, in-cluster
    config = WorkerConfig.from_env(env)
    assert config.control_namespace == "bosun" and config.task_queue == "bosun"
    assert config.temporal_address == env["TEMPORAL_ADDRESS"] and config.namespace == "default"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in one(install, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    # every file the worker writes lands on an emptyDir: the root filesystem is read-only
    for path in (str(config.home), env["BOSUN_CACHE"], env["HOME"], env["TMPDIR"]):
        mount = next((m for m in mounts if path == m or path.startswith(m + "/")), None)
        assert mount is not None and "emptyDir" in volumes[mounts[mount]], path


def test_the_worker_runs_locked_down_with_probes_on_the_http_port(install: list[dict[str, Any]]) -> None:
    deployment = one(install, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "bosun-worker"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = worker_container(install)
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert {"name": "BOSUN_HTTP_PORT", "value": "8080"} in container["env"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_service_budget_and_network_policy(install: list[dict[str, Any]]) -> None:
    selector = {"app.kubernetes.io/name": "bosun-worker"}
    assert one(install, "Deployment")["spec"]["selector"]["matchLabels"] == selector
    service = one(install, "Service")["spec"]
    assert service["selector"] == selector and service["ports"][0]["targetPort"] == "http"
    assert one(install, "PodDisruptionBudget")["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    policy = one(install, "NetworkPolicy")["spec"]
    assert policy["podSelector"] == {"matchLabels": selector}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert policy["egress"] == [{}]  # open: Temporal, git hosts and clusters are known only at run time
