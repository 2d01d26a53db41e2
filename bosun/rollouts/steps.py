"""Canary steps: durations as Argo Rollouts reads them, one-line summaries, and which
weight or canary scale is in force at a step.

After Argo Rollouts' ``RolloutPause.DurationSeconds`` (``pkg/apis/rollouts/v1alpha1/types.go``)
and ``GetCurrentSetWeight`` / ``UseSetCanaryScale`` (``utils/replicaset/canary.go``). The
RolloutWorkflow names each step's timer or activity with :func:`step_summary`, and
``bosun rollout get`` lists the summaries.

To add a step kind: model it in :mod:`bosun.rollouts.spec` (:class:`CanaryStep`), give it a
summary here, and teach :func:`weight_at` / :func:`canary_scale_at` if it changes weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bosun.models.formats import parse_go_duration

if TYPE_CHECKING:
    from bosun.rollouts.spec import CanaryStep, SetCanaryScale


class DurationError(ValueError):
    """A duration Argo Rollouts would not accept."""


def duration_seconds(value: int | str) -> int:
    """A pause ``duration`` in whole seconds, as Argo's ``DurationSeconds``: an int is
    seconds, a string of digits is seconds, else a Go duration (``"30s"``, ``"5m"``,
    ``"1h"``; :func:`bosun.models.formats.parse_go_duration`), truncated to whole seconds.
    Raises :class:`DurationError` otherwise."""
    if isinstance(value, bool):
        raise DurationError(f"invalid duration {value!r}")
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        return math.trunc(parse_go_duration(text).total_seconds())
    except ValueError as e:
        raise DurationError(f"invalid duration: {e}") from None


def format_seconds(seconds: int) -> str:
    """``600`` → ``10m``, ``90`` → ``1m30s``, ``3600`` → ``1h``: how summaries show a pause."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def step_summary(step: CanaryStep) -> str:
    """One line for a step: ``setWeight: 20``, ``pause: 10m``, ``pause`` (until promoted),
    ``setCanaryScale: replicas 2`` / ``weight 40`` / ``matchTrafficWeight``,
    ``analysis: success-rate`` (template names, comma-separated). A step with several
    parts (Argo allows ``setCanaryScale`` next to another) joins them with ``; ``."""
    parts: list[str] = []
    if step.set_weight is not None:
        parts.append(f"setWeight: {step.set_weight}")
    if step.set_canary_scale is not None:
        parts.append(f"setCanaryScale: {_scale_summary(step.set_canary_scale)}")
    if step.pause is not None:
        seconds = step.pause.duration_seconds
        parts.append("pause" if seconds is None else f"pause: {format_seconds(seconds)}")
    if step.analysis is not None:
        parts.append("analysis: " + ", ".join(t.template_name for t in step.analysis.templates))
    return "; ".join(parts)


def _scale_summary(scale: SetCanaryScale) -> str:
    if scale.replicas is not None:
        return f"replicas {scale.replicas}"
    if scale.weight is not None:
        return f"weight {scale.weight}"
    return "matchTrafficWeight"


def weight_at(steps: Sequence[CanaryStep], index: int | None, *, aborted: bool = False) -> int:
    """The canary weight in force at step ``index`` (Argo's ``GetCurrentSetWeight``): 0 when
    aborted; 100 with no steps or past the last step; else the last ``setWeight`` at or
    before ``index`` (``None`` counts as step 0), or 0 if there is none."""
    if aborted:
        return 0
    i = 0 if index is None else index
    if not steps or i >= len(steps):
        return 100
    for step in reversed(steps[: i + 1]):
        if step.set_weight is not None:
            return step.set_weight
    return 0


def canary_scale_at(steps: Sequence[CanaryStep], index: int | None) -> SetCanaryScale | None:
    """The ``setCanaryScale`` in force at step ``index`` (Argo's ``UseSetCanaryScale``, without
    its traffic-routing and abort checks, which :func:`bosun.rollouts.replicas.canary_scale`
    makes): the last one at or before ``index``, or None if there is none, it is
    ``matchTrafficWeight``, or the steps are done."""
    i = 0 if index is None else index
    if not steps or i >= len(steps):
        return None
    for step in reversed(steps[: i + 1]):
        if step.set_canary_scale is None:
            continue
        if step.set_canary_scale.match_traffic_weight:
            return None
        return step.set_canary_scale
    return None
