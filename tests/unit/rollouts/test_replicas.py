"""Argo Rollouts' canary replica math, with the cases of Argo's own
``utils/replicaset/canary_test.go`` (argoproj/argo-rollouts): every row of
``TestCalculateReplicaCountsForCanary`` except "Honor MinPodsPerReplicaSet" (Bosun refuses
``minPodsPerReplicaSet``), all of ``TestApproximateWeightedNewStableReplicaCounts``,
``TestCalculateReplicaCountsForNewDeployment``, ``TestCalculateReplicaCountsForCanaryTrafficRouting``,
``TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale``,
``TestCalculateReplicaCountsForCanaryStableRSdEdgeCases`` and ``TestTrafficWeightToReplicas``.
"""

from __future__ import annotations

import pytest

from bosun.rollouts.replicas import (
    CanaryCounts,
    CanaryScale,
    ReplicaSetState,
    TrafficWeights,
    approximate_weighted_counts,
    basic_canary_counts,
    canary_scale,
    max_surge,
    max_unavailable,
    resolve_int_or_percent,
    traffic_routed_counts,
    weight_to_replicas,
)
from bosun.rollouts.spec import CanaryStep, CanaryStrategy, SetCanaryScale, TrafficRouting

# name, spec replicas, weight, maxSurge, maxUnavailable, promoteFull,
# (stable spec, stable available), (canary spec, canary available), older (spec, available) or None,
# expected (canary, stable)
BASIC = [
    (
        "Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas",
        10,
        100,
        3,
        0,
        False,
        (7, 8),
        (6, 3),
        None,
        (6, 7),
    ),
    ("Use max surge int to scale up canary", 10, 20, 2, 0, False, (10, 10), (0, 0), None, (2, 10)),
    ("Use max surge percentage to scale up canary", 10, 20, "20%", 0, False, (10, 10), (0, 0), None, (2, 10)),
    ("Scale down extra stable replicas", 10, 20, "20%", 0, False, (10, 10), (2, 2), None, (2, 8)),
    ("Do not go past max surge", 10, 30, 2, 0, False, (10, 10), (0, 0), None, (2, 10)),
    ("Use max unavailable int to scale down stableRS", 10, 20, 0, 2, False, (10, 10), (0, 0), None, (0, 8)),
    ("Use max surge percentage to scale down stableRS", 10, 20, 0, "20%", False, (10, 10), (0, 0), None, (0, 8)),
    ("Do not go past max unavailable", 10, 30, 0, 2, False, (10, 10), (0, 0), None, (0, 8)),
    ("Use Max Surge and Max Unavailable", 10, 50, 2, 1, False, (10, 10), (0, 0), None, (2, 9)),
    ("Scale canaryRS to zero on setWeight of 0%", 10, 0, 1, 1, False, (10, 10), (1, 1), None, (0, 10)),
    ("Scale stable to zero on setWeight of 100%", 10, 100, 1, 1, False, (1, 1), (10, 10), None, (10, 0)),
    ("Do not scale newRS down to zero on non-zero weight", 1, 20, 1, 0, False, (1, 1), (0, 0), None, (1, 1)),
    ("Do not scale canaryRS down to zero on non-100 weight", 1, 90, 1, 0, False, (1, 1), (0, 0), None, (1, 1)),
    ("Scale up Stable before newRS", 10, 30, 1, 0, False, (1, 1), (0, 0), (3, 3), (1, 7)),
    ("Scale down newRS and stable", 10, 30, 0, 3, False, (8, 5), (4, 4), None, (3, 7)),
    ("Scale down stable and canary available", 10, 100, 1, 0, False, (10, 2), (10, 8), None, (9, 2)),
    (
        "Do not scale down newRS or stable when older RS count >= scaleDownCount",
        10,
        30,
        0,
        1,
        False,
        (8, 6),
        (4, 2),
        (3, 3),
        (4, 8),
    ),
    ("Do not round past maxSurge with uneven setWeight divisor", 10, 5, 0, 1, False, (10, 10), (0, 0), None, (0, 9)),
    (
        "Do not round past maxSurge with uneven setWeight divisor (part 2)",
        10,
        5,
        0,
        1,
        False,
        (9, 9),
        (0, 0),
        None,
        (1, 9),
    ),
    (
        "Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas",
        10,
        10,
        "0%",
        "0%",
        False,
        (10, 10),
        (0, 0),
        None,
        (0, 9),
    ),
    (
        "Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas",
        10,
        20,
        "20%",
        0,
        False,
        (10, 10),
        (0, 0),
        None,
        (2, 10),
    ),
    ("honor maxSurge during scale up when stableRS unavailable", 4, 100, 1, 0, False, (4, 1), (0, 0), None, (1, 4)),
    ("scale down to maxunavailable without exceeding maxSurge", 3, 99, 0, 2, False, (3, 3), (0, 0), None, (0, 1)),
    (
        "scale down to maxunavailable without exceeding maxSurge (part 2)",
        3,
        99,
        0,
        2,
        False,
        (1, 1),
        (0, 0),
        None,
        (2, 1),
    ),
    ("honor maxUnavailable during scale down stableRS unavailable", 4, 100, 1, 0, False, (4, 1), (1, 1), None, (1, 3)),
    ("honor maxUnavailable when aborting or reducing weight part 1", 4, 0, 1, 0, False, (0, 0), (4, 4), None, (4, 1)),
    ("honor maxUnavailable when aborting or reducing weight part 2", 4, 0, 1, 0, False, (1, 0), (4, 4), None, (4, 1)),
    ("honor maxUnavailable when aborting or reducing weight part 3", 4, 0, 1, 0, False, (1, 1), (4, 4), None, (3, 1)),
    ("promote full does not consider weight", 4, 1, 4, 4, True, (4, 4), (0, 0), None, (4, 0)),
    ("promote full still honors maxSurge/maxUnavailable", 4, 1, 3, 0, True, (4, 4), (0, 0), None, (3, 4)),
]


@pytest.mark.parametrize(
    ("replicas", "weight", "surge", "unavailable", "promote_full", "stable", "canary", "older", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in BASIC],
)
def test_basic_canary_counts_as_argo(
    replicas: int,
    weight: int,
    surge: int | str,
    unavailable: int | str,
    promote_full: bool,
    stable: tuple[int, int],
    canary: tuple[int, int],
    older: tuple[int, int] | None,
    expected: tuple[int, int],
) -> None:
    strategy = CanaryStrategy(steps=(CanaryStep(set_weight=weight),), max_surge=surge, max_unavailable=unavailable)
    scale = canary_scale(
        strategy, current_step_index=0, current_hash="canary", stable_hash="stable", promote_full=promote_full
    )
    counts = basic_canary_counts(
        replicas=replicas,
        weight=scale.weight,
        canary=ReplicaSetState("canary", *canary),
        stable=ReplicaSetState("stable", *stable),
        others=[ReplicaSetState("older", *older)] if older else [],
        surge=surge,
        unavailable=unavailable,
    )
    assert counts == CanaryCounts(*expected)


def test_a_new_deployment_and_a_missing_stable_go_to_full_scale() -> None:
    """TestCalculateReplicaCountsForNewDeployment and ...StableRSdEdgeCases."""
    same = ReplicaSetState("stable", 10, 0)
    assert basic_canary_counts(replicas=10, weight=10, canary=same, stable=same, surge=0, unavailable=1) == (
        CanaryCounts(10, 0)
    )
    new = ReplicaSetState("stable", 9, 9)
    assert basic_canary_counts(replicas=10, weight=10, canary=new, stable=None, surge=0, unavailable=1) == (
        CanaryCounts(10, 0)
    )
    assert basic_canary_counts(replicas=10, weight=10, canary=new, stable=new, surge=0, unavailable=1) == (
        CanaryCounts(10, 0)
    )


# TestApproximateWeightedNewStableReplicaCounts: replicas, weight, maxSurge, canary, stable
APPROXIMATE = [
    (0, 0, 0, 0, 0), (0, 50, 0, 0, 0), (0, 100, 0, 0, 0),
    (0, 0, 1, 0, 0), (0, 50, 1, 0, 0), (0, 100, 1, 0, 0),
    (1, 0, 0, 0, 1), (1, 1, 0, 0, 1), (1, 49, 0, 0, 1), (1, 50, 0, 1, 0), (1, 99, 0, 1, 0), (1, 100, 0, 1, 0),
    (1, 0, 1, 0, 1), (1, 1, 1, 1, 1), (1, 49, 1, 1, 1), (1, 50, 1, 1, 1), (1, 99, 1, 1, 1), (1, 100, 1, 1, 0),
    (2, 0, 0, 0, 2), (2, 1, 0, 1, 1), (2, 50, 0, 1, 1), (2, 99, 0, 1, 1), (2, 100, 0, 2, 0),
    (2, 0, 1, 0, 2), (2, 1, 1, 1, 2), (2, 50, 1, 1, 1), (2, 99, 1, 2, 1), (2, 100, 1, 2, 0),
    (3, 10, 0, 1, 2), (3, 25, 0, 1, 2), (3, 33, 0, 1, 2), (3, 34, 0, 1, 2), (3, 49, 0, 1, 2), (3, 50, 0, 2, 1),
    (3, 10, 1, 1, 3), (3, 25, 1, 1, 3), (3, 33, 1, 1, 2), (3, 34, 1, 1, 2), (3, 49, 1, 2, 2), (3, 50, 1, 2, 2),
    (10, 0, 1, 0, 10), (10, 1, 0, 1, 9), (10, 14, 0, 1, 9), (10, 15, 0, 2, 8), (10, 16, 0, 2, 8),
    (10, 99, 0, 9, 1), (10, 100, 1, 10, 0),
    (10, 0, 1, 0, 10), (10, 1, 1, 1, 10), (10, 18, 1, 2, 9), (10, 19, 1, 2, 9), (10, 20, 1, 2, 8),
    (10, 23, 1, 2, 8), (10, 24, 1, 3, 8), (10, 25, 1, 3, 8), (10, 99, 1, 10, 1), (10, 100, 1, 10, 0),
]  # fmt: skip


@pytest.mark.parametrize(("replicas", "weight", "surge", "canary", "stable"), APPROXIMATE)
def test_approximate_weighted_counts_as_argo(replicas: int, weight: int, surge: int, canary: int, stable: int) -> None:
    assert approximate_weighted_counts(replicas, weight, surge) == CanaryCounts(canary, stable)


ROUTED = TrafficRouting()


@pytest.mark.parametrize(
    ("replicas", "step", "aborted", "abort_delay", "expected"),
    [
        pytest.param(
            1,
            CanaryStep(set_weight=100, set_canary_scale=SetCanaryScale(replicas=9)),
            False,
            None,
            (9, 1),
            id="For canary replicas, use setCanaryScale.replicas when specified along with trafficRouting",
        ),
        pytest.param(
            4,
            CanaryStep(set_weight=100, set_canary_scale=SetCanaryScale(weight=200)),
            False,
            None,
            (8, 4),
            id="Use setCanaryScale.weight for canary replicas when specified with trafficRouting",
        ),
        pytest.param(
            10,
            CanaryStep(
                set_weight=20, set_canary_scale=SetCanaryScale(replicas=9, weight=100, match_traffic_weight=True)
            ),
            False,
            None,
            (2, 10),
            id="Ignore setCanaryScale replicas/weight when matchTrafficWeight is true",
        ),
        pytest.param(
            1,
            CanaryStep(set_weight=0, set_canary_scale=SetCanaryScale(replicas=1)),
            True,
            0,
            (1, 1),
            id="aborted with abortScaleDownDelaySeconds:0 and setCanaryScale",
        ),
        pytest.param(
            1,
            CanaryStep(set_weight=0, set_canary_scale=SetCanaryScale(replicas=1)),
            True,
            30,
            (0, 1),
            id="aborted with abortScaleDownDelaySeconds>0 and setCanaryScale",
        ),
        pytest.param(
            10, CanaryStep(set_weight=10), False, None, (1, 10), id="TestCalculateReplicaCountsForCanaryTrafficRouting"
        ),
    ],
)
def test_traffic_routed_counts_as_argo(
    replicas: int, step: CanaryStep, aborted: bool, abort_delay: int | None, expected: tuple[int, int]
) -> None:
    strategy = CanaryStrategy(steps=(step,), traffic_routing=ROUTED, abort_scale_down_delay_seconds=abort_delay)
    scale = canary_scale(strategy, current_step_index=0, current_hash="canary", stable_hash="stable", aborted=aborted)
    assert traffic_routed_counts(replicas=replicas, scale=scale, aborted=aborted) == CanaryCounts(*expected)


@pytest.mark.parametrize(
    ("weight", "aborted", "current", "expected"),
    [
        pytest.param(10, False, TrafficWeights(canary=10, stable=90), (1, 9), id="scale down stable"),
        pytest.param(20, False, TrafficWeights(canary=10, stable=90), (2, 9), id="max of desired and actual canary"),
        pytest.param(20, True, TrafficWeights(canary=20, stable=80), (2, 10), id="aborted keeps canary with traffic"),
        pytest.param(20, True, TrafficWeights(canary=10, stable=90), (1, 10), id="aborted reduces canary with traffic"),
    ],
)
def test_dynamic_stable_scale_as_argo(
    weight: int, aborted: bool, current: TrafficWeights, expected: tuple[int, int]
) -> None:
    """TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale."""
    strategy = CanaryStrategy(steps=(CanaryStep(set_weight=weight),), traffic_routing=ROUTED, dynamic_stable_scale=True)
    scale = canary_scale(strategy, current_step_index=0, current_hash="canary", stable_hash="stable", aborted=aborted)
    counts = traffic_routed_counts(
        replicas=10, scale=scale, dynamic_stable_scale=True, aborted=aborted, weights=current
    )
    assert counts == CanaryCounts(*expected)


@pytest.mark.parametrize(("weight", "expected"), [(0, 0), (20, 2), (25, 3), (33, 4), (99, 10), (100, 10)])
def test_weight_to_replicas_rounds_up(weight: int, expected: int) -> None:
    assert weight_to_replicas(10, weight) == expected


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [(3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("0%", 10, True, 0), ("100%", 5, False, 5)],
)
def test_int_or_percent(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert resolve_int_or_percent(value, total, round_up=round_up) == expected


@pytest.mark.parametrize("value", ["25", "x%", True])
def test_int_or_percent_refuses_what_kubernetes_refuses(value: int | str) -> None:
    with pytest.raises(ValueError, match="integer or a percentage"):
        resolve_int_or_percent(value, 10, round_up=True)


def test_argo_defaults_are_25_percent_with_fenceposts() -> None:
    assert (max_surge(4), max_unavailable(4)) == (1, 1)
    assert (max_surge(1), max_unavailable(1)) == (1, 0)
    assert max_unavailable(0) == 0
    assert max_unavailable(2, 0, "0%") == 1  # both zero: unavailable becomes 1


@pytest.mark.parametrize(
    ("index", "promote_full", "current", "stable", "aborted", "expected"),
    [
        (0, False, "new", "old", False, CanaryScale(weight=20)),
        (1, False, "new", "old", False, CanaryScale(weight=20)),
        (2, False, "new", "old", False, CanaryScale(weight=60)),
        (4, False, "new", "old", False, CanaryScale(weight=100)),
        (2, True, "new", "old", False, CanaryScale(weight=100)),
        (2, False, "new", "", False, CanaryScale(weight=100)),
        (2, False, "same", "same", False, CanaryScale(weight=100)),
        (2, False, "new", "old", True, CanaryScale(weight=0)),
    ],
)
def test_canary_scale_follows_the_steps(
    index: int, promote_full: bool, current: str, stable: str, aborted: bool, expected: CanaryScale
) -> None:
    steps = (
        CanaryStep(set_weight=20),
        CanaryStep(),
        CanaryStep(set_weight=60),
        CanaryStep(),
    )
    strategy = CanaryStrategy(steps=steps)
    scale = canary_scale(
        strategy,
        current_step_index=index,
        current_hash=current,
        stable_hash=stable,
        promote_full=promote_full,
        aborted=aborted,
    )
    assert scale == expected


def test_the_issue_13_five_replica_canary() -> None:
    """setWeight 20 -> 4/1 stable/canary, setWeight 60 -> 2/3 (the counts issue 13's e2e expects),
    once every pod is available (defaults 25%/25%)."""
    old = ReplicaSetState("old", 5, 5)
    counts = basic_canary_counts(replicas=5, weight=20, canary=ReplicaSetState("new", 0, 0), stable=old)
    assert counts == CanaryCounts(1, 4)  # maxSurge 2 and maxUnavailable 1 allow both at once
    stable = ReplicaSetState("old", 4, 4)
    new = ReplicaSetState("new", 1, 1)
    for _ in range(5):
        counts = basic_canary_counts(replicas=5, weight=60, canary=new, stable=stable)
        new = ReplicaSetState("new", counts.canary, counts.canary)
        stable = ReplicaSetState("old", counts.stable, counts.stable)
    assert counts == CanaryCounts(3, 2)
