"""Canary Rollouts with a traffic router, end to end on the devcluster (issue 13).

A Bosun app deploys from Git a Rollout with ``trafficRouting`` plus its Services and the
router's object (an Ingress, or an HTTPRoute whose CRD the test installs from
``tests/e2e/fixtures/httproute-crd.yaml``). The RolloutWorkflow sets the weights as Argo
Rollouts would: the NGINX canary Ingress ``web-web-canary`` carries
``nginx.ingress.kubernetes.io/canary-weight``; the HTTPRoute's backendRefs get
``canary``/``100 - canary``. No router runs in the devcluster: the weights are read on the
objects. A ``kubectl get --watch`` records every weight the object carried, so a weight held
only for a 2 s pause is seen too. People act as ``kubectl argo rollouts`` does (status
patches: :func:`tests.e2e.rollouts.patch_status`).
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo
from tests.e2e.conftest import eventually, kubectl, kubectl_json
from tests.e2e.rollouts import (
    REPLICA_SETS,
    canary,
    first_revision,
    patch_status,
    replica_sets,
    rollout_health,
    rollout_manifest,
    service,
    wait_rollout,
)

FIXTURES = Path(__file__).parent / "fixtures"
INGRESSES = "ingresses.networking.k8s.io"
HTTP_ROUTES = "httproutes.gateway.networking.k8s.io"
CANARY_INGRESS = "web-web-canary"
WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"
DEADLINE_ANNOTATION = "argo-rollouts.argoproj.io/scale-down-deadline"
STEPS = [{"setWeight": 30}, {"pause": {}}, {"setWeight": 70}, {"pause": {"duration": "2s"}}]
SCALE_DOWN_DELAY = 12


def rollout(image: str, routing: dict[str, Any]) -> str:
    return rollout_manifest(
        image, canary(STEPS, scaleDownDelaySeconds=SCALE_DOWN_DELAY, trafficRouting=routing), replicas=2
    )


NGINX = {"nginx": {"stableIngress": "web", "additionalIngressAnnotations": {"canary-by-header": "X-Canary"}}}
GATEWAY = {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}}

INGRESS = json.dumps(
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {
            "rules": [
                {
                    "host": "web.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
)

HTTP_ROUTE = json.dumps(
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web", "port": 80, "weight": 100},
                        {"name": "web-canary", "port": 80, "weight": 0},
                    ]
                }
            ],
        },
    }
)


class WeightWatch:
    """``kubectl get --watch`` of one object, keeping each value of ``jsonpath`` it showed."""

    def __init__(self, cluster: Cluster, ns: str, resource: str, name: str, jsonpath: str) -> None:
        self.values: list[str] = []
        self._proc = subprocess.Popen(
            ["kubectl", f"--kubeconfig={cluster.kubeconfig}", "-n", ns, "get", resource, name, "--watch",
             "-o", f"jsonpath={jsonpath}{{\"\\n\"}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            value = line.strip()
            if value and (not self.values or self.values[-1] != value):
                self.values.append(value)

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def canary_weight(cluster: Cluster, ns: str) -> str | None:
    out = kubectl(cluster, "-n", ns, "get", INGRESSES, CANARY_INGRESS, "-o", "json", check=False)
    return json.loads(out)["metadata"]["annotations"].get(WEIGHT_ANNOTATION) if out.strip() else None


def route_weights(cluster: Cluster, ns: str) -> dict[str, int]:
    route = kubectl_json(cluster, "-n", ns, "get", HTTP_ROUTES, "web")
    return {ref["name"]: ref.get("weight", 1) for ref in route["spec"]["rules"][0]["backendRefs"]}


def replica_set_annotations(cluster: Cluster, ns: str, pod_hash: str) -> dict[str, str]:
    rs = kubectl_json(cluster, "-n", ns, "get", REPLICA_SETS, f"web-{pod_hash}")
    return dict(rs["metadata"].get("annotations") or {})


def run_canary(bosun: Bosun, cluster: Cluster, repo: GitRepo, routing: dict[str, Any], watch: Any) -> None:
    """web:1 → web:2 through the steps; ``watch(ns)`` starts the router's WeightWatch."""
    app, ns, v1 = first_revision(bosun, cluster, repo, replicas=2)
    weights: WeightWatch = watch(ns)
    try:
        repo.write({"rollout.json": rollout("web:2", routing)}, "web:2")
        # setWeight 30 with a router: the canary gets ceil(30% of 2) = 1 pod; the stable stays at 2.
        paused = wait_rollout(cluster, ns, what="paused at 30%", phase="Paused", currentStepIndex=1, timeout=180)
        v2 = paused["status"]["currentPodHash"]
        wait_rollout(cluster, ns, what="2 stable + 1 canary", counts={v1: (2, 2), v2: (1, 1)})
        eventually(lambda: weights.values and weights.values[-1] in ("30", "70 30"), timeout=60, what="weight 30")
        live = wait_rollout(cluster, ns, what="status weights", currentStepIndex=1)
        assert live["status"]["canary"]["weights"]["canary"]["weight"] == 30
        # Only the Rollout's health: the app's also has the Ingress's, Progressing without a load balancer.
        eventually(lambda: rollout_health(bosun, app) == "Suspended", timeout=60, what="the Rollout Suspended")

        patch_status(cluster, ns, {"pauseConditions": None})  # kubectl argo rollouts promote
        done = wait_rollout(cluster, ns, what="promoted", phase="Healthy", stableRS=v2, currentStepIndex=4, timeout=180)
        assert done["status"]["stableRS"] == v2
        # The old stable keeps its pods for scaleDownDelaySeconds, annotated with the deadline.
        assert replica_sets(cluster, ns)[v1][0] == 2
        assert DEADLINE_ANNOTATION in replica_set_annotations(cluster, ns, v1)
        wait_rollout(cluster, ns, what="old stable scaled down after the delay", counts={v1: (0, 0), v2: (2, 2)})
        eventually(
            lambda: DEADLINE_ANNOTATION not in replica_set_annotations(cluster, ns, v1),
            timeout=60,
            what="deadline annotation removed",
        )
        eventually(lambda: weights.values[-1] in ("0", "100 0"), timeout=60, what="weight back to 0")
        eventually(lambda: rollout_health(bosun, app) == "Healthy", timeout=60, what="the Rollout Healthy")
    finally:
        weights.close()
    return None


def test_nginx_canary_ingress_weight_follows_the_steps(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "rollout.json": rollout("web:1", NGINX),
            "service.json": service("web"),
            "canary-service.json": service("web-canary"),
            "ingress.json": INGRESS,
        },
    )
    watches: list[WeightWatch] = []

    def watch(ns: str) -> WeightWatch:
        eventually(lambda: canary_weight(devcluster_a, ns) == "0", timeout=60, what="canary Ingress at weight 0")
        path = "{.metadata.annotations.nginx\\.ingress\\.kubernetes\\.io/canary-weight}"
        watches.append(WeightWatch(devcluster_a, ns, INGRESSES, CANARY_INGRESS, path))
        return watches[-1]

    run_canary(bosun, devcluster_a, repo, NGINX, watch)
    # Argo's reconcileTrafficRouting: 30, 70, 100 once every step is done, 0 once the stable is v2.
    assert watches[0].values == ["0", "30", "70", "100", "0"]
    ns = kubectl(devcluster_a, "get", INGRESSES, "-A", "-o", "json")
    canary = next(i for i in json.loads(ns)["items"] if i["metadata"]["name"] == CANARY_INGRESS)
    annotations = canary["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "X-Canary"
    assert annotations["kubernetes.io/ingress.class"] == "nginx"
    backend = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == "web-canary"
    assert canary["metadata"]["ownerReferences"][0]["kind"] == "Rollout"


def test_gateway_api_http_route_weights_follow_the_steps(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> None:
    kubectl(devcluster_a, "apply", "-f", str(FIXTURES / "httproute-crd.yaml"))
    eventually(
        lambda: "True" in kubectl(devcluster_a, "get", "crd", HTTP_ROUTES, "-o",
                                  "jsonpath={.status.conditions[?(@.type=='Established')].status}", check=False),
        timeout=60, what="HTTPRoute CRD established",
    )  # fmt: skip
    repo = GitRepo.create(
        tmp_path / "repo",
        {
            "rollout.json": rollout("web:1", GATEWAY),
            "service.json": service("web"),
            "canary-service.json": service("web-canary"),
            "route.json": HTTP_ROUTE,
        },
    )
    watches: list[WeightWatch] = []

    def watch(ns: str) -> WeightWatch:
        eventually(lambda: route_weights(devcluster_a, ns) == {"web": 100, "web-canary": 0}, what="route at 100/0")
        watches.append(WeightWatch(devcluster_a, ns, HTTP_ROUTES, "web", "{.spec.rules[0].backendRefs[*].weight}"))
        return watches[-1]

    run_canary(bosun, devcluster_a, repo, GATEWAY, watch)
    # (stable canary) weights: 100/0, then 70/30, 30/70, 0/100, and all to the new stable at the end.
    assert watches[0].values == ["100 0", "70 30", "30 70", "0 100", "100 0"]
