"""compare() over the YAML fixtures in fixtures/diff/, one case per file.

A fixture holds ``desired``, ``live`` (null when missing), optionally ``predicted`` (the
dry-run result), ``ignoreDifferences``, ``options`` and the ``expect``ed outcome. Every
fixture is also checked for what must hold of any comparison: no Secret value in any
output, inputs untouched, deterministic, and a diff text exactly when OutOfSync.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bosun.diff import (
    LAST_APPLIED_ANNOTATION,
    NormalizeOptions,
    ResourceDiff,
    StatusMode,
    compare,
    render_unified,
)
from bosun.resources import SyncCode

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
CASES = sorted(FIXTURES.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    return case


def options_of(case: dict[str, Any]) -> NormalizeOptions:
    raw = case.get("options") or {}
    kwargs: dict[str, Any] = {}
    if "ignoreAnnotations" in raw:
        kwargs["ignore_annotations"] = frozenset(raw["ignoreAnnotations"])
    if "ignoreStatus" in raw:
        kwargs["ignore_status"] = StatusMode.parse(raw["ignoreStatus"])
    return NormalizeOptions(**kwargs)


def run(case: dict[str, Any]) -> ResourceDiff:
    return compare(
        case["desired"],
        case["live"],
        case.get("predicted"),
        ignore=case.get("ignoreDifferences") or [],
        options=options_of(case),
    )


def secret_values(case: dict[str, Any]) -> set[str]:
    """Every Secret value in the fixture, plain and base64, that is long enough to search."""
    values: set[str] = set()
    objects = [case.get(k) for k in ("desired", "live", "predicted")]
    for obj in list(objects):
        notes = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        if LAST_APPLIED_ANNOTATION in notes:
            objects.append(json.loads(notes[LAST_APPLIED_ANNOTATION]))
    for obj in objects:
        if not obj or obj.get("kind") != "Secret":
            continue
        for value in (obj.get("stringData") or {}).values():
            values |= {value, base64.b64encode(value.encode()).decode()}
        for value in (obj.get("data") or {}).values():
            values |= {value, base64.b64decode(value).decode()}
    return {v for v in values if len(v) >= 6}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture(path: Path) -> None:
    case = load(path)
    expect = case["expect"]

    diff = run(case)

    assert diff.sync == SyncCode(expect["sync"])
    assert diff.method == expect["method"]
    assert diff.live_missing == expect.get("liveMissing", False)
    assert list(diff.changed_paths) == expect["changedPaths"]
    for fragment in expect.get("unifiedContains", []):
        assert fragment in diff.unified.splitlines()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_invariants(path: Path) -> None:
    case = load(path)
    before = copy.deepcopy(case)

    diff = run(case)

    assert case == before, "compare() must not modify its arguments"
    assert run(case) == diff, "compare() must be deterministic"
    assert bool(diff.unified) == (diff.sync == SyncCode.OUT_OF_SYNC)
    assert ResourceDiff.model_validate_json(diff.model_dump_json()) == diff
    outputs = [
        render_unified(diff, color=False),
        render_unified(diff, color=True),
        diff.model_dump_json(),
        diff.summary().model_dump_json(),
    ]
    for secret in secret_values(case):
        for text in outputs:
            assert secret not in text


def test_fixtures_cover_the_required_cases() -> None:
    names = {p.stem for p in CASES}
    assert {
        "deployment-defaults-synced",
        "deployment-replicas-scaled-by-hand",
        "deployment-replicas-ignored-json-pointer",
        "deployment-injected-init-container-ignored-jq",
        "deployment-replicas-owned-by-kcm",
        "secret-string-data-synced-subset",
        "secret-value-changed",
        "deployment-label-removed-from-git",
    } <= names


def test_colour_is_ansi_and_only_when_asked() -> None:
    diff = run(load(FIXTURES / "deployment-replicas-scaled-by-hand.yaml"))

    plain = render_unified(diff, color=False)
    coloured = render_unified(diff, color=True)

    assert "\x1b[" not in plain
    assert "\x1b[31m-  replicas: 5\x1b[0m" in coloured
    assert "\x1b[32m+  replicas: 3\x1b[0m" in coloured
    assert plain.splitlines()[:2] == [
        "--- live/apps/Deployment/shop/web",
        "+++ desired/apps/Deployment/shop/web",
    ]


def test_summary_is_small_and_has_no_diff_text() -> None:
    diff = run(load(FIXTURES / "secret-value-changed.yaml"))

    summary = diff.summary()

    assert summary.model_dump(mode="json") == {
        "key": {"group": "", "kind": "Secret", "namespace": "shop", "name": "db"},
        "sync": "OutOfSync",
        "method": "ServerSideDryRun",
        "live_missing": False,
        "changed_paths": ["/data/password"],
        "omitted_paths": 0,
    }
    assert summary.modified


def test_summary_caps_the_paths() -> None:
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}}
    desired["data"] = {f"k{i:03}": "new" for i in range(50)}
    live = copy.deepcopy(desired) | {"data": {f"k{i:03}": "old" for i in range(50)}}

    summary = compare(desired, live, desired).summary(max_paths=5)

    assert summary.changed_paths == tuple(f"/data/k{i:03}" for i in range(5))
    assert summary.omitted_paths == 45


def test_invalid_ignore_rule_is_rejected() -> None:
    case = load(FIXTURES / "deployment-replicas-scaled-by-hand.yaml")
    with pytest.raises(ValueError, match="jqPathExpression"):
        compare(
            case["desired"],
            case["live"],
            case["predicted"],
            ignore=[{"kind": "Deployment", "jqPathExpressions": [".spec.[[["]}],
        )
