"""Health assessment: one YAML fixture per case under fixtures/health/.

Each fixture is one Kubernetes object whose expected health is recorded in its
own annotations (removed before the object is assessed):

    test.bosun.dev/expected-health: Progressing   # or "none": the kind has no health
    test.bosun.dev/expected-message: "..."        # optional, defaults to ""
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
import yaml

import bosun.health
from bosun.health import HEALTH_ORDER, REGISTRY, app_health, assess_health, is_worse
from bosun.resources import HealthCode, HealthStatus, Manifest, ResourceKey

FIXTURES = Path(__file__).parent / "fixtures" / "health"
EXPECTED_HEALTH = "test.bosun.dev/expected-health"
EXPECTED_MESSAGE = "test.bosun.dev/expected-message"


def load_case(path: Path) -> tuple[Manifest, HealthStatus | None]:
    obj = yaml.safe_load(path.read_text())
    notes = obj["metadata"]["annotations"]
    expected = notes.pop(EXPECTED_HEALTH)
    message = notes.pop(EXPECTED_MESSAGE, "")
    if not notes:
        del obj["metadata"]["annotations"]
    if expected == "none":
        return obj, None
    return obj, HealthStatus(status=HealthCode(expected), message=message)


CASES = sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture(path: Path) -> None:
    obj, expected = load_case(path)
    assert assess_health(obj) == expected


def test_every_registered_kind_has_fixtures_for_several_outcomes() -> None:
    outcomes: dict[tuple[str, str], set[str]] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for path in CASES:
        obj, expected = load_case(path)
        key = ResourceKey.of(obj)
        counts[(key.group, key.kind)] += 1
        outcomes.setdefault((key.group, key.kind), set()).add(expected.status if expected else "none")
    # extensions/Ingress shares the networking.k8s.io rule and has one fixture.
    for group_kind in REGISTRY:
        if group_kind == ("extensions", "Ingress"):
            assert counts[group_kind] >= 1
            continue
        assert counts[group_kind] >= 2, f"{group_kind} needs fixtures"
        assert len(outcomes[group_kind]) >= 2, f"{group_kind} needs more than one outcome"


def test_assessment_does_not_modify_the_object() -> None:
    obj, _ = load_case(FIXTURES / "pod-crashloop.yaml")
    before = yaml.safe_dump(obj)
    assess_health(obj)
    assert yaml.safe_dump(obj) == before


def test_version_does_not_matter_only_group_and_kind() -> None:
    obj, expected = load_case(FIXTURES / "deployment-degraded.yaml")
    obj["apiVersion"] = "apps/v1beta2"
    assert assess_health(obj) == expected


def test_health_order_is_argo_cds() -> None:
    assert HEALTH_ORDER == (
        HealthCode.HEALTHY,
        HealthCode.SUSPENDED,
        HealthCode.PROGRESSING,
        HealthCode.MISSING,
        HealthCode.DEGRADED,
        HealthCode.UNKNOWN,
    )
    assert is_worse(HealthCode.HEALTHY, HealthCode.PROGRESSING)
    assert is_worse(HealthCode.HEALTHY, HealthCode.DEGRADED)
    assert not is_worse(HealthCode.DEGRADED, HealthCode.PROGRESSING)
    assert not is_worse(HealthCode.PROGRESSING, HealthCode.PROGRESSING)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], HealthCode.HEALTHY),
        ([None, None], HealthCode.HEALTHY),
        ([HealthCode.HEALTHY, HealthCode.SUSPENDED], HealthCode.SUSPENDED),
        ([HealthCode.SUSPENDED, HealthCode.PROGRESSING], HealthCode.PROGRESSING),
        ([HealthCode.PROGRESSING, HealthCode.MISSING, HealthCode.HEALTHY], HealthCode.MISSING),
        ([HealthCode.DEGRADED, HealthCode.MISSING], HealthCode.DEGRADED),
        ([HealthCode.UNKNOWN, HealthCode.DEGRADED, None], HealthCode.UNKNOWN),
        (
            [
                HealthStatus(status=HealthCode.HEALTHY),
                HealthStatus(status=HealthCode.PROGRESSING, message="Waiting"),
                None,
            ],
            HealthCode.PROGRESSING,
        ),
    ],
)
def test_app_health_worst_wins(statuses: list[HealthStatus | HealthCode | None], expected: HealthCode) -> None:
    assert app_health(statuses) == expected


def test_app_health_of_fixtures() -> None:
    objs = [
        load_case(FIXTURES / name)[0]
        for name in ("deployment-healthy.yaml", "configmap-no-health.yaml", "pod-crashloop.yaml")
    ]
    assert app_health(assess_health(o) for o in objs) == HealthCode.DEGRADED


def test_health_package_stays_pure() -> None:
    """The core imports neither temporalio nor kubernetes nor subprocess."""
    forbidden = {"temporalio", "kubernetes", "subprocess"}
    package = Path(bosun.health.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{source.name} imports {name}"
