"""``bosun rollout get|list`` text from RolloutDescription fixtures, and the workflow id
parsing the CLI relies on (:func:`bosun.protocol.rollout_ref_of`)."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.protocol import RolloutCommandResult, RolloutRef, rollout_ref_of, rollout_workflow_id
from bosun.rollouts.view import AnalysisRunView, MetricView, ReplicaSetView, RolloutDescription, StepView
from cli.rollout import result_text
from cli.rollout_render import (
    RolloutRow,
    actual_weight,
    images,
    render_description,
    render_list,
    status_text,
    step_text,
)

REF = RolloutRef(cluster="in-cluster", namespace="shop", name="web", app="shop-app")
STEPS = ["setWeight: 20", "pause", "setWeight: 60", "pause: 5s"]


def canary(index: int | None, **fields: Any) -> RolloutDescription:
    """A 5-replica canary ``setWeight 20 → pause{} → setWeight 60 → pause 5s`` at ``index``."""
    steps = [
        StepView(
            index=i,
            summary=summary,
            state="done" if index is not None and i < index else "current" if i == index else "pending",
        )
        for i, summary in enumerate(STEPS)
    ]
    defaults: dict[str, Any] = {
        "ref": REF,
        "strategy": "canary",
        "phase": "Paused",
        "message": "CanaryPauseStep",
        "current_step_index": index,
        "steps": steps,
        "canary_weight": 20,
        "stable_hash": "6cbccd9f99",
        "current_hash": "789746c88d",
        "replica_sets": [
            ReplicaSetView(
                name="web-6cbccd9f99",
                pod_template_hash="6cbccd9f99",
                revision=1,
                role="stable",
                replicas=4,
                ready=4,
                available=4,
                images=["nginx:1.24"],
            ),
            ReplicaSetView(
                name="web-789746c88d",
                pod_template_hash="789746c88d",
                revision=2,
                role="canary",
                replicas=1,
                ready=1,
                available=1,
                images=["nginx:1.25"],
            ),
        ],
        "status": {
            "phase": "Paused",
            "currentStepIndex": index,
            "replicas": 5,
            "updatedReplicas": 1,
            "readyReplicas": 5,
            "availableReplicas": 5,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-12-02T01:00:00Z"}],
        },
    }
    return RolloutDescription(**{**defaults, **fields})


def test_paused_canary_shows_status_step_weights_images_and_replicas() -> None:
    text = render_description(canary(1))
    lines = text.splitlines()
    assert lines[:5] == [
        "Name:           web",
        "Namespace:      shop",
        "Cluster:        in-cluster",
        "App:            shop-app",
        "Status:         ॥ Paused",
    ]
    assert "Message:        CanaryPauseStep" in lines
    assert "Strategy:       Canary" in lines
    assert "  Step:         1/4" in lines
    assert "  SetWeight:    20" in lines
    assert "  ActualWeight: 20" in lines  # 1 of 5 available pods is the canary's
    assert "Images:         nginx:1.24 (stable)" in lines
    assert "                nginx:1.25 (canary)" in lines
    for label, value in (("Current", 5), ("Updated", 1), ("Ready", 5), ("Available", 5)):
        assert f"  {label + ':':<14}{value}" in lines


def test_steps_are_marked_done_current_and_pending() -> None:
    lines = render_description(canary(1)).splitlines()
    start = lines.index("Steps:")
    assert lines[start + 1 : start + 5] == [
        "  ✔  0  setWeight: 20",
        "  ►  1  pause   (current)",
        "  ○  2  setWeight: 60",
        "  ○  3  pause: 5s",
    ]


def test_replica_sets_newest_revision_first_with_role_and_counts() -> None:
    lines = render_description(canary(1)).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("REPLICASET"))
    assert lines[header].split() == ["REPLICASET", "REVISION", "ROLE", "HASH", "REPLICAS", "READY", "AVAILABLE"]
    assert lines[header + 1].split() == ["web-789746c88d", "2", "canary", "789746c88d", "1", "1", "1"]
    assert lines[header + 2].split() == ["web-6cbccd9f99", "1", "stable", "6cbccd9f99", "4", "4", "4"]


def test_analysis_runs_with_their_metrics() -> None:
    run = AnalysisRunView(
        name="web-789746c88d-2-1",
        phase="Failed",
        message="metric success-rate assessed Failed",
        metrics=[
            MetricView(name="success-rate", phase="Failed", count=5, successful=2, failed=3, inconclusive=0, error=1)
        ],
    )
    lines = render_description(canary(2, analysis_runs=[run])).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("ANALYSISRUN"))
    assert lines[header].split() == ["ANALYSISRUN", "PHASE", "MEASUREMENTS", "MESSAGE"]
    assert lines[header + 1].startswith("web-789746c88d-2-1")
    assert "Failed" in lines[header + 1] and "metric success-rate assessed Failed" in lines[header + 1]
    assert "└─ success-rate" in lines[header + 2]
    assert "✔ 2, ✖ 3, ⚠ 1 of 5" in lines[header + 2]


@pytest.mark.parametrize(
    ("index", "status", "replica_sets", "expected"),
    [
        # past the last step: 100 (Argo's CLI: no current step)
        (4, {"availableReplicas": 5}, None, 100),
        # nothing available: 0
        (1, {"availableReplicas": 0}, None, 0),
        # a traffic router reports its weight
        (1, {"availableReplicas": 5, "canary": {"weights": {"canary": {"weight": 30}}}}, None, 30),
        # no router: the canary's share of available pods, rounded down (2 of 3 → 66)
        (
            1,
            {"availableReplicas": 3},
            [
                ReplicaSetView(name="a", pod_template_hash="a", revision=1, role="stable", replicas=1, available=1),
                ReplicaSetView(name="b", pod_template_hash="b", revision=2, role="canary", replicas=2, available=2),
            ],
            66,
        ),
        # no canary ReplicaSet
        (1, {"availableReplicas": 5}, [], 0),
    ],
)
def test_actual_weight_after_argo_rollouts_cli(
    index: int, status: dict[str, Any], replica_sets: list[ReplicaSetView] | None, expected: int
) -> None:
    fields: dict[str, Any] = {"status": status}
    if replica_sets is not None:
        fields["replica_sets"] = replica_sets
    assert actual_weight(canary(index, **fields)) == expected


def test_invalid_spec_condition_is_the_status_and_an_error_line() -> None:
    description = RolloutDescription(
        ref=REF,
        strategy="canary",
        phase="Degraded",
        message="InvalidSpec",
        status={
            "phase": "Degraded",
            "conditions": [
                {
                    "type": "InvalidSpec",
                    "status": "True",
                    "message": "spec.strategy.canary.steps[2].experiment: not supported by Bosun",
                }
            ],
        },
    )
    assert status_text(description) == "InvalidSpec"
    text = render_description(description)
    assert "Status:         ⚠ InvalidSpec" in text
    assert "Error:          spec.strategy.canary.steps[2].experiment: not supported by Bosun" in text
    assert "Steps:" not in text and "REPLICASET" not in text


def test_blue_green_shows_active_and_preview_selectors_not_weights() -> None:
    description = RolloutDescription(
        ref=REF,
        strategy="blueGreen",
        phase="Paused",
        current_hash="bbb",
        stable_hash="aaa",
        replica_sets=[
            ReplicaSetView(
                name="web-aaa", pod_template_hash="aaa", revision=1, role="active", replicas=2, images=["app:1"]
            ),
            ReplicaSetView(
                name="web-bbb", pod_template_hash="bbb", revision=2, role="preview", replicas=2, images=["app:2"]
            ),
            ReplicaSetView(name="web-ccc", pod_template_hash="ccc", revision=0, role="old", replicas=0, images=["x:0"]),
        ],
        status={"blueGreen": {"activeSelector": "aaa", "previewSelector": "bbb"}},
    )
    lines = render_description(description).splitlines()
    assert "Strategy:       BlueGreen" in lines
    assert "  Active:       aaa" in lines
    assert "  Preview:      bbb" in lines
    assert not any("Weight" in line for line in lines)
    assert images(description.replica_sets) == [("app:1", ["active"]), ("app:2", ["preview"])]  # x:0 runs no pods


def test_step_text() -> None:
    assert step_text(canary(0)) == "0/4"
    assert step_text(canary(4)) == "4/4"
    assert step_text(canary(None)) == ""
    assert step_text(canary(0, steps=[])) == ""


def test_list_table_sorted_by_cluster_namespace_name() -> None:
    rows = [
        RolloutRow("rollout:in-cluster:b/web", "in-cluster", "b", "web", app="b-app", phase="Healthy", step=4),
        RolloutRow("rollout:in-cluster:a/api", "in-cluster", "a", "api", phase="Paused", step=1),
        RolloutRow("rollout:edge:a/api", "edge", "a", "api"),
    ]
    lines = render_list(rows).splitlines()
    assert lines[0].split() == ["NAME", "NAMESPACE", "CLUSTER", "APP", "STATUS", "STEP"]
    assert [line.split() for line in lines[1:]] == [
        ["api", "a", "edge"],
        ["api", "a", "in-cluster", "Paused", "1"],
        ["web", "b", "in-cluster", "b-app", "Healthy", "4"],
    ]
    assert rows[0].as_dict() == {
        "name": "web",
        "namespace": "b",
        "cluster": "in-cluster",
        "app": "b-app",
        "phase": "Healthy",
        "step": 4,
        "workflowId": "rollout:in-cluster:b/web",
    }


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            RolloutCommandResult(accepted=True, phase="Progressing", current_step_index=2),
            "rollout 'web' promote: accepted (Progressing, step 2)",
        ),
        (
            RolloutCommandResult(accepted=True, phase="Healthy", current_step_index=4, message="fully promoted"),
            "rollout 'web' promote: accepted (Healthy, step 4): fully promoted",
        ),
        (RolloutCommandResult(accepted=False, message="not paused"), "rollout 'web' promote refused: not paused"),
        (RolloutCommandResult(accepted=False), "rollout 'web' promote refused: no reason given"),
    ],
)
def test_command_result_text(result: RolloutCommandResult, expected: str) -> None:
    assert result_text("web", "promote", result) == expected


@pytest.mark.parametrize(
    ("cluster", "namespace", "name"),
    [("in-cluster", "default", "web"), ("bosun-test-a", "shop", "canary-demo"), ("10.0.0.1:6443", "x", "y")],
)
def test_rollout_ref_of_inverts_the_workflow_id(cluster: str, namespace: str, name: str) -> None:
    ref = rollout_ref_of(rollout_workflow_id(cluster, namespace, name))
    assert ref == RolloutRef(cluster=cluster, namespace=namespace, name=name)


@pytest.mark.parametrize(
    "workflow_id",
    [
        "app:guestbook",
        "rollout:in-cluster:default/web:analysis:web-abc-2-1",
        "rollout:in-cluster:web",
        "rollout:default/web",
        "rollout::default/web",
        "rollout:c:/web",
        "rollout:c:ns/",
    ],
)
def test_rollout_ref_of_other_ids_is_none(workflow_id: str) -> None:
    assert rollout_ref_of(workflow_id) is None
