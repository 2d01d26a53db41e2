"""Ephemeral pod metadata (bosun/rollouts/metadata.py), after Argo Rollouts'
``utils/replicaset`` ``SyncEphemeralPodMetadata`` tests and ``rollout/ephemeralmetadata.go``."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.rollouts.metadata import (
    encode_metadata,
    has_ephemeral_metadata,
    metadata_patch,
    parse_metadata,
    wanted_metadata,
)
from bosun.rollouts.spec import PodMetadata, Rollout, parse_rollout

CANARY = PodMetadata(labels={"role": "canary"}, annotations={"note": "new"})
STABLE = PodMetadata(labels={"role": "stable"})


def rollout(strategy: dict[str, Any]) -> Rollout:
    return parse_rollout(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"image": "x"}]}},
                "strategy": strategy,
            },
        }
    )


CANARY_ROLLOUT = rollout(
    {
        "canary": {
            "canaryMetadata": {"labels": {"role": "canary"}, "annotations": {"note": "new"}},
            "stableMetadata": {"labels": {"role": "stable"}},
        }
    }
)
BLUE_GREEN_ROLLOUT = rollout(
    {
        "blueGreen": {
            "activeService": "a",
            "previewMetadata": {"labels": {"role": "preview"}},
            "activeMetadata": {"labels": {"role": "active"}},
        }
    }
)


def test_nothing_configured_syncs_nothing() -> None:
    plain = rollout({"canary": {}})
    assert not has_ephemeral_metadata(plain)
    assert wanted_metadata(plain, current_hash="b", stable_hash="a", hashes=["a", "b"]) == {}


@pytest.mark.parametrize(
    ("current", "stable", "expected"),
    [
        # Fully rolled out: the one ReplicaSet is the stable one, the others lose the metadata.
        ("a", "a", {"a": STABLE, "old": None}),
        ("a", "", {"a": STABLE, "old": None}),
        # Updating: the canary gets canaryMetadata, the stable stableMetadata.
        ("b", "a", {"a": STABLE, "b": CANARY, "old": None}),
    ],
)
def test_canary_roles(current: str, stable: str, expected: dict[str, PodMetadata | None]) -> None:
    hashes = sorted(expected)
    assert wanted_metadata(CANARY_ROLLOUT, current_hash=current, stable_hash=stable, hashes=hashes) == expected


def test_blue_green_roles() -> None:
    wanted = wanted_metadata(BLUE_GREEN_ROLLOUT, current_hash="b", stable_hash="a", hashes=["a", "b"])
    assert wanted == {"a": PodMetadata(labels={"role": "active"}), "b": PodMetadata(labels={"role": "preview"})}
    promoted = wanted_metadata(BLUE_GREEN_ROLLOUT, current_hash="b", stable_hash="b", hashes=["a", "b"])
    assert promoted == {"a": None, "b": PodMetadata(labels={"role": "active"})}


def test_patch_adds_replaces_and_removes_only_what_bosun_put_there() -> None:
    live = {"app": "web", "role": "canary", "sidecar": "injected"}
    # canary → stable: role replaced, the canary's annotation removed, other labels kept.
    patch = metadata_patch(live, {"note": "new", "other": "x"}, CANARY, STABLE)
    assert patch == {"labels": {"role": "stable"}, "annotations": {"note": None}}
    # Nothing wanted any more: only the keys put there before go.
    assert metadata_patch(live, {}, STABLE, None) == {"labels": {"role": None}}
    # Already in place: no patch.
    assert metadata_patch({"role": "stable"}, None, STABLE, STABLE) is None
    # A key no longer present is not removed twice.
    assert metadata_patch({"app": "web"}, None, STABLE, None) is None


def test_annotation_round_trip() -> None:
    encoded = encode_metadata(CANARY)
    assert encoded == '{"annotations":{"note":"new"},"labels":{"role":"canary"}}'
    assert parse_metadata(encoded) == CANARY
    assert encode_metadata(None) is None
    assert parse_metadata(None) is None and parse_metadata("not json") is None and parse_metadata("[1]") is None
