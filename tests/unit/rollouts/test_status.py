"""The Rollout status Bosun writes, in Argo Rollouts' shape, and how Argo CD's Rollout health
check (bosun/health/rollout.py) reads it: Paused -> Suspended, aborted -> Degraded, an
update in flight -> Progressing, done -> Healthy."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.health.rollout import rollout_health
from bosun.resources import HealthCode
from bosun.rollouts.replicas import TrafficWeights
from bosun.rollouts.spec import Rollout, parse_rollout
from bosun.rollouts.status import (
    AnalysisRunStatus,
    PauseCondition,
    PauseReason,
    Phase,
    StatusInput,
    build_status,
    format_label_selector,
)

NOW = "2026-12-02T01:00:00Z"
LATER = "2026-12-02T01:05:00Z"


def rollout_obj(strategy: dict[str, Any], *, replicas: int = 5, paused: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "demo", "generation": 3},
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
            "strategy": strategy,
        },
    }


CANARY = {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "5s"}}]}}
BLUE_GREEN = {"blueGreen": {"activeService": "web-active", "previewService": "web-preview"}}


def canary(**kw: Any) -> Rollout:
    return parse_rollout(rollout_obj(CANARY, **kw))


def health_of(obj: dict[str, Any], status: dict[str, Any]) -> tuple[HealthCode, str]:
    h = rollout_health({**obj, "status": status})
    return h.status, h.message


def test_canary_paused_at_a_step_is_suspended() -> None:
    ro = canary()
    status = build_status(
        StatusInput(
            rollout=ro,
            now=NOW,
            current_pod_hash="new",
            stable_rs="old",
            current_step_index=1,
            pause_conditions=(PauseCondition(reason=PauseReason.CANARY_PAUSE_STEP, start_time=NOW),),
            controller_pause=True,
            replicas=6,
            updated_replicas=1,
            ready_replicas=6,
            available_replicas=6,
        )
    )
    assert status["phase"] == "Paused"
    assert status["message"] == "CanaryPauseStep"
    assert status["pauseConditions"] == [{"reason": "CanaryPauseStep", "startTime": NOW}]
    assert status["controllerPause"] is True
    assert status["currentStepIndex"] == 1
    assert status["observedGeneration"] == "3"
    assert status["selector"] == "app=web"
    types = {c["type"]: c for c in status["conditions"]}
    assert types["Paused"]["status"] == "True"
    assert types["Progressing"]["reason"] == "RolloutPaused"
    assert health_of(rollout_obj(CANARY), status) == (HealthCode.SUSPENDED, "CanaryPauseStep")


def test_spec_paused_is_suspended_as_manually_paused() -> None:
    ro = canary(paused=True)
    status = build_status(StatusInput(rollout=ro, now=NOW, current_pod_hash="h", stable_rs="h", replicas=5))
    assert (status["phase"], status["message"]) == ("Paused", "manually paused")
    assert health_of(rollout_obj(CANARY, paused=True), status)[0] == HealthCode.SUSPENDED


def test_aborted_canary_is_degraded_with_argos_message() -> None:
    ro = canary()
    status = build_status(
        StatusInput(
            rollout=ro,
            now=NOW,
            current_pod_hash="new",
            stable_rs="old",
            current_revision=2,
            current_step_index=0,
            abort=True,
            abort_message="AnalysisRun 'web-2-1' failed",
            replicas=5,
            updated_replicas=0,
            available_replicas=5,
            step_analysis_run=AnalysisRunStatus(name="web-2-1", status="Failed"),
        )
    )
    assert status["phase"] == "Degraded"
    assert status["message"] == "RolloutAborted: Rollout aborted update to revision 2: AnalysisRun 'web-2-1' failed"
    assert status["abort"] is True
    assert status["abortedAt"] == NOW
    assert status["canary"]["currentStepAnalysisRunStatus"] == {"name": "web-2-1", "status": "Failed"}
    code, message = health_of(rollout_obj(CANARY), status)
    assert code == HealthCode.DEGRADED
    assert message == status["message"]


def test_invalid_spec_is_degraded() -> None:
    ro = canary()
    status = build_status(
        StatusInput(
            rollout=ro,
            now=NOW,
            current_pod_hash="",
            invalid_spec="spec.strategy.canary.steps[0].experiment: not supported by Bosun",
        )
    )
    assert status["phase"] == "Degraded"
    assert status["message"] == "InvalidSpec: spec.strategy.canary.steps[0].experiment: not supported by Bosun"
    assert [c["type"] for c in status["conditions"]] == ["InvalidSpec"]
    assert health_of(rollout_obj(CANARY), status)[0] == HealthCode.DEGRADED


def test_progress_deadline_is_degraded() -> None:
    status = build_status(
        StatusInput(
            rollout=canary(),
            now=NOW,
            current_pod_hash="new",
            stable_rs="old",
            progress_deadline_exceeded=True,
            replicas=6,
            updated_replicas=1,
        )
    )
    assert status["phase"] == "Degraded"
    assert status["message"] == 'ProgressDeadlineExceeded: ReplicaSet "web-new" has timed out progressing.'
    assert health_of(rollout_obj(CANARY), status)[0] == HealthCode.DEGRADED


@pytest.mark.parametrize(
    ("step", "replicas", "updated", "available", "message"),
    [
        (0, 6, 1, 5, "more replicas need to be updated"),
        (4, 5, 5, 3, "updated replicas are still becoming available"),
        (4, 7, 5, 5, "old replicas are pending termination"),
    ],
)
def test_an_update_in_flight_is_progressing(
    step: int, replicas: int, updated: int, available: int, message: str
) -> None:
    status = build_status(
        StatusInput(
            rollout=canary(),
            now=NOW,
            current_pod_hash="new",
            stable_rs="old",
            current_step_index=step,
            replicas=replicas,
            updated_replicas=updated,
            available_replicas=available,
        )
    )
    assert (status["phase"], status["message"]) == ("Progressing", message)
    assert health_of(rollout_obj(CANARY), status)[0] == HealthCode.PROGRESSING


def test_a_finished_canary_is_healthy_and_conditions_keep_their_times() -> None:
    done = StatusInput(
        rollout=canary(),
        now=NOW,
        current_pod_hash="new",
        stable_rs="new",
        current_step_index=4,
        replicas=5,
        updated_replicas=5,
        ready_replicas=5,
        available_replicas=5,
    )
    status = build_status(done)
    assert (status["phase"], status["message"]) == ("Healthy", "")
    types = {c["type"]: c for c in status["conditions"]}
    assert types["Healthy"]["status"] == "True"
    assert types["Completed"]["status"] == "True"
    assert types["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert types["Available"]["status"] == "True"
    assert health_of(rollout_obj(CANARY), status) == (HealthCode.HEALTHY, "")

    again = build_status(done.model_copy(update={"now": LATER, "previous_conditions": tuple(status["conditions"])}))
    assert again["conditions"] == status["conditions"]


def test_a_canary_behind_a_router_reports_its_weights() -> None:
    obj = rollout_obj(
        {
            "canary": {
                "canaryService": "web-canary",
                "stableService": "web-stable",
                "trafficRouting": {"nginx": {"stableIngress": "web"}},
                "steps": [{"setWeight": 20}, {"pause": {}}],
            }
        }
    )
    status = build_status(
        StatusInput(
            rollout=parse_rollout(obj),
            now=NOW,
            current_pod_hash="new",
            stable_rs="old",
            current_step_index=1,
            weights=TrafficWeights(canary=20, stable=80),
            replicas=6,
            updated_replicas=1,
            available_replicas=6,
        )
    )
    assert status["canary"]["weights"] == {
        "canary": {"weight": 20, "podTemplateHash": "new", "serviceName": "web-canary"},
        "stable": {"weight": 80, "podTemplateHash": "old", "serviceName": "web-stable"},
    }


def test_blue_green_waits_for_the_active_cutover_then_is_healthy() -> None:
    obj = rollout_obj(BLUE_GREEN, replicas=2)
    ro = parse_rollout(obj)
    before = StatusInput(
        rollout=ro,
        now=NOW,
        current_pod_hash="new",
        stable_rs="old",
        active_selector="old",
        preview_selector="new",
        replicas=4,
        updated_replicas=2,
        available_replicas=2,
    )
    status = build_status(before)
    assert (status["phase"], status["message"]) == ("Progressing", "active service cutover pending")
    assert status["blueGreen"]["activeSelector"] == "old"
    assert status["blueGreen"]["previewSelector"] == "new"
    assert "currentStepIndex" not in status
    assert health_of(obj, status) == (HealthCode.PROGRESSING, "active service cutover pending")

    after = build_status(before.model_copy(update={"stable_rs": "new", "active_selector": "new"}))
    assert after["phase"] == Phase.HEALTHY
    assert health_of(obj, after)[0] == HealthCode.HEALTHY


def test_blue_green_paused_before_promotion_is_suspended() -> None:
    obj = rollout_obj({"blueGreen": {**BLUE_GREEN["blueGreen"], "autoPromotionEnabled": False}}, replicas=2)
    status = build_status(
        StatusInput(
            rollout=parse_rollout(obj),
            now=NOW,
            current_pod_hash="new",
            stable_rs="old",
            active_selector="old",
            preview_selector="new",
            pause_conditions=(PauseCondition(reason=PauseReason.BLUE_GREEN_PAUSE, start_time=NOW),),
            controller_pause=True,
            replicas=4,
            updated_replicas=2,
            available_replicas=4,
        )
    )
    assert (status["phase"], status["message"]) == ("Paused", "BlueGreenPause")
    assert health_of(obj, status)[0] == HealthCode.SUSPENDED


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "api"]},
                    {"key": "x", "operator": "Exists"},
                ]
            },
            "tier in (api,web),x",
        ),
        ({}, "<none>"),
    ],
)
def test_status_selector_is_formatted_like_kubernetes(selector: dict[str, Any], text: str) -> None:
    assert format_label_selector(selector) == text
