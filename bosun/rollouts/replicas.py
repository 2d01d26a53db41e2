"""Argo Rollouts' canary replica math: how many pods the canary and the stable
ReplicaSet get for a weight.

Ported from Argo Rollouts' ``utils/replicaset/canary.go`` (``CalculateReplicaCountsForBasicCanary``,
``approximateWeightedCanaryStableReplicaCounts``, ``CalculateReplicaCountsForTrafficRoutedCanary``,
``GetCanaryReplicasOrWeight``) and ``utils/replicaset/replicaset.go`` (``MaxSurge``,
``MaxUnavailable``, ``resolveFenceposts``), so a Rollout scales the way the Argo Rollouts
controller would scale it. The RolloutWorkflow calls these functions once per
reconciliation with what it observed of the ReplicaSets and scales to the answer; calling
again after the pods became available takes the next stride, as the controller does.

To extend: a new input of Argo's math (``minPodsPerReplicaSet``, say) becomes a keyword
argument with Argo's default, and its cases from Argo's ``canary_test.go`` join the tables
in ``tests/unit/rollouts/test_replicas.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bosun.rollouts.steps import canary_scale_at, weight_at

if TYPE_CHECKING:
    from bosun.rollouts.spec import CanaryStrategy

IntOrPercent = int | str
"""A Kubernetes ``IntOrString``: ``3`` or ``"25%"``."""

DEFAULT_MAX_SURGE: IntOrPercent = "25%"
"""Argo Rollouts' default ``maxSurge`` (``utils/defaults``)."""
DEFAULT_MAX_UNAVAILABLE: IntOrPercent = "25%"
"""Argo Rollouts' default ``maxUnavailable`` (``utils/defaults``)."""


@dataclass(frozen=True)
class ReplicaSetState:
    """What the replica math needs of one ReplicaSet: ``spec.replicas`` and
    ``status.availableReplicas``. ``name`` tells the canary from the stable one (the same
    ReplicaSet is both when the rollout is not in a canary)."""

    name: str
    replicas: int
    available: int = 0
    created: int | None = None
    """``status.replicas`` (pods that exist); None: assume ``replicas``."""


@dataclass(frozen=True)
class CanaryCounts:
    """The ``spec.replicas`` to give the canary (new) and the stable ReplicaSet."""

    canary: int
    stable: int


@dataclass(frozen=True)
class TrafficWeights:
    """The traffic weights last set on the router (``status.canary.weights``)."""

    canary: int
    stable: int


@dataclass(frozen=True)
class CanaryScale:
    """What the current step asks of the canary: a fixed ``replicas`` count
    (``setCanaryScale.replicas``) or a ``weight`` in percent."""

    weight: int
    replicas: int | None = None


def canary_scale(
    canary: CanaryStrategy,
    *,
    current_step_index: int | None,
    current_hash: str,
    stable_hash: str,
    promote_full: bool = False,
    aborted: bool = False,
) -> CanaryScale:
    """What the canary should be scaled to now (Argo's ``GetCanaryReplicasOrWeight``).

    100% when promoted in full, when there is no stable yet, or when the current template is
    the stable one; else the step's ``setCanaryScale`` (only with a traffic router, and when
    aborted only if ``abortScaleDownDelaySeconds: 0`` keeps the canary up); else the weight of
    :func:`bosun.rollouts.steps.weight_at` (0 when aborted).
    """
    if promote_full or not stable_hash or current_hash == stable_hash:
        return CanaryScale(weight=100)
    if canary.traffic_routing is not None and not (aborted and canary.abort_scale_down_delay() is not None):
        scale = canary_scale_at(canary.steps, current_step_index)
        if scale is not None and scale.replicas is not None:
            return CanaryScale(weight=0, replicas=scale.replicas)
        if scale is not None and scale.weight is not None:
            return CanaryScale(weight=scale.weight)
    return CanaryScale(weight=weight_at(canary.steps, current_step_index, aborted=aborted))


def resolve_int_or_percent(value: IntOrPercent, total: int, *, round_up: bool) -> int:
    """Kubernetes' ``intstr.GetScaledValueFromIntOrPercent``: an int as it is, ``"N%"`` of
    ``total`` rounded up (``maxSurge``) or down (``maxUnavailable``). A string without
    ``%`` is an error, as in Kubernetes."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value {value!r}: must be an integer or a percentage")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value {value!r}: must be an integer or a percentage like '25%'")
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(f"invalid value {value!r}: must be an integer or a percentage like '25%'") from None
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(max_surge: IntOrPercent, max_unavailable: IntOrPercent, replicas: int) -> tuple[int, int]:
    """``(surge, unavailable)`` for ``replicas``: surge rounds up, unavailable down; if both
    come to 0, unavailable is 1 (after Kubernetes' and Argo's ``resolveFenceposts``)."""
    surge = resolve_int_or_percent(max_surge, replicas, round_up=True)
    unavailable = resolve_int_or_percent(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(
    replicas: int,
    surge: IntOrPercent = DEFAULT_MAX_SURGE,
    unavailable: IntOrPercent = DEFAULT_MAX_UNAVAILABLE,
) -> int:
    """Argo's ``MaxSurge`` for a canary: how many pods above ``replicas`` may exist."""
    return resolve_fenceposts(surge, unavailable, replicas)[0]


def max_unavailable(
    replicas: int,
    surge: IntOrPercent = DEFAULT_MAX_SURGE,
    unavailable: IntOrPercent = DEFAULT_MAX_UNAVAILABLE,
) -> int:
    """Argo's ``MaxUnavailable``: how many of ``replicas`` may be unavailable (at most
    ``replicas``; 0 when there are no replicas)."""
    if replicas == 0:
        return 0
    return min(resolve_fenceposts(surge, unavailable, replicas)[1], replicas)


def approximate_weighted_counts(replicas: int, weight: int, surge: int) -> CanaryCounts:
    """Argo's ``approximateWeightedCanaryStableReplicaCounts``: the canary/stable counts
    closest to ``weight``; they sum to ``replicas`` or, if surge is allowed, ``replicas + 1``.
    For a weight of 1–99 with 2+ pods, neither side is 0."""
    if replicas == 0:
        return CanaryCounts(0, 0)
    ceil_count = math.ceil(replicas * weight / 100)
    floor_count = math.floor(replicas * weight / 100)
    tied = _floor_ceiling_tied(weight, replicas)
    zero_allowed = weight in (0, 100) or (replicas == 1 and surge == 0)
    options: list[tuple[int, int]] = []
    if ceil_count < replicas or zero_allowed:
        options.append((ceil_count, replicas))
    if not tied and (floor_count != 0 or zero_allowed):
        options.append((floor_count, replicas))
    if surge > 0:
        options.append((ceil_count, replicas + 1))
        if not _floor_ceiling_tied(weight, replicas + 1) and (floor_count != 0 or zero_allowed):
            options.append((floor_count, replicas + 1))
    if not options:
        return CanaryCounts(0, replicas)
    best = options[0]
    best_delta = _weight_delta(weight, *best)
    for option in options[1:]:
        delta = _weight_delta(weight, *option)
        if delta < best_delta:
            best, best_delta = option, delta
    return CanaryCounts(canary=best[0], stable=best[1] - best[0])


def _floor_ceiling_tied(weight: int, total: int) -> bool:
    return math.modf(total * (weight / 100))[0] == 0.5


def _weight_delta(weight: int, canary: int, total: int) -> float:
    return abs(canary * 100 / total - weight)


def _replicas_for_scale_down(rs: ReplicaSetState | None, ignore_availability: bool) -> int:
    """Argo's ``GetReplicasForScaleDown``."""
    if rs is None:
        return 0
    if rs.replicas < rs.available:
        return rs.replicas
    if ignore_availability:
        return rs.replicas
    return rs.available


def _scale_down_count(drain: ReplicaSetState | None, desired: int, scale_down: int, current: int) -> int:
    """Argo's ``calculateScaleDownReplicaCount``."""
    if drain is not None and drain.replicas > desired:
        return max(desired, drain.replicas - scale_down)
    return current


def _adjust_within_limits(
    drain: ReplicaSetState | None,
    adjust: ReplicaSetState | None,
    drain_count: int,
    adjust_count: int,
    max_allowed: int,
    min_available: int,
) -> tuple[int, int]:
    """Argo's ``adjustReplicaWithinLimits``: keep the pair within maxSurge and maxUnavailable."""
    total_available = 0
    over_the_limit = max(0, adjust_count + drain_count - max_allowed)
    if drain is not None:
        total_available += min(drain.available, drain_count)
    if adjust is not None:
        adjust_count -= over_the_limit
        total_available += min(adjust.available, adjust_count)
        extra_available = max(0, adjust.available - adjust_count)
        more_needed = max(0, min_available - total_available)
        adjust_count += min(extra_available, more_needed)
        over_the_limit = max(0, adjust_count + drain_count - max_allowed)
        drain_count -= over_the_limit
    return drain_count, adjust_count


def basic_canary_counts(
    *,
    replicas: int,
    weight: int,
    canary: ReplicaSetState | None,
    stable: ReplicaSetState | None,
    others: Sequence[ReplicaSetState] = (),
    surge: IntOrPercent = DEFAULT_MAX_SURGE,
    unavailable: IntOrPercent = DEFAULT_MAX_UNAVAILABLE,
) -> CanaryCounts:
    """Counts for a canary without a traffic router, where the weight is the share of pods
    (Argo's ``CalculateReplicaCountsForBasicCanary``).

    ``replicas`` is the Rollout's ``spec.replicas``; ``weight`` the desired canary weight
    (:func:`canary_scale`'s ``weight``); ``canary`` the ReplicaSet of the current pod template
    (None before it exists), ``stable`` the stable one (None, or the same name as ``canary``,
    when there is no separate stable: then the canary goes to 100%); ``others`` all older
    ReplicaSets, which must reach 0 before the canary or stable are scaled down. The answer
    honours ``maxSurge`` (total pods) and ``maxUnavailable`` (available pods), scaling the
    stable up before the canary and scaling down only what is available to spare.
    """
    surge_count = max_surge(replicas, surge, unavailable)
    desired = approximate_weighted_counts(replicas, weight, surge_count)
    desired_new, desired_stable = desired.canary, desired.stable

    new_count = canary.replicas if canary is not None else 0
    scale_stable = stable is not None and (canary is None or canary.name != stable.name)
    stable_count = 0
    if scale_stable:
        assert stable is not None
        stable_count = stable.replicas
    else:
        desired_new, desired_stable = replicas, 0

    max_allowed = replicas + surge_count
    total = sum(rs.replicas for rs in others) + new_count + (stable_count if scale_stable else 0)
    scale_up = max_allowed - total

    if scale_stable and stable is not None and stable.replicas < desired_stable and scale_up > 0:
        if stable.replicas + scale_up < desired_stable:
            stable_count = stable.replicas + scale_up
            scale_up = 0
        else:
            stable_count = desired_stable
            scale_up -= desired_stable - stable.replicas

    if canary is not None and canary.replicas < desired_new and scale_up > 0:
        new_count = min(canary.replicas + scale_up, desired_new)

    if sum(rs.replicas for rs in others) > 0:
        return CanaryCounts(new_count, stable_count)

    min_available = replicas - max_unavailable(replicas, surge, unavailable)
    increasing = canary is None or desired_new >= canary.replicas
    # As Argo, the stable counts here even when it is the canary itself.
    to_scale_down = _replicas_for_scale_down(canary, not increasing) + _replicas_for_scale_down(stable, increasing)
    if to_scale_down <= min_available:
        return CanaryCounts(new_count, stable_count)

    scale_down = to_scale_down - min_available
    if not increasing:
        new_count = _scale_down_count(canary, desired_new, scale_down, new_count)
        new_count, stable_count = _adjust_within_limits(
            canary, stable, new_count, stable_count, max_allowed, min_available
        )
    elif scale_stable:
        stable_count = _scale_down_count(stable, desired_stable, scale_down, stable_count)
        stable_count, new_count = _adjust_within_limits(
            stable, canary, stable_count, new_count, max_allowed, min_available
        )
    return CanaryCounts(new_count, stable_count)


def at_desired_counts(
    desired: CanaryCounts,
    *,
    canary: ReplicaSetState | None,
    stable: ReplicaSetState | None,
    others: Sequence[ReplicaSetState] = (),
    traffic_routed: bool = False,
    dynamic_stable_scale: bool = False,
) -> bool:
    """Whether the step's replica counts are reached (Argo's ``AtDesiredReplicaCountsForCanary``),
    so the rollout may take the next step: every desired canary pod available; the stable at its
    count with its pods created (not checked with ``dynamicStableScale``); without a traffic
    router, no older ReplicaSet with available pods. ``desired`` is the answer of
    :func:`basic_canary_counts` or :func:`traffic_routed_counts`."""
    if canary is None or canary.replicas != desired.canary or canary.available != desired.canary:
        return False
    if not traffic_routed or not dynamic_stable_scale:
        created = None if stable is None else (stable.replicas if stable.created is None else stable.created)
        if stable is None or stable.replicas != desired.stable or created != desired.stable:
            return False
    return traffic_routed or sum(rs.available for rs in others) == 0


def weight_to_replicas(replicas: int, weight: int) -> int:
    """Argo's ``trafficWeightToReplicas``: ``weight``% of ``replicas``, rounded up."""
    return math.ceil(weight * replicas / 100)


def traffic_routed_counts(
    *,
    replicas: int,
    scale: CanaryScale,
    dynamic_stable_scale: bool = False,
    aborted: bool = False,
    weights: TrafficWeights | None = None,
) -> CanaryCounts:
    """Counts for a canary behind a traffic router (Argo's
    ``CalculateReplicaCountsForTrafficRoutedCanary``).

    The canary gets ``setCanaryScale.replicas`` if the step set them, else its weight's share
    of ``replicas`` (rounded up). The stable stays at ``replicas`` unless
    ``dynamicStableScale``: then it gets the larger of the desired and the current stable
    traffic share (``weights``), and an aborted canary keeps the larger of its desired and
    current traffic share until the traffic has moved back.
    """
    explicit = scale.replicas
    canary_count = explicit if explicit is not None else weight_to_replicas(replicas, scale.weight)
    if not dynamic_stable_scale:
        return CanaryCounts(canary_count, replicas)
    stable_count = weight_to_replicas(replicas, 100 - scale.weight)
    if weights is not None:
        stable_count = max(stable_count, weight_to_replicas(replicas, weights.stable))
        if aborted:
            canary_count = max(weight_to_replicas(replicas, weights.canary), canary_count)
    return CanaryCounts(canary_count, stable_count)
