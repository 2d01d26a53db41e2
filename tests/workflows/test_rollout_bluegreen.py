"""RolloutWorkflow's blue-green path on the time-skipping server, with the fake cluster of
``test_rollout_workflow.py``.

After Argo Rollouts' blue-green docs: the preview ReplicaSet comes up behind the preview
Service while the active Service keeps the old hash; the rollout pauses (``BlueGreenPause``)
until promoted, or ``autoPromotionSeconds`` long (an hour passes in a second here); the
switch moves the active Service, and the old ReplicaSet goes to 0 ``scaleDownDelaySeconds``
later; an abort keeps the active Service on the stable hash and scales the preview down
``abortScaleDownDelaySeconds`` later.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from bosun.protocol import RolloutCommand, RolloutUpdate
from bosun.resources import HealthCode
from bosun.rollouts.hash import pod_template_hash
from tests.workflows.conftest import eventually, skip_time
from tests.workflows.test_rollout_workflow import NAME, FakeRolloutCluster, Rollout, health, run_rollout

ACTIVE, PREVIEW = "web-active", "web-preview"


def bg_spec(image: str, *, replicas: int = 3, **blue_green: Any) -> dict[str, Any]:
    return {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": NAME}},
        "template": {
            "metadata": {"labels": {"app": NAME}},
            "spec": {"containers": [{"name": "main", "image": image}]},
        },
        "strategy": {
            "blueGreen": {
                "activeService": ACTIVE,
                "previewService": PREVIEW,
                "autoPromotionEnabled": False,
                "scaleDownDelaySeconds": 60,
                **blue_green,
            }
        },
    }


def bg_hash(image: str) -> str:
    return pod_template_hash(bg_spec(image)["template"])


V1, V2, V3 = bg_hash("web:1"), bg_hash("web:2"), bg_hash("web:3")


async def start(env: WorkflowEnvironment, spec: dict[str, Any]) -> AsyncIterator[Rollout]:
    cluster = FakeRolloutCluster(spec)
    cluster.services = {ACTIVE: "", PREVIEW: ""}
    async for r in run_rollout(env, cluster):
        yield r


@pytest.fixture
async def rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in start(env, bg_spec("web:1")):
        yield r


@pytest.fixture
async def auto_rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in start(env, bg_spec("web:1", autoPromotionEnabled=True, autoPromotionSeconds=3600)):
        yield r


async def test_first_revision_is_active_and_healthy(rollout: Rollout) -> None:
    described = await rollout.settles("first revision", phase="Healthy", counts={V1: 3})
    assert described.strategy == "blueGreen" and described.stable_hash == V1
    assert rollout.cluster.services == {ACTIVE: V1, PREVIEW: V1}
    assert rollout.cluster.status["blueGreen"]["activeSelector"] == V1
    assert rollout.cluster.status["blueGreen"]["previewSelector"] == V1
    assert health(rollout.cluster) == HealthCode.HEALTHY


async def test_preview_pauses_until_promoted_then_switches_and_scales_down_after_delay(
    env: WorkflowEnvironment, rollout: Rollout
) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 3})
    rollout.cluster.update(bg_spec("web:2"))
    await rollout.observe()
    paused = await rollout.settles("preview up, paused", phase="Paused", counts={V1: 3, V2: 3})
    assert paused.status["pauseConditions"][0]["reason"] == "BlueGreenPause" and paused.status["controllerPause"]
    assert rollout.cluster.services == {ACTIVE: V1, PREVIEW: V2}
    assert paused.status["blueGreen"]["activeSelector"] == V1
    assert paused.status["blueGreen"]["previewSelector"] == V2
    assert health(rollout.cluster) == HealthCode.SUSPENDED

    rollout.cluster.status["pauseConditions"] = None  # kubectl argo rollouts promote
    await rollout.observe()
    switched = await rollout.settles("switched, old kept for the delay", phase="Healthy", counts={V1: 3, V2: 3})
    assert rollout.cluster.services == {ACTIVE: V2, PREVIEW: V2}
    assert switched.stable_hash == V2 and switched.status["blueGreen"]["activeSelector"] == V2
    await skip_time(env, 61)
    await rollout.settles("old scaled down", phase="Healthy", counts={V1: 0, V2: 3})
    assert health(rollout.cluster) == HealthCode.HEALTHY


async def test_promote_update_and_preview_replica_count(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 3})
    rollout.cluster.update(bg_spec("web:2", previewReplicaCount=1))
    await rollout.observe()
    await rollout.settles("one preview pod, paused", phase="Paused", counts={V1: 3, V2: 1})
    result = await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(who="alice"), result_type=None)
    assert result["accepted"]
    await rollout.settles("preview scaled up and switched", phase="Healthy", counts={V1: 3, V2: 3})
    assert rollout.cluster.services == {ACTIVE: V2, PREVIEW: V2}
    again = await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(who="alice"), result_type=None)
    assert not again["accepted"]


async def test_auto_promotion_after_an_hour(env: WorkflowEnvironment, auto_rollout: Rollout) -> None:
    rollout = auto_rollout
    await rollout.settles("first revision", phase="Healthy", counts={V1: 3})
    rollout.cluster.update(bg_spec("web:2", autoPromotionEnabled=True, autoPromotionSeconds=3600))
    await rollout.observe()
    await rollout.settles("paused for autoPromotionSeconds", phase="Paused", counts={V1: 3, V2: 3})
    await skip_time(env, 1800)
    assert rollout.cluster.services[ACTIVE] == V1, "not promoted after half an hour"
    await skip_time(env, 1800 + 5)
    await rollout.settles("auto-promoted", phase="Healthy", stableRS=V2)
    assert rollout.cluster.services == {ACTIVE: V2, PREVIEW: V2}


async def test_abort_keeps_active_on_stable_and_scales_preview_down(env: WorkflowEnvironment, rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 3})
    rollout.cluster.update(bg_spec("web:2", abortScaleDownDelaySeconds=120))
    await rollout.observe()
    await rollout.settles("paused", phase="Paused", counts={V1: 3, V2: 3})
    result = await rollout.handle.execute_update(RolloutUpdate.ABORT, RolloutCommand(who="carol"), result_type=None)
    assert result["accepted"] and result["phase"] == "Degraded"
    assert rollout.cluster.services[ACTIVE] == V1 and rollout.cluster.counts() == {V1: 3, V2: 3}
    await skip_time(env, 121)
    await rollout.settles("preview scaled down", phase="Degraded", counts={V1: 3, V2: 0})
    assert rollout.cluster.services[ACTIVE] == V1
    assert health(rollout.cluster) == HealthCode.DEGRADED

    rollout.cluster.update(bg_spec("web:3"))  # a new revision starts over
    await rollout.observe()
    await rollout.settles("v3 preview paused", phase="Paused", counts={V1: 3, V2: 0, V3: 3})


async def test_unsupported_analysis_fields_are_refused(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 3})
    gate = {"templates": [{"templateName": "ok"}], "dryRun": [{"metricName": "x"}]}
    rollout.cluster.update(bg_spec("web:2", prePromotionAnalysis=gate))
    await rollout.observe()
    described = await eventually(rollout.describe, lambda d: "prePromotionAnalysis" in d.message, what="refused")
    assert described.phase == "Degraded" and rollout.cluster.counts() == {V1: 3}
