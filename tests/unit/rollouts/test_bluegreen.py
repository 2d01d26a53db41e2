"""Blue-green decisions (after Argo Rollouts' rollout/bluegreen.go and its docs)."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.rollouts.bluegreen import Action, Decision, after_switch, before_switch, preview_replica_count
from bosun.rollouts.spec import BlueGreenStrategy, RolloutAnalysis, TemplateRef

ANALYSIS = RolloutAnalysis(templates=(TemplateRef(template_name="smoke"),))
AUTO = BlueGreenStrategy(active_service="a", preview_service="p")
MANUAL = AUTO.model_copy(update={"auto_promotion_enabled": False})
TIMED = AUTO.model_copy(update={"auto_promotion_seconds": 30})
PRE = MANUAL.model_copy(update={"pre_promotion_analysis": ANALYSIS})
PREVIEW_2 = AUTO.model_copy(update={"preview_replica_count": 2})


@pytest.mark.parametrize(
    ("bg", "kw", "expected"),
    [
        pytest.param(AUTO, {"preview_ready": False}, Decision(Action.WAIT_FOR_PREVIEW), id="preview not ready"),
        pytest.param(AUTO, {"preview_ready": True}, Decision(Action.SWITCH_ACTIVE), id="auto promotion"),
        pytest.param(MANUAL, {"preview_ready": True}, Decision(Action.PAUSE), id="pause until promoted"),
        pytest.param(MANUAL, {"preview_ready": True, "promoted": True}, Decision(Action.SWITCH_ACTIVE), id="promoted"),
        pytest.param(TIMED, {"preview_ready": True}, Decision(Action.PAUSE, pause_seconds=30), id="timed pause"),
        pytest.param(
            TIMED,
            {"preview_ready": True, "paused_seconds": 20},
            Decision(Action.PAUSE, pause_seconds=10),
            id="timed left",
        ),
        pytest.param(
            TIMED, {"preview_ready": True, "paused_seconds": 30}, Decision(Action.SWITCH_ACTIVE), id="timed over"
        ),
        pytest.param(PRE, {"preview_ready": True}, Decision(Action.START_ANALYSIS), id="start pre-promotion analysis"),
        pytest.param(
            PRE,
            {"preview_ready": True, "pre_promotion_analysis": "Running"},
            Decision(Action.WAIT_FOR_ANALYSIS),
            id="wait",
        ),
        pytest.param(
            PRE,
            {"preview_ready": True, "pre_promotion_analysis": "Failed"},
            Decision(Action.ABORT, message="pre-promotion analysis Failed"),
            id="pre-promotion analysis failed",
        ),
        pytest.param(
            PRE,
            {"preview_ready": True, "pre_promotion_analysis": "Successful"},
            Decision(Action.PAUSE),
            id="analysis passed, then the manual pause",
        ),
        pytest.param(
            PRE,
            {"preview_ready": True, "promote_full": True},
            Decision(Action.SWITCH_ACTIVE),
            id="promote full skips analysis and pause",
        ),
        pytest.param(
            PREVIEW_2, {"preview_ready": True}, Decision(Action.SCALE_UP_PREVIEW), id="scale up preview first"
        ),
        pytest.param(
            PREVIEW_2,
            {"preview_ready": True, "scale_up_preview_checkpoint": True},
            Decision(Action.SWITCH_ACTIVE),
            id="preview at full scale",
        ),
        pytest.param(
            AUTO,
            {"preview_ready": True, "aborted": True},
            Decision(Action.ABORT, message="Rollout aborted"),
            id="aborted",
        ),
    ],
)
def test_before_switch(bg: BlueGreenStrategy, kw: dict[str, Any], expected: Decision) -> None:
    assert before_switch(bg, **kw) == expected


POST = AUTO.model_copy(update={"post_promotion_analysis": ANALYSIS})


@pytest.mark.parametrize(
    ("bg", "phase", "expected"),
    [
        (AUTO, None, Decision(Action.MARK_STABLE)),
        (POST, None, Decision(Action.START_ANALYSIS)),
        (POST, "Pending", Decision(Action.WAIT_FOR_ANALYSIS)),
        (POST, "Successful", Decision(Action.MARK_STABLE)),
        (POST, "Error", Decision(Action.ABORT, message="post-promotion analysis Error")),
        (POST, "Inconclusive", Decision(Action.PAUSE, message="post-promotion analysis Inconclusive")),
    ],
)
def test_after_switch(bg: BlueGreenStrategy, phase: str | None, expected: Decision) -> None:
    assert after_switch(bg, post_promotion_analysis=phase) == expected


@pytest.mark.parametrize(
    ("bg", "new_is_active", "checkpoint", "expected"),
    [(AUTO, False, False, 5), (PREVIEW_2, False, False, 2), (PREVIEW_2, False, True, 5), (PREVIEW_2, True, False, 5)],
)
def test_preview_replica_count(bg: BlueGreenStrategy, new_is_active: bool, checkpoint: bool, expected: int) -> None:
    assert (
        preview_replica_count(bg, replicas=5, new_is_active=new_is_active, scale_up_preview_checkpoint=checkpoint)
        == expected
    )
