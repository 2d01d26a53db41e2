"""The devcluster behaves like a real cluster for what Bosun needs (issue 2)."""

from __future__ import annotations

import ssl
import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient

from tests.conftest import Cluster
from tests.e2e.conftest import eventually, kubectl, kubectl_json


def _namespace(cluster: Cluster) -> str:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(cluster, "create", "namespace", ns)
    return ns


def test_server_version_is_upstream_1_36(devcluster_a: Cluster) -> None:
    version = kubectl_json(devcluster_a, "version")
    assert version["serverVersion"]["gitVersion"].startswith("v1.36.")
    assert version["serverVersion"]["minor"] == "36"


def test_nodes_are_ready(devcluster_a: Cluster) -> None:
    nodes = kubectl_json(devcluster_a, "get", "nodes")["items"]
    assert len(nodes) >= 2
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]


def test_deployment_becomes_available_with_three_ready_pods(devcluster_a: Cluster) -> None:
    ns = _namespace(devcluster_a)
    kubectl(devcluster_a, "-n", ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=3")

    def available() -> Any:
        d = kubectl_json(devcluster_a, "-n", ns, "get", "deployment", "web")
        return d["status"].get("availableReplicas") == 3 and d

    eventually(available, what="Deployment web Available with 3 replicas")
    pods = kubectl_json(devcluster_a, "-n", ns, "get", "pods", "-l", "app=web")["items"]
    ready = [
        p
        for p in pods
        if p["status"]["phase"] == "Running"
        and {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "True"
    ]
    assert len(ready) == 3


def test_job_completes(devcluster_a: Cluster) -> None:
    ns = _namespace(devcluster_a)
    kubectl(devcluster_a, "-n", ns, "create", "job", "migrate", "--image=busybox")

    def complete() -> bool:
        job = kubectl_json(devcluster_a, "-n", ns, "get", "job", "migrate")
        return any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"].get("conditions", []))

    eventually(complete, what="Job migrate Complete")


def _pod(name: str, *, fail: bool = False, policy: str = "Never") -> str:
    annotations = '  annotations: {"devcluster.bosun.dev/fail": "true"}\n' if fail else ""
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{annotations}"
        f"spec:\n  restartPolicy: {policy}\n  containers:\n  - name: main\n    image: busybox\n"
    )


def _phase(cluster: Cluster, ns: str, name: str) -> str:
    return str(kubectl_json(cluster, "-n", ns, "get", "pod", name)["status"].get("phase", ""))


def test_bare_pod_with_restart_policy_never_succeeds(devcluster_a: Cluster) -> None:
    ns = _namespace(devcluster_a)
    kubectl(devcluster_a, "-n", ns, "apply", "-f", "-", input=_pod("hook"))
    eventually(lambda: _phase(devcluster_a, ns, "hook") == "Succeeded", what="Pod Succeeded")


def test_pod_marked_to_fail_ends_failed(devcluster_a: Cluster) -> None:
    ns = _namespace(devcluster_a)
    kubectl(devcluster_a, "-n", ns, "apply", "-f", "-", input=_pod("broken", fail=True))
    eventually(lambda: _phase(devcluster_a, ns, "broken") == "Failed", what="Pod Failed")
    status = kubectl_json(devcluster_a, "-n", ns, "get", "pod", "broken")["status"]
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_long_running_pod_marked_to_fail_crash_loops(devcluster_a: Cluster) -> None:
    ns = _namespace(devcluster_a)
    kubectl(devcluster_a, "-n", ns, "apply", "-f", "-", input=_pod("crash", fail=True, policy="Always"))

    def crash_looping() -> bool:
        statuses = kubectl_json(devcluster_a, "-n", ns, "get", "pod", "crash")["status"].get("containerStatuses", [])
        return bool(statuses) and statuses[0]["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"

    eventually(crash_looping, what="Pod in CrashLoopBackOff")


def test_service_gets_cluster_ip_and_load_balancer_and_ingress_get_addresses(
    devcluster_a: Cluster,
) -> None:
    ns = _namespace(devcluster_a)
    kubectl(devcluster_a, "-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080")
    kubectl(devcluster_a, "-n", ns, "create", "service", "loadbalancer", "public", "--tcp=80:8080")
    kubectl(devcluster_a, "-n", ns, "create", "ingress", "web", "--rule=web.example.com/*=web:80")
    svc = kubectl_json(devcluster_a, "-n", ns, "get", "service", "web")
    assert svc["spec"]["clusterIP"].startswith("10.")

    def lb_address(kind: str, name: str) -> Any:
        obj = kubectl_json(devcluster_a, "-n", ns, "get", kind, name)
        return obj.get("status", {}).get("loadBalancer", {}).get("ingress")

    assert eventually(lambda: lb_address("service", "public"), what="LoadBalancer address")[0]["ip"]
    assert eventually(lambda: lb_address("ingress", "web"), what="Ingress address")[0]["ip"]


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.bosun.dev
spec:
  group: example.bosun.dev
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"""


def test_crd_becomes_established_and_custom_resource_applies(devcluster_a: Cluster) -> None:
    kubectl(devcluster_a, "apply", "-f", "-", input=CRD)

    def established() -> bool:
        crd = kubectl_json(devcluster_a, "get", "crd", "widgets.example.bosun.dev")
        return any(
            c["type"] == "Established" and c["status"] == "True" for c in crd.get("status", {}).get("conditions", [])
        )

    eventually(established, what="CRD Established")
    ns = _namespace(devcluster_a)
    widget = "apiVersion: example.bosun.dev/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n"
    eventually(
        lambda: kubectl(devcluster_a, "-n", ns, "apply", "-f", "-", input=widget, check=False), what="Widget applied"
    )
    assert kubectl_json(devcluster_a, "-n", ns, "get", "widgets.example.bosun.dev", "w")["spec"]["size"] == 3


@pytest.fixture(scope="module")
def dynamic_a(devcluster_a: Cluster) -> DynamicClient:
    api = k8s_config.new_client_from_config(config_file=str(devcluster_a.kubeconfig))
    return DynamicClient(api)


def test_server_side_apply_and_dry_run_through_python_client(devcluster_a: Cluster, dynamic_a: DynamicClient) -> None:
    ns = _namespace(devcluster_a)
    configmaps = dynamic_a.resources.get(api_version="v1", kind="ConfigMap")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns},
        "data": {"mode": "fast"},
    }

    dry = configmaps.server_side_apply(body=body, name="settings", namespace=ns, field_manager="bosun", dry_run="All")
    assert dry.data.mode == "fast"
    with pytest.raises(k8s_client.exceptions.ApiException) as missing:
        configmaps.get(name="settings", namespace=ns)
    assert missing.value.status == 404  # dry run changed nothing

    applied = configmaps.server_side_apply(body=body, name="settings", namespace=ns, field_manager="bosun")
    managers = [m.manager for m in applied.metadata.managedFields]
    assert "bosun" in managers
    assert configmaps.get(name="settings", namespace=ns).data.mode == "fast"


def test_two_clusters_run_side_by_side_independently(devcluster_a: Cluster, devcluster_b: Cluster) -> None:
    assert devcluster_a.server != devcluster_b.server
    ns = _namespace(devcluster_a)
    names_b = {n["metadata"]["name"] for n in kubectl_json(devcluster_b, "get", "namespaces")["items"]}
    assert ns not in names_b
    nodes_b = kubectl_json(devcluster_b, "get", "nodes")["items"]
    assert nodes_b and all(
        {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True" for n in nodes_b
    )


def test_api_server_rejects_anonymous_requests(devcluster_a: Cluster) -> None:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{devcluster_a.server}/api/v1/namespaces", context=insecure, timeout=5)
    assert denied.value.code in (401, 403)
