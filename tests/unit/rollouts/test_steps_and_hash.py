"""Durations as Argo Rollouts reads them, step summaries, weights per step, and the
pod-template hash."""

from __future__ import annotations

import pytest

from bosun.hashing import fnv32a
from bosun.rollouts.hash import pod_template_hash, safe_encode_string
from bosun.rollouts.spec import (
    AnalysisArg,
    CanaryStep,
    Pause,
    RolloutAnalysis,
    SetCanaryScale,
    TemplateRef,
)
from bosun.rollouts.steps import (
    DurationError,
    canary_scale_at,
    duration_seconds,
    format_seconds,
    step_summary,
    weight_at,
)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30),
        ("30", 30),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1.5s", 1),
        ("500ms", 0),
        ("0", 0),
    ],
)
def test_pause_durations_as_argo(value: int | str, seconds: int) -> None:
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "5x", "m5", "1.5"])
def test_bad_durations(value: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        duration_seconds(value)


@pytest.mark.parametrize(("seconds", "text"), [(600, "10m"), (90, "1m30s"), (3600, "1h"), (5, "5s"), (0, "0s")])
def test_format_seconds(seconds: int, text: str) -> None:
    assert format_seconds(seconds) == text


ANALYSIS = RolloutAnalysis(
    templates=(TemplateRef(template_name="success-rate"), TemplateRef(template_name="latency", cluster_scope=True)),
    args=(AnalysisArg(name="service", value="web"),),
)


@pytest.mark.parametrize(
    ("step", "summary"),
    [
        (CanaryStep(set_weight=20), "setWeight: 20"),
        (CanaryStep(pause=Pause(duration_seconds=600)), "pause: 10m"),
        (CanaryStep(pause=Pause()), "pause"),
        (CanaryStep(set_canary_scale=SetCanaryScale(replicas=2)), "setCanaryScale: replicas 2"),
        (CanaryStep(set_canary_scale=SetCanaryScale(weight=40)), "setCanaryScale: weight 40"),
        (CanaryStep(set_canary_scale=SetCanaryScale(match_traffic_weight=True)), "setCanaryScale: matchTrafficWeight"),
        (CanaryStep(analysis=ANALYSIS), "analysis: success-rate, latency"),
        (
            CanaryStep(set_weight=10, set_canary_scale=SetCanaryScale(replicas=1)),
            "setWeight: 10; setCanaryScale: replicas 1",
        ),
    ],
)
def test_step_summaries(step: CanaryStep, summary: str) -> None:
    assert step_summary(step) == summary


STEPS = (
    CanaryStep(set_canary_scale=SetCanaryScale(replicas=1)),
    CanaryStep(set_weight=20),
    CanaryStep(pause=Pause()),
    CanaryStep(set_canary_scale=SetCanaryScale(match_traffic_weight=True)),
    CanaryStep(set_weight=60),
)


@pytest.mark.parametrize(
    ("index", "aborted", "weight"),
    [(None, False, 0), (0, False, 0), (1, False, 20), (2, False, 20), (4, False, 60), (5, False, 100), (2, True, 0)],
)
def test_weight_at_as_argos_get_current_set_weight(index: int | None, aborted: bool, weight: int) -> None:
    assert weight_at(STEPS, index, aborted=aborted) == weight


def test_weight_at_without_steps_is_full() -> None:
    assert weight_at((), 0) == 100


@pytest.mark.parametrize(
    ("index", "scale"),
    [(0, SetCanaryScale(replicas=1)), (2, SetCanaryScale(replicas=1)), (3, None), (4, None), (5, None)],
)
def test_canary_scale_at_as_argos_use_set_canary_scale(index: int, scale: SetCanaryScale | None) -> None:
    assert canary_scale_at(STEPS, index) == scale


def test_fnv32a_and_safe_encoding_match_go() -> None:
    # Go: fnv.New32a() over "" is the offset basis; over "a" is 0xe40c292c.
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    # Kubernetes' rand.SafeEncodeString("0123456789")
    assert safe_encode_string("0123456789") == "456789bcdf"  # "0" is 48; 48 % 27 = 21 -> "4"


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "web:1"}]}}


def test_pod_template_hash_is_stable_and_follows_the_template() -> None:
    h = pod_template_hash(TEMPLATE)
    reordered = {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}
    assert pod_template_hash(reordered) == h
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "web:2"}]}}
    assert pod_template_hash(changed) != h
    assert pod_template_hash(TEMPLATE, collision_count=1) != h
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert h == "5d98bb5557"  # pinned: a changed hash would replace every Bosun-run ReplicaSet
