"""NGINX canary Ingress and Gateway API HTTPRoute weights, after Argo Rollouts' nginx.go and
the argoproj-labs/gatewayAPI plugin; the weight to set after Argo's reconcileTrafficRouting."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.rollouts.replicas import TrafficWeights
from bosun.rollouts.spec import (
    CanaryStep,
    CanaryStrategy,
    GatewayAPITrafficRouting,
    NginxTrafficRouting,
    Pause,
    TrafficRouting,
)
from bosun.rollouts.traffic import (
    TrafficRoutingError,
    canary_ingress,
    canary_ingress_name,
    canary_ingress_weight,
    desired_traffic_weight,
    http_route_weights,
    http_route_weights_patch,
    http_route_with_weights,
)


def path(service: str, p: str = "/") -> dict[str, Any]:
    return {"path": p, "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}


STABLE_INGRESS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "web",
        "namespace": "demo",
        "annotations": {"kubernetes.io/ingress.class": "nginx", "other": "dropped"},
        "labels": {"app": "web"},
    },
    "spec": {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["web.example"], "secretName": "web-tls"}],
        "rules": [
            {"host": "web.example", "http": {"paths": [path("web-stable"), path("docs", "/docs")]}},
            {"host": "other.example", "http": {"paths": [path("other")]}},
        ],
    },
}


def test_canary_ingress_as_argo_builds_it() -> None:
    nginx = NginxTrafficRouting(stable_ingress="web", additional_ingress_annotations={"canary-by-header": "X-Canary"})
    out = canary_ingress(
        STABLE_INGRESS,
        rollout_name="shop",
        nginx=nginx,
        canary_service="web-canary",
        stable_service="web-stable",
        weight=20,
    )
    assert out["metadata"] == {
        "name": "shop-web-canary",
        "namespace": "demo",
        "annotations": {
            "kubernetes.io/ingress.class": "nginx",
            "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "20",
        },
    }
    assert out["spec"]["ingressClassName"] == "nginx"
    assert out["spec"]["tls"] == STABLE_INGRESS["spec"]["tls"]
    assert out["spec"]["rules"] == [
        {"host": "web.example", "http": {"paths": [path("web-canary"), path("docs", "/docs")]}}
    ]
    assert STABLE_INGRESS["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web-stable"
    assert canary_ingress_weight(out, "nginx.ingress.kubernetes.io") == 20


def test_canary_ingress_uses_the_annotation_prefix() -> None:
    nginx = NginxTrafficRouting(
        stable_ingress="web",
        annotation_prefix="custom.nginx.org",
        additional_ingress_annotations={"custom.nginx.org/canary-by-cookie": "c"},
    )
    out = canary_ingress(
        STABLE_INGRESS, rollout_name="shop", nginx=nginx, canary_service="c", stable_service="web-stable", weight=0
    )
    assert out["metadata"]["annotations"]["custom.nginx.org/canary-weight"] == "0"
    assert out["metadata"]["annotations"]["custom.nginx.org/canary-by-cookie"] == "c"
    assert canary_ingress_weight(out, "custom.nginx.org") == 0


def test_canary_ingress_needs_a_rule_with_the_stable_service() -> None:
    with pytest.raises(TrafficRoutingError, match="ingress `web` has no rules using service nope backend"):
        canary_ingress(
            STABLE_INGRESS,
            rollout_name="shop",
            nginx=NginxTrafficRouting(stable_ingress="web"),
            canary_service="c",
            stable_service="nope",
            weight=10,
        )


def test_canary_ingress_name_is_cut_to_253() -> None:
    name = canary_ingress_name("r" * 200, "i" * 100)
    assert len(name) == 253 and name.endswith("-canary")


ROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": "demo"},
    "spec": {
        "parentRefs": [{"name": "gw"}],
        "rules": [
            {"backendRefs": [{"name": "web-stable", "port": 80}, {"name": "web-canary", "port": 80, "weight": 0}]},
            {"matches": [{"path": {"value": "/docs"}}], "backendRefs": [{"name": "docs", "port": 80}]},
        ],
    },
}
GATEWAY = GatewayAPITrafficRouting(http_route="web")


def test_http_route_weights_follow_the_canary_weight() -> None:
    out = http_route_with_weights(
        ROUTE, gateway=GATEWAY, canary_service="web-canary", stable_service="web-stable", weight=30
    )
    assert out["spec"]["rules"][0]["backendRefs"] == [
        {"name": "web-stable", "port": 80, "weight": 70},
        {"name": "web-canary", "port": 80, "weight": 30},
    ]
    assert out["spec"]["rules"][1] == ROUTE["spec"]["rules"][1]
    assert "weight" not in ROUTE["spec"]["rules"][0]["backendRefs"][0]
    assert http_route_weights(out, "web-canary", "web-stable") == TrafficWeights(canary=30, stable=70)
    assert http_route_weights(ROUTE, "web-canary", "web-stable") == TrafficWeights(canary=0, stable=1)
    patch = http_route_weights_patch(
        ROUTE, gateway=GATEWAY, canary_service="web-canary", stable_service="web-stable", weight=30
    )
    assert patch == {"spec": {"rules": out["spec"]["rules"]}}


def test_http_route_needs_a_rule_with_both_services() -> None:
    with pytest.raises(
        TrafficRoutingError, match="HTTPRoute `web` has no rule with backendRefs to both x and web-stable"
    ):
        http_route_with_weights(ROUTE, gateway=GATEWAY, canary_service="x", stable_service="web-stable", weight=5)
    assert http_route_weights(ROUTE, "x", "web-stable") is None


STEPS = CanaryStrategy(
    steps=(CanaryStep(set_weight=20), CanaryStep(pause=Pause()), CanaryStep(set_weight=60), CanaryStep(pause=Pause())),
    traffic_routing=TrafficRouting(nginx=NginxTrafficRouting(stable_ingress="web")),
    canary_service="c",
    stable_service="s",
)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        pytest.param({"current_step_index": 2}, 60, id="at the step's counts: its weight"),
        pytest.param({"current_step_index": 1}, 20, id="a pause keeps the last setWeight"),
        pytest.param({"current_step_index": 2, "at_desired_replicas": False}, 20, id="not ready: previous weight"),
        pytest.param({"current_step_index": 0, "at_desired_replicas": False}, 0, id="not ready at the first step"),
        pytest.param({"current_step_index": 4}, 100, id="past the last step"),
        pytest.param({"current_step_index": 2, "fully_promoted": True}, 0, id="fully promoted"),
        pytest.param({"current_step_index": 2, "aborted": True}, 0, id="aborted"),
        pytest.param({"current_step_index": 2, "canary_available": 0}, 0, id="no canary pod available"),
        pytest.param({"current_step_index": 1, "promote_full": True, "current_weight": 20}, 20, id="promote full"),
    ],
)
def test_desired_traffic_weight_as_argo(kw: dict[str, Any], expected: int) -> None:
    args: dict[str, Any] = {
        "fully_promoted": False,
        "aborted": False,
        "canary_available": 1,
        "at_desired_replicas": True,
        **kw,
    }
    assert desired_traffic_weight(STEPS, **args) == expected


def test_dynamic_stable_scale_moves_traffic_with_available_pods() -> None:
    dynamic = STEPS.model_copy(update={"dynamic_stable_scale": True})
    common: dict[str, Any] = {"current_step_index": 2, "fully_promoted": False, "at_desired_replicas": True}
    assert (
        desired_traffic_weight(dynamic, aborted=True, canary_available=3, replicas=10, stable_available=7, **common)
        == 30
    )
    assert (
        desired_traffic_weight(dynamic, aborted=False, promote_full=True, canary_available=4, replicas=10, **common)
        == 40
    )
