"""RolloutWorkflow's analysis gates on the time-skipping server: canary background analysis
(``strategy.canary.analysis`` with ``startingStep``) and blue-green pre-/postPromotionAnalysis,
with the fake cluster of ``test_rollout_workflow.py`` and its stand-in AnalysisRun
(``tests/workflows/fake_analysis.py``: ten minutes, then the template's verdict).

After Argo Rollouts' ``rollout/analysis.go``: a background run goes on beside the steps, its
failure aborts (stable back), Inconclusive pauses (``InconclusiveAnalysisRun``) until promoted,
and it is terminated when the rollout completes; a failed pre-promotion analysis keeps the
active Service on the stable hash, a failed post-promotion analysis switches it back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from bosun.protocol import RolloutCommand, RolloutUpdate, analysis_run_workflow_id
from bosun.resources import HealthCode
from tests.workflows import test_rollout_bluegreen as bluegreen
from tests.workflows.conftest import eventually, skip_time
from tests.workflows.test_rollout_workflow import (
    V1,
    V2,
    FakeRolloutCluster,
    Rollout,
    health,
    rollout_spec,
    run_rollout,
)

ACTIVE, PREVIEW = bluegreen.ACTIVE, bluegreen.PREVIEW
BG1, BG2 = bluegreen.V1, bluegreen.V2


def with_background(image: str, template: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    spec = rollout_spec(image, steps=steps)
    spec["strategy"]["canary"]["analysis"] = {"templates": [{"templateName": template}], **extra}
    return spec


def background(rollout: Rollout) -> dict[str, Any]:
    return rollout.cluster.status.get("canary", {}).get("currentBackgroundAnalysisRunStatus") or {}


async def update(rollout: Rollout, spec: dict[str, Any]) -> None:
    rollout.cluster.update(spec)
    await rollout.observe()


async def promote(rollout: Rollout) -> None:
    result = await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(who="alice"), result_type=None)
    assert result["accepted"], result


async def run_status(env: WorkflowEnvironment, rollout: Rollout, name: str) -> WorkflowExecutionStatus | None:
    handle = env.client.get_workflow_handle(analysis_run_workflow_id(rollout.handle.id, name))
    return (await handle.describe()).status


@asynccontextmanager
async def started(env: WorkflowEnvironment, spec: dict[str, Any]) -> AsyncIterator[Rollout]:
    cluster = FakeRolloutCluster(spec)
    async for r in run_rollout(env, cluster):
        await r.settles("first revision", phase="Healthy", counts={V1: 5})
        yield r


# ---------------------------------------------------------------------------- canary background


async def test_background_analysis_runs_beside_the_steps_and_is_terminated_on_completion(
    env: WorkflowEnvironment,
) -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "1h"}}]
    async with started(env, with_background("web:1", "forever", steps)) as rollout:
        await update(rollout, with_background("web:2", "forever", steps))
        await rollout.settles("paused at step 1", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
        name = f"web-{V2}-2"
        await eventually(rollout.describe, lambda d: background(rollout).get("status") == "Running", what="running")
        assert background(rollout)["name"] == name
        labels = (await rollout.describe()).analysis_runs
        assert [r.name for r in labels] == [name]
        await promote(rollout)
        await rollout.settles("in the timed pause", currentStepIndex=3, counts={V1: 2, V2: 3})
        assert background(rollout)["status"] == "Running"
        await skip_time(env, 3601)
        done = await rollout.settles("completed", phase="Healthy", counts={V1: 0, V2: 5})
        assert background(rollout) == {} and done.analysis_runs == []
        await eventually(
            lambda: run_status(env, rollout, name),
            lambda st: st == WorkflowExecutionStatus.CANCELED,
            what="the background run terminated",
        )


async def test_background_analysis_failure_aborts_and_restores_stable(env: WorkflowEnvironment) -> None:
    steps = [{"setWeight": 20}, {"pause": {}}]
    async with started(env, with_background("web:1", "fail", steps)) as rollout:
        await update(rollout, with_background("web:2", "fail", steps))
        await rollout.settles("paused at step 1", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
        await skip_time(env, 601)
        aborted = await rollout.settles("aborted", phase="Degraded", counts={V1: 5, V2: 0})
        assert rollout.cluster.status["abort"] is True
        assert f"AnalysisRun 'web-{V2}-2' failed" in aborted.message
        assert background(rollout) == {
            "name": f"web-{V2}-2",
            "status": "Failed",
            "message": "metric success-rate assessed Failed",
        }
        assert health(rollout.cluster) == HealthCode.DEGRADED


async def test_background_inconclusive_pauses_until_promoted_then_runs_again(env: WorkflowEnvironment) -> None:
    steps = [{"setWeight": 20}, {"pause": {"duration": "1h"}}]
    async with started(env, with_background("web:1", "inconclusive", steps)) as rollout:
        await update(rollout, with_background("web:2", "inconclusive", steps))
        await rollout.settles("in the timed pause", currentStepIndex=1, counts={V1: 4, V2: 1})
        await skip_time(env, 601)
        paused = await eventually(
            rollout.describe,
            lambda d: any(
                c["reason"] == "InconclusiveAnalysisRun" for c in rollout.cluster.status.get("pauseConditions") or []
            ),
            what="the InconclusiveAnalysisRun pause",
        )
        assert paused.phase == "Paused" and background(rollout)["status"] == "Inconclusive"
        await skip_time(env, 3601)  # the pause step's hour passes: the inconclusive pause holds
        await rollout.settles("still paused", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
        await promote(rollout)
        await rollout.settles("completed after the promotion", phase="Healthy", counts={V1: 0, V2: 5})
        # The promotion started the gate's analysis again (web-<hash>-2.1), terminated at completion.
        await eventually(
            lambda: run_status(env, rollout, f"web-{V2}-2.1"),
            lambda st: st == WorkflowExecutionStatus.CANCELED,
            what="the second background run, terminated",
        )


async def test_background_analysis_starts_at_starting_step(env: WorkflowEnvironment) -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]
    async with started(env, with_background("web:1", "pass", steps, startingStep=2)) as rollout:
        await update(rollout, with_background("web:2", "pass", steps, startingStep=2))
        await rollout.settles("paused at step 1", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
        await skip_time(env, 60)
        assert background(rollout) == {}, "no background run before startingStep"
        await promote(rollout)
        await rollout.settles("paused at step 3", phase="Paused", currentStepIndex=3, counts={V1: 2, V2: 3})
        await eventually(rollout.describe, lambda d: background(rollout).get("status") == "Running", what="running")
        await skip_time(env, 601)
        await eventually(
            rollout.describe, lambda d: background(rollout).get("status") == "Successful", what="successful"
        )
        await rollout.settles("still paused at step 3", phase="Paused", currentStepIndex=3)


# ---------------------------------------------------------------------------- blue-green


@asynccontextmanager
async def bg_started(env: WorkflowEnvironment, spec: dict[str, Any]) -> AsyncIterator[Rollout]:
    async for r in bluegreen.start(env, spec):
        await r.settles("first revision", phase="Healthy", counts={BG1: 3})
        yield r


def blue_green(rollout: Rollout, field: str) -> dict[str, Any]:
    return rollout.cluster.status.get("blueGreen", {}).get(field) or {}


def bg(image: str, **gates: str) -> dict[str, Any]:
    extra = {k: {"templates": [{"templateName": v}]} for k, v in gates.items()}
    return bluegreen.bg_spec(image, autoPromotionEnabled=True, **extra)


async def test_pre_promotion_analysis_that_passes_lets_the_switch_happen(env: WorkflowEnvironment) -> None:
    async with bg_started(env, bg("web:1", prePromotionAnalysis="pass")) as rollout:
        await update(rollout, bg("web:2", prePromotionAnalysis="pass"))
        await eventually(
            rollout.describe,
            lambda d: blue_green(rollout, "prePromotionAnalysisRunStatus").get("status") == "Running",
            what="the pre-promotion run",
        )
        assert blue_green(rollout, "prePromotionAnalysisRunStatus")["name"] == f"web-{BG2}-2-pre"
        assert rollout.cluster.services == {ACTIVE: BG1, PREVIEW: BG2}, "no switch before the analysis"
        await skip_time(env, 601)
        await eventually(rollout.describe, lambda d: rollout.cluster.services[ACTIVE] == BG2, what="the switch")
        assert blue_green(rollout, "prePromotionAnalysisRunStatus")["status"] == "Successful"
        await skip_time(env, 61)
        await rollout.settles("old scaled down", phase="Healthy", counts={BG1: 0, BG2: 3})


async def test_pre_promotion_analysis_that_fails_aborts_before_the_switch(env: WorkflowEnvironment) -> None:
    async with bg_started(env, bg("web:1", prePromotionAnalysis="fail")) as rollout:
        await update(rollout, bg("web:2", prePromotionAnalysis="fail"))
        await rollout.settles("preview up", counts={BG1: 3, BG2: 3})
        await skip_time(env, 601)
        aborted = await rollout.settles("aborted", phase="Degraded")
        assert f"AnalysisRun 'web-{BG2}-2-pre' failed" in aborted.message
        assert rollout.cluster.services[ACTIVE] == BG1
        assert blue_green(rollout, "prePromotionAnalysisRunStatus")["status"] == "Failed"
        await skip_time(env, 31)  # abortScaleDownDelaySeconds
        await rollout.settles("preview scaled down", phase="Degraded", counts={BG1: 3, BG2: 0})


async def test_post_promotion_analysis_that_passes_makes_the_new_hash_stable(env: WorkflowEnvironment) -> None:
    async with bg_started(env, bg("web:1", postPromotionAnalysis="pass")) as rollout:
        await update(rollout, bg("web:2", postPromotionAnalysis="pass"))
        await eventually(
            rollout.describe,
            lambda d: blue_green(rollout, "postPromotionAnalysisRunStatus").get("status") == "Running",
            what="the post-promotion run",
        )
        assert rollout.cluster.services[ACTIVE] == BG2, "post-promotion analysis runs after the switch"
        assert rollout.cluster.status["stableRS"] == BG1
        await skip_time(env, 601)
        await eventually(rollout.describe, lambda d: rollout.cluster.status["stableRS"] == BG2, what="new stable")
        await skip_time(env, 61)
        await rollout.settles("old scaled down", phase="Healthy", counts={BG1: 0, BG2: 3})


async def test_post_promotion_analysis_that_fails_switches_back(env: WorkflowEnvironment) -> None:
    async with bg_started(env, bg("web:1", postPromotionAnalysis="fail")) as rollout:
        await update(rollout, bg("web:2", postPromotionAnalysis="fail"))
        await eventually(rollout.describe, lambda d: rollout.cluster.services[ACTIVE] == BG2, what="the switch")
        await skip_time(env, 601)
        aborted = await rollout.settles("aborted", phase="Degraded")
        assert f"AnalysisRun 'web-{BG2}-2-post' failed" in aborted.message
        await eventually(rollout.describe, lambda d: rollout.cluster.services[ACTIVE] == BG1, what="switched back")
        assert rollout.cluster.status["stableRS"] == BG1
        assert blue_green(rollout, "postPromotionAnalysisRunStatus")["status"] == "Failed"
