"""Bosun's Argo Rollouts CRDs (deploy/crds) on a real API server: Argo's kinds, short names and
printer columns; status written through the status subresource (as the RolloutWorkflow and
``kubectl argo rollouts promote|abort`` do), the scale subresource, and the HTTPRoute CRD fixture
the traffic-routing tests use. A status built by bosun.rollouts.status goes in through the
subresource and Argo CD's Rollout health check reads it back (issue 13)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from bosun.health.rollout import rollout_health
from bosun.resources import HealthCode
from bosun.rollouts.spec import GatewayAPITrafficRouting, parse_rollout
from bosun.rollouts.status import PauseCondition, PauseReason, StatusInput, build_status
from bosun.rollouts.traffic import http_route_weights, http_route_weights_patch
from tests.conftest import Cluster
from tests.e2e.conftest import eventually, kubectl, kubectl_json

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTPROUTE_CRD = Path(__file__).parent / "fixtures" / "httproute-crd.yaml"
ROLLOUT_CRDS = ("rollouts", "analysistemplates", "clusteranalysistemplates", "analysisruns")


@pytest.fixture(scope="module")
def cluster(devcluster_a: Cluster) -> Cluster:
    kubectl(devcluster_a, "apply", "-f", str(REPO_ROOT / "deploy" / "crds"))
    kubectl(devcluster_a, "apply", "-f", str(HTTPROUTE_CRD))
    for crd in [f"{plural}.argoproj.io" for plural in ROLLOUT_CRDS] + ["httproutes.gateway.networking.k8s.io"]:
        kubectl(devcluster_a, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}")
    return devcluster_a


@pytest.fixture
def ns(cluster: Cluster) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(cluster, "create", "namespace", name)
    return name


ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 5,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "web:1"}]}},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    },
}


def test_crds_have_argos_names_and_short_names(cluster: Cluster) -> None:
    expected = {
        "rollouts": ("Rollout", ["ro"], "Namespaced"),
        "analysistemplates": ("AnalysisTemplate", ["at"], "Namespaced"),
        "clusteranalysistemplates": ("ClusterAnalysisTemplate", ["cat"], "Cluster"),
        "analysisruns": ("AnalysisRun", ["ar"], "Namespaced"),
    }
    for plural, (kind, short, scope) in expected.items():
        crd = kubectl_json(cluster, "get", "crd", f"{plural}.argoproj.io")
        assert crd["spec"]["group"] == "argoproj.io"
        assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"]
        assert (crd["spec"]["names"]["kind"], crd["spec"]["names"]["shortNames"], crd["spec"]["scope"]) == (
            kind,
            short,
            scope,
        )


def test_rollout_status_and_scale_subresources(cluster: Cluster, ns: str) -> None:
    kubectl(cluster, "-n", ns, "apply", "-f", "-", input=json.dumps(ROLLOUT))
    ro = kubectl_json(cluster, "-n", ns, "get", "rollouts.argoproj.io", "web")
    assert "status" not in ro

    # A status in Argo's shape, built by Bosun's core, written through the subresource.
    spec = parse_rollout({**ro, "metadata": {**ro["metadata"]}})
    status = build_status(
        StatusInput(
            rollout=spec,
            now="2026-12-02T01:00:00Z",
            current_pod_hash="abc",
            stable_rs="old",
            current_step_index=1,
            pause_conditions=(PauseCondition(reason=PauseReason.CANARY_PAUSE_STEP, start_time="2026-12-02T01:00:00Z"),),
            controller_pause=True,
            replicas=5,
            updated_replicas=1,
            ready_replicas=5,
            available_replicas=5,
        )
    )
    kubectl(
        cluster,
        "-n",
        ns,
        "patch",
        "rollouts.argoproj.io",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    ro = kubectl_json(cluster, "-n", ns, "get", "rollouts.argoproj.io", "web")
    assert ro["status"]["phase"] == "Paused"
    assert ro["status"]["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert ro["status"]["currentStepIndex"] == 1
    assert ro["status"]["observedGeneration"] == str(ro["metadata"]["generation"])
    assert rollout_health(ro).status == HealthCode.SUSPENDED

    # `kubectl argo rollouts promote` clears the pause conditions the same way.
    kubectl(
        cluster,
        "-n",
        ns,
        "patch",
        "rollouts.argoproj.io",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"pauseConditions": null}}',
    )
    ro = kubectl_json(cluster, "-n", ns, "get", "rollouts.argoproj.io", "web")
    assert "pauseConditions" not in ro["status"]
    assert ro["status"]["controllerPause"] is True

    # A plain patch of status on the main resource is ignored: status is a subresource.
    kubectl(
        cluster, "-n", ns, "patch", "rollouts.argoproj.io", "web", "--type=merge", "-p", '{"status": {"abort": true}}'
    )
    assert "abort" not in kubectl_json(cluster, "-n", ns, "get", "rollouts.argoproj.io", "web")["status"]

    # The scale subresource: `kubectl scale` sets spec.replicas; status.HPAReplicas and selector are read.
    kubectl(cluster, "-n", ns, "scale", "rollouts.argoproj.io/web", "--replicas=3")
    assert kubectl_json(cluster, "-n", ns, "get", "rollouts.argoproj.io", "web")["spec"]["replicas"] == 3
    scale = json.loads(
        kubectl(cluster, "get", "--raw", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/web/scale")
    )
    assert scale["status"] == {"replicas": 5, "selector": "app=web"}

    # Argo's printer columns.
    table = kubectl(cluster, "-n", ns, "get", "ro")
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[:5] == ["web", "3", "5", "1", "5"]


def test_analysis_run_status_subresource_and_templates(cluster: Cluster, ns: str) -> None:
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {"metrics": [{"name": "ok", "provider": {"web": {"url": "http://x"}}}]},
    }
    cluster_template = {**template, "kind": "ClusterAnalysisTemplate", "metadata": {"name": f"cat-{ns}"}}
    run = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "web-1-1"},
        "spec": template["spec"],
    }
    kubectl(cluster, "-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all([template, run]))
    kubectl(cluster, "apply", "-f", "-", input=json.dumps(cluster_template))
    try:
        assert (
            kubectl(cluster, "-n", ns, "get", "at", "-o", "name").strip() == "analysistemplate.argoproj.io/success-rate"
        )
        assert f"clusteranalysistemplate.argoproj.io/cat-{ns}" in kubectl(cluster, "get", "cat", "-o", "name")

        status: dict[str, Any] = {
            "phase": "Failed",
            "message": 'Metric "ok" assessed Failed due to failed (1) > failureLimit (0)',
            "metricResults": [{"name": "ok", "phase": "Failed", "count": 1, "failed": 1, "measurements": []}],
        }
        kubectl(
            cluster,
            "-n",
            ns,
            "patch",
            "analysisruns.argoproj.io",
            "web-1-1",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )
        got = kubectl_json(cluster, "-n", ns, "get", "ar", "web-1-1")
        assert got["status"] == status
        header, row = kubectl(cluster, "-n", ns, "get", "ar").splitlines()[:2]
        assert header.split() == ["NAME", "STATUS", "AGE"]
        assert row.split()[:2] == ["web-1-1", "Failed"]
    finally:
        kubectl(cluster, "delete", "clusteranalysistemplates.argoproj.io", f"cat-{ns}", "--ignore-not-found")


def test_httproute_fixture_holds_backend_weights(cluster: Cluster, ns: str) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {"backendRefs": [{"name": "web-stable", "port": 80}, {"name": "web-canary", "port": 80, "weight": 0}]}
            ],
        },
    }
    kubectl(cluster, "-n", ns, "apply", "-f", "-", input=json.dumps(route))
    live = kubectl_json(cluster, "-n", ns, "get", "httproutes.gateway.networking.k8s.io", "web")
    patch = http_route_weights_patch(
        live,
        gateway=GatewayAPITrafficRouting(http_route="web"),
        canary_service="web-canary",
        stable_service="web-stable",
        weight=20,
    )
    kubectl(
        cluster,
        "-n",
        ns,
        "patch",
        "httproutes.gateway.networking.k8s.io",
        "web",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )

    def weights() -> Any:
        got = kubectl_json(cluster, "-n", ns, "get", "httproutes.gateway.networking.k8s.io", "web")
        return http_route_weights(got, "web-canary", "web-stable")

    got = eventually(weights, what="HTTPRoute weights")
    assert (got.canary, got.stable) == (20, 80)
