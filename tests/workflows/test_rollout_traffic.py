"""RolloutWorkflow with a traffic router, on the time-skipping server with a fake cluster.

The fake is :class:`tests.workflows.test_rollout_workflow.FakeRolloutCluster` plus the two
traffic activities under their real names: ``set_traffic_weight`` records each weight set on
the router, ``set_scale_down_deadlines`` the ``scale-down-deadline`` annotations. What is
checked is Argo Rollouts' behaviour with a router: the canary gets ``ceil(weight% of
replicas)`` pods, the stable stays full (or follows the traffic with ``dynamicStableScale``),
the weight follows the steps and returns to 0 after the promotion, and the old stable (or an
aborted canary) is scaled down only after its delay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.rollouts import ScaleDownDeadlinesInput, TrafficWeightInput, TrafficWeightResult, replica_set_name
from bosun.protocol import RolloutCommand, RolloutUpdate
from tests.workflows.conftest import eventually, skip_time
from tests.workflows.test_rollout_workflow import (
    NAME,
    NAMESPACE,
    FakeRolloutCluster,
    Rollout,
    rollout_spec,
    run_rollout,
)
from tests.workflows.test_rollout_workflow import template_hash as _template_hash

STEPS = [{"setWeight": 30}, {"pause": {}}, {"setWeight": 70}, {"pause": {"duration": "2s"}}]
NGINX = {"nginx": {"stableIngress": "web"}}
GATEWAY = {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": NAMESPACE}}}


def routed_spec(image: str, routing: dict[str, Any], **canary: Any) -> dict[str, Any]:
    spec = rollout_spec(image, steps=STEPS)
    spec["strategy"]["canary"]["trafficRouting"] = routing
    spec["strategy"]["canary"].update(canary)
    return spec


V1, V2 = _template_hash("web:1"), _template_hash("web:2")


class FakeRoutedCluster(FakeRolloutCluster):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.weights: list[int] = []
        """Each weight set on the router, in order."""
        self.routers: list[str] = []
        self.deadlines: dict[str, str] = {}
        """ReplicaSet name → its scale-down-deadline annotation now."""
        self.ever_annotated: set[str] = set()

    def activities(self) -> list[Any]:
        @activity.defn(name="set_traffic_weight")
        async def set_traffic_weight(input: TrafficWeightInput) -> TrafficWeightResult:
            assert input.canary_service == "web-canary" and input.stable_service == "web-stable"
            self.routers.append("nginx" if input.nginx is not None else "gatewayAPI")
            self.weights.append(input.weight)
            return TrafficWeightResult(set=True)

        @activity.defn(name="set_scale_down_deadlines")
        async def set_scale_down_deadlines(input: ScaleDownDeadlinesInput) -> list[str]:
            for name, deadline in input.deadlines.items():
                if deadline is None:
                    self.deadlines.pop(name, None)
                else:
                    self.deadlines[name] = deadline
                    self.ever_annotated.add(name)
            return list(input.deadlines)

        return [*super().activities(), set_traffic_weight, set_scale_down_deadlines]


@pytest.fixture
async def nginx_rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in run_rollout(env, FakeRoutedCluster(routed_spec("web:1", NGINX))):
        yield r


@pytest.fixture
async def gateway_rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in run_rollout(env, FakeRoutedCluster(routed_spec("web:1", GATEWAY, dynamicStableScale=True))):
        yield r


def _cluster(rollout: Rollout) -> FakeRoutedCluster:
    assert isinstance(rollout.cluster, FakeRoutedCluster)
    return rollout.cluster


async def test_nginx_weights_follow_steps_and_old_stable_waits_scale_down_delay(
    env: WorkflowEnvironment, nginx_rollout: Rollout
) -> None:
    rollout, cluster = nginx_rollout, _cluster(nginx_rollout)
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    assert cluster.weights == [0] and cluster.routers == ["nginx"]

    cluster.update(routed_spec("web:2", NGINX))
    await rollout.observe()
    # Traffic-routed: the canary gets ceil(30% of 5) = 2 pods, the stable stays at 5.
    paused = await rollout.settles("paused at 30%", phase="Paused", currentStepIndex=1, counts={V1: 5, V2: 2})
    assert cluster.weights[-1] == 30
    assert paused.status["canary"]["weights"]["canary"]["weight"] == 30
    assert paused.status["canary"]["weights"]["stable"]["weight"] == 70

    await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(who="alice"), result_type=None)
    await rollout.settles("at 70%", currentStepIndex=3, counts={V1: 5, V2: 4})
    assert cluster.weights[-1] == 70

    await skip_time(env, 3)
    # Promoted: the weight goes back to 0 (the stable is now V2); the old stable keeps its pods
    # for scaleDownDelaySeconds (30 by default), annotated with the deadline.
    done = await rollout.settles("promoted", phase="Healthy", currentStepIndex=4, counts={V1: 5, V2: 5})
    assert done.stable_hash == V2 and cluster.services == {"web-canary": V2, "web-stable": V2}
    await eventually(lambda: _async(cluster.weights), lambda w: w[-1] == 0, what="weight back to 0")
    # Past the last step the canary takes 100 until the stable switches to it (Argo's
    # reconcileTrafficRouting), then the weight is 0 again: all traffic to the new stable.
    assert [w for i, w in enumerate(cluster.weights) if i == 0 or cluster.weights[i - 1] != w] == [0, 30, 70, 100, 0]
    old = replica_set_name(NAME, V1)
    assert old in cluster.deadlines

    await skip_time(env, 31)
    await rollout.settles("old stable scaled down after the delay", counts={V1: 0, V2: 5})
    await eventually(lambda: _async(dict(cluster.deadlines)), lambda d: old not in d, what="annotation removed")


async def test_gateway_api_with_dynamic_stable_scale_and_abort_delay(
    env: WorkflowEnvironment, gateway_rollout: Rollout
) -> None:
    rollout, cluster = gateway_rollout, _cluster(gateway_rollout)
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    cluster.update(routed_spec("web:2", GATEWAY, dynamicStableScale=True))
    await rollout.observe()
    # dynamicStableScale: the stable follows its traffic share, ceil(70% of 5) = 4.
    await rollout.settles("paused at 30%", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 2})
    assert cluster.weights[-1] == 30 and set(cluster.routers) == {"gatewayAPI"}

    cluster.status["abort"] = True  # kubectl argo rollouts abort
    await rollout.observe()
    # Aborted: all traffic back to the stable, which scales back up; the canary keeps its pods
    # for abortScaleDownDelaySeconds (30 by default), annotated.
    await rollout.settles("aborted", phase="Degraded", abort=True, counts={V1: 5, V2: 2})
    # With dynamicStableScale the canary keeps the share the stable cannot carry yet
    # (100 - 100 * 4 available / 5 = 20), then 0 once the stable is back at 5.
    await eventually(lambda: _async(list(cluster.weights)), lambda w: w[-1] == 0, what="weight back to 0")
    assert set(cluster.weights[cluster.weights.index(30) + 1 :]) <= {20, 0}
    canary = replica_set_name(NAME, V2)
    assert canary in cluster.deadlines

    await skip_time(env, 31)
    await rollout.settles("canary scaled down after the abort delay", counts={V1: 5, V2: 0})
    assert canary not in cluster.deadlines and canary in cluster.ever_annotated


async def _async(value: Any) -> Any:
    return value
