"""parse_rollout: Argo Rollouts' defaults, and every unsupported or wrong field refused with
its path (never silently ignored)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bosun.rollouts.spec import (
    ARGO_FIELDS,
    SUPPORTED,
    ArgValueFrom,
    GatewayAPITrafficRouting,
    NginxTrafficRouting,
    Rollout,
    RolloutSpecError,
    parse_rollout,
)


def rollout(strategy: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "demo", "generation": 2},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
            "strategy": strategy,
            **spec,
        },
    }


def problems(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(RolloutSpecError) as err:
        parse_rollout(obj)
    return [str(p) for p in err.value.problems]


def test_canary_defaults_are_argos() -> None:
    ro = parse_rollout(rollout({"canary": {}}))
    assert (ro.name, ro.namespace, ro.generation) == ("web", "demo", 2)
    assert ro.replicas == 1
    assert ro.revision_history_limit == 10
    assert ro.progress_deadline_seconds == 600
    assert ro.progress_deadline_abort is False
    assert ro.paused is False
    assert ro.strategy == "canary"
    assert ro.canary is not None
    assert (ro.canary.max_surge, ro.canary.max_unavailable) == ("25%", "25%")
    assert ro.canary.steps == ()
    assert ro.canary.scale_down_delay() == 0
    assert ro.canary.abort_scale_down_delay() == 0


def test_blue_green_defaults_are_argos() -> None:
    ro = parse_rollout(rollout({"blueGreen": {"activeService": "web-active"}}))
    bg = ro.blue_green
    assert bg is not None and ro.strategy == "blueGreen"
    assert bg.auto_promotion_enabled is True
    assert bg.auto_promotion_seconds == 0
    assert bg.scale_down_delay_seconds == 30
    assert bg.abort_scale_down_delay() == 30
    assert bg.preview_replica_count is None
    zero = parse_rollout(rollout({"blueGreen": {"activeService": "a", "abortScaleDownDelaySeconds": 0}}))
    assert zero.blue_green is not None and zero.blue_green.abort_scale_down_delay() is None


def test_a_full_canary_reads_every_supported_field() -> None:
    obj = rollout(
        {
            "canary": {
                "canaryService": "web-canary",
                "stableService": "web-stable",
                "maxSurge": 1,
                "maxUnavailable": "0%",
                "scaleDownDelaySeconds": 10,
                "abortScaleDownDelaySeconds": 0,
                "canaryMetadata": {"labels": {"role": "canary"}},
                "stableMetadata": {"annotations": {"role": "stable"}},
                "analysis": {
                    "templates": [{"templateName": "success-rate"}],
                    "startingStep": 2,
                    "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
                },
                "trafficRouting": {
                    "nginx": {
                        "stableIngress": "web",
                        "annotationPrefix": "custom.nginx.org",
                        "additionalIngressAnnotations": {"canary-by-header": "X-Canary"},
                    },
                    "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": "gw"}},
                },
                "steps": [
                    {"setWeight": 20},
                    {"pause": {"duration": "1h"}},
                    {"setCanaryScale": {"replicas": 2}},
                    {
                        "analysis": {
                            "templates": [{"templateName": "latency", "clusterScope": True}],
                            "args": [{"name": "ns", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        }
                    },
                    {"pause": {}},
                ],
            }
        },
        replicas=5,
        minReadySeconds=3,
        revisionHistoryLimit=2,
        progressDeadlineSeconds=60,
        progressDeadlineAbort=True,
        paused=True,
    )
    ro = parse_rollout(obj)
    c = ro.canary
    assert c is not None
    assert (ro.replicas, ro.min_ready_seconds, ro.revision_history_limit) == (5, 3, 2)
    assert (ro.progress_deadline_seconds, ro.progress_deadline_abort, ro.paused) == (60, True, True)
    assert (c.max_surge, c.max_unavailable, c.scale_down_delay(), c.abort_scale_down_delay()) == (1, "0%", 10, None)
    assert c.traffic_routing is not None
    assert c.traffic_routing.nginx == NginxTrafficRouting(
        stable_ingress="web",
        annotation_prefix="custom.nginx.org",
        additional_ingress_annotations={"canary-by-header": "X-Canary"},
    )
    assert c.traffic_routing.gateway_api == GatewayAPITrafficRouting(http_route="web", namespace="gw")
    assert c.canary_metadata is not None and c.canary_metadata.labels == {"role": "canary"}
    assert c.analysis is not None and c.analysis.starting_step == 2
    assert c.analysis.args[0].value_from == ArgValueFrom(pod_template_hash_value="Latest")
    assert [s.set_weight for s in c.steps] == [20, None, None, None, None]
    assert c.steps[1].pause is not None and c.steps[1].pause.duration_seconds == 3600
    assert c.steps[2].set_canary_scale is not None and c.steps[2].set_canary_scale.replicas == 2
    step_analysis = c.steps[3].analysis
    assert step_analysis is not None and step_analysis.templates[0].cluster_scope is True
    assert step_analysis.args[0].value_from == ArgValueFrom(field_path="metadata.namespace")
    assert c.steps[4].pause is not None and c.steps[4].pause.duration_seconds is None
    again = Rollout.model_validate_json(ro.model_dump_json())
    assert again == ro


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            rollout({"canary": {"steps": [{"setWeight": 10}, {"pause": {}}, {"experiment": {"templates": []}}]}}),
            ["spec.strategy.canary.steps[2].experiment: not supported by Bosun"],
            id="experiment step",
        ),
        pytest.param(
            rollout({"canary": {"antiAffinity": {}, "pingPong": {}, "minPodsPerReplicaSet": 2}}),
            [
                "spec.strategy.canary.antiAffinity: not supported by Bosun",
                "spec.strategy.canary.pingPong: not supported by Bosun",
                "spec.strategy.canary.minPodsPerReplicaSet: not supported by Bosun",
            ],
            id="canary fields Bosun lacks",
        ),
        pytest.param(
            rollout({"canary": {"stepz": []}}),
            ["spec.strategy.canary.stepz: unknown field (did you mean 'steps'?)"],
            id="typo",
        ),
        pytest.param(
            rollout(
                {"canary": {}}, workloadRef={"kind": "Deployment", "name": "web"}, restartAt="2026-01-01T00:00:00Z"
            ),
            ["spec.workloadRef: not supported by Bosun", "spec.restartAt: not supported by Bosun"],
            id="workloadRef and restartAt",
        ),
        pytest.param(
            rollout(
                {
                    "canary": {
                        "canaryService": "c",
                        "stableService": "s",
                        "trafficRouting": {"istio": {}, "plugins": {"argoproj-labs/other": {}}},
                    }
                }
            ),
            [
                "spec.strategy.canary.trafficRouting.istio: not supported by Bosun",
                'spec.strategy.canary.trafficRouting.plugins["argoproj-labs/other"]: not supported by Bosun '
                "(supported plugins: argoproj-labs/gatewayAPI)",
            ],
            id="other traffic routers",
        ),
        pytest.param(
            rollout(
                {
                    "canary": {
                        "canaryService": "c",
                        "stableService": "s",
                        "trafficRouting": {"nginx": {"stableIngress": "web", "stableIngresses": ["a"]}},
                    }
                }
            ),
            ["spec.strategy.canary.trafficRouting.nginx.stableIngresses: not supported by Bosun"],
            id="nginx stableIngresses",
        ),
        pytest.param(
            rollout({"canary": {"analysis": {"templates": [{"templateName": "t"}], "dryRun": [{"metricName": "x"}]}}}),
            ["spec.strategy.canary.analysis.dryRun: not supported by Bosun"],
            id="analysis dryRun",
        ),
        pytest.param(
            rollout({"blueGreen": {"activeService": "a", "maxUnavailable": 1, "antiAffinity": {}}}),
            [
                "spec.strategy.blueGreen.maxUnavailable: not supported by Bosun",
                "spec.strategy.blueGreen.antiAffinity: not supported by Bosun",
            ],
            id="blue-green fields Bosun lacks",
        ),
        pytest.param(
            rollout({"canary": {"steps": [{"setWeight": 120}, {"pause": {"duration": "soon"}}, {}]}}),
            [
                "spec.strategy.canary.steps[0].setWeight: SetWeight needs to be between 0 and 100",
                "spec.strategy.canary.steps[1].pause.duration: invalid duration: 'soon' is not a duration: use a Go "
                "duration such as 30s, 5m or 1h30m",
                "spec.strategy.canary.steps[2]: Step must have one of the following set: experiment, setWeight, "
                "setCanaryScale or pause",
            ],
            id="bad steps",
        ),
        pytest.param(
            rollout({"canary": {"steps": [{"setWeight": 10, "pause": {}}]}}),
            [
                "spec.strategy.canary.steps[0]: Step must have one of the following set: experiment, setWeight, "
                "setCanaryScale or pause (found setWeight, pause)"
            ],
            id="two kinds in one step",
        ),
        pytest.param(
            rollout({"canary": {"steps": [{"setCanaryScale": {"replicas": 1}}]}}),
            ["spec.strategy.canary.trafficRouting: SetCanaryScale requires TrafficRouting to be set"],
            id="setCanaryScale without a router",
        ),
        pytest.param(
            rollout({"canary": {"scaleDownDelaySeconds": 5, "dynamicStableScale": True}}),
            [
                "spec.strategy.canary.scaleDownDelaySeconds: Canary scaleDownDelaySeconds can only be used with "
                "traffic routing",
                "spec.strategy.canary.dynamicStableScale: Canary dynamicStableScale can only be used with traffic "
                "routing",
            ],
            id="router-only fields",
        ),
        pytest.param(
            rollout({"canary": {"trafficRouting": {"nginx": {"stableIngress": "web"}}}}),
            [
                "spec.strategy.canary.stableService: Canary service and Stable service must to be set to use "
                "Traffic Routing",
                "spec.strategy.canary.canaryService: Canary service and Stable service must to be set to use "
                "Traffic Routing",
            ],
            id="router needs both services",
        ),
        pytest.param(
            rollout({"canary": {"maxSurge": 0, "maxUnavailable": "0%"}}),
            ["spec.strategy.canary.maxSurge: MaxSurge and MaxUnavailable both can not be zero"],
            id="surge and unavailable zero",
        ),
        pytest.param(
            rollout({"canary": {"maxSurge": "25"}}),
            ["spec.strategy.canary.maxSurge: invalid value '25': must be an integer or a percentage like '25%'"],
            id="percent without %",
        ),
        pytest.param(
            rollout({"canary": {"canaryService": "c", "stableService": "s", "trafficRouting": {}}}),
            [
                "spec.strategy.canary.trafficRouting: no traffic router set "
                "(supported: nginx, plugins.argoproj-labs/gatewayAPI)"
            ],
            id="empty trafficRouting",
        ),
        pytest.param(
            rollout({"canary": {}}, minReadySeconds=600),
            ["spec.progressDeadlineSeconds: must be greater than minReadySeconds"],
            id="default deadline not above minReadySeconds",
        ),
        pytest.param(
            rollout({"canary": {}, "blueGreen": {"activeService": "a"}}),
            ["spec.strategy: Multiple Strategies can not be listed"],
            id="two strategies",
        ),
        pytest.param(
            rollout({}),
            ["spec.strategy: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"],
            id="no strategy",
        ),
        pytest.param(
            rollout({"blueGreen": {"activeService": "same", "previewService": "same"}}),
            [
                "spec.strategy.blueGreen.activeService: This rollout uses the same service for the active and "
                "preview services, but two different services are required."
            ],
            id="same blue-green services",
        ),
        pytest.param(
            rollout({"blueGreen": {}}, replicas=-1, paused="yes"),
            [
                "spec.replicas: must be greater than or equal to 0",
                "spec.paused: must be true or false, not str",
                "spec.strategy.blueGreen.activeService: required",
            ],
            id="bad types",
        ),
        pytest.param(
            rollout({"canary": {"steps": [{"analysis": {"templates": [], "args": [{"name": "x", "valueFrom": {}}]}}]}}),
            [
                "spec.strategy.canary.steps[0].analysis.templates: at least one template is required",
                "spec.strategy.canary.steps[0].analysis.args[0].valueFrom: set exactly one of podTemplateHashValue "
                "or fieldRef",
            ],
            id="bad analysis",
        ),
    ],
)
def test_problems_are_listed_with_their_paths(obj: dict[str, Any], expected: list[str]) -> None:
    assert problems(obj) == expected


def test_every_problem_is_in_one_error_naming_the_rollout() -> None:
    obj = rollout({"canary": {"steps": [{"experiment": {}}], "antiAffinity": {}}}, workloadRef={})
    with pytest.raises(RolloutSpecError) as err:
        parse_rollout(obj)
    text = str(err.value)
    assert text.startswith("Rollout demo/web: 3 problems")
    assert "spec.strategy.canary.steps[0].experiment: not supported by Bosun" in text


def test_missing_selector_and_template() -> None:
    obj = rollout({"canary": {}})
    del obj["spec"]["selector"]
    obj["spec"]["template"] = None
    assert problems(obj) == ["spec.selector: required", "spec.template: required"]
    empty = copy.deepcopy(rollout({"canary": {}}))
    empty["spec"]["selector"] = {"matchLabels": {}}
    assert problems(empty) == ["spec.selector: empty selector is invalid for deployment"]


def test_not_a_rollout() -> None:
    obj = rollout({"canary": {}})
    obj["kind"] = "Deployment"
    assert problems(obj) == [
        "not an argoproj.io/v1alpha1 Rollout (apiVersion 'argoproj.io/v1alpha1', kind 'Deployment')"
    ]


def test_the_supported_table_is_a_subset_of_argos_fields() -> None:
    for place, keys in SUPPORTED.items():
        assert keys <= ARGO_FIELDS.get(place, keys), place
