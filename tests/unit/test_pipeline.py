"""The Pipeline YAML model and the rules of a run (bosun/pipeline.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bosun.pipeline import (
    AppProgress,
    AppState,
    Phase,
    PipelineError,
    analysis_passed,
    app_progress,
    format_seconds,
    initial_status,
    parse_pipeline,
    soak_end_problem,
    soak_poll_seconds,
    soak_problem,
    window_wait,
)
from bosun.protocol import SpecEditRequest
from cli.app import CliError
from cli.pipeline import read_pipeline
from workflows.state import SpecEdit

COMMIT = "a" * 40
OTHER = "b" * 40

EXAMPLE: dict[str, Any] = {
    "apiVersion": "bosun.dev/v1alpha1",
    "kind": "Pipeline",
    "metadata": {"name": "guestbook"},
    "spec": {
        "stages": [
            {
                "name": "dev",
                "apps": ["guestbook-dev"],
                "selector": {"matchLabels": {"env": "dev"}},
                "gates": [{"soak": "5m"}],
            },
            {
                "name": "staging",
                "apps": ["guestbook-staging"],
                "gates": [
                    {"soak": "10m"},
                    {"analysis": {"templateName": "smoke", "args": [{"name": "host", "value": "staging"}]}},
                    {"approval": {}},
                ],
            },
            {
                "name": "prod",
                "apps": ["guestbook-prod"],
                "timeout": "1h",
                "gates": [
                    {"window": {"schedule": "0 9 * * 1-5", "duration": "8h", "timeZone": "Europe/Paris"}},
                ],
            },
        ]
    },
}


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(EXAMPLE)
    target: Any = document
    for part in path[:-1]:
        target = target[part]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


DELETE = object()


def test_the_example_parses() -> None:
    spec = parse_pipeline(EXAMPLE)
    assert spec.name == "guestbook"
    assert [s.name for s in spec.stages] == ["dev", "staging", "prod"]
    dev, staging, prod = spec.stages
    assert dev.selector == "env=dev" and dev.apps == ["guestbook-dev"]
    assert dev.gates[0].kind == "soak" and dev.gates[0].soak_seconds == 300
    assert [g.kind for g in staging.gates] == ["soak", "analysis", "approval"]
    assert staging.gates[1].analysis == {
        "templates": [{"templateName": "smoke"}],
        "args": [{"name": "host", "value": "staging"}],
    }
    assert prod.timeout_seconds == 3600
    assert prod.gates[0].window is not None and prod.gates[0].window.time_zone == "Europe/Paris"
    assert [g.describe() for g in staging.gates] == ["soak 10m", "analysis smoke", "approval"]
    assert prod.gates[0].describe() == "window 0 9 * * 1-5 for 8h (Europe/Paris)"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["apiVersion"], "v1", "apiVersion must be 'bosun.dev/v1alpha1'"),
        (["kind"], "Application", "kind must be 'Pipeline'"),
        (["metadata", "name"], "Guest Book", "metadata.name must be a DNS label"),
        (["spec", "stages"], [], "spec.stages must be a non-empty list"),
        (["spec", "extra"], 1, "spec: unknown field 'extra'"),
        (["spec", "stages", 1, "name"], "dev", "spec.stages[1].name 'dev' is used by an earlier stage"),
        (["spec", "stages", 0, "apps"], "guestbook-dev", "spec.stages[0].apps must be a list"),
        (["spec", "stages", 1, "apps"], DELETE, "spec.stages[1] needs apps, a selector, or both"),
        (["spec", "stages", 0, "gates", 0], {"soak": "5"}, "spec.stages[0].gates[0].soak: '5' is not a duration"),
        (["spec", "stages", 0, "gates", 0], {"soak": "0s"}, "spec.stages[0].gates[0].soak must be longer than 0"),
        (
            ["spec", "stages", 0, "gates", 0],
            {"soak": "5m", "approval": {}},
            "spec.stages[0].gates[0] must be an object with exactly one of: soak, analysis, approval, window",
        ),
        (["spec", "stages", 0, "gates", 0], {"wait": "5m"}, "spec.stages[0].gates[0] must be an object with exactly"),
        (
            ["spec", "stages", 1, "gates", 2],
            {"approval": {"who": "x"}},
            "spec.stages[1].gates[2].approval takes no fields",
        ),
        (
            ["spec", "stages", 1, "gates", 1],
            {"analysis": {"args": []}},
            "spec.stages[1].gates[1].analysis needs templateName or a non-empty templates list",
        ),
        (
            ["spec", "stages", 1, "gates", 1],
            {"analysis": {"templateName": "smoke", "args": [{"name": "x", "valueFrom": {"fieldRef": {}}}]}},
            "spec.stages[1].gates[1].analysis.args[0].valueFrom is not supported",
        ),
        (
            ["spec", "stages", 2, "gates", 0, "window", "schedule"],
            "0 9 * *",
            "spec.stages[2].gates[0].window: ",
        ),
        (
            ["spec", "stages", 2, "gates", 0, "window", "timeZone"],
            "Mars/Olympus",
            "spec.stages[2].gates[0].window: ",
        ),
        (
            ["spec", "stages", 2, "gates", 0, "window", "duration"],
            DELETE,
            "spec.stages[2].gates[0].window.duration is required",
        ),
        (["spec", "stages", 2, "timeout"], "soon", "spec.stages[2].timeout: 'soon' is not a duration"),
        (
            ["spec", "stages", 0, "selector"],
            {"matchExpressions": [{"key": "env", "operator": "Near", "values": ["dev"]}]},
            "spec.stages[0].selector.matchExpressions[0].operator must be one of In, NotIn, Exists, DoesNotExist",
        ),
        (
            ["spec", "stages", 0, "selector"],
            {"matchExpressions": [{"key": "env", "operator": "In", "values": []}]},
            "spec.stages[0].selector.matchExpressions[0].values must not be empty for In",
        ),
        (["spec", "stages", 0, "selector"], {}, "spec.stages[0].selector selects nothing"),
    ],
)
def test_errors_name_the_field(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(PipelineError) as raised:
        parse_pipeline(with_change(path, value), source="p.yaml")
    assert str(raised.value).startswith("p.yaml: ")
    assert message in str(raised.value)


def test_an_unknown_timezone_is_named() -> None:
    document = with_change(["spec", "stages", 2, "gates", 0, "window", "timeZone"], "Mars/Olympus")
    with pytest.raises(PipelineError, match="Mars/Olympus"):
        parse_pipeline(document)


def test_selectors_match_labels_and_names() -> None:
    document = with_change(
        ["spec", "stages", 0, "selector"],
        {
            "matchLabels": {"team": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["dev", "qa"]},
                {"key": "frozen", "operator": "DoesNotExist"},
            ],
        },
    )
    dev = parse_pipeline(document).stages[0]
    assert dev.selects("guestbook-dev", {})  # by name
    assert dev.selects("shop-dev", {"team": "web", "env": "qa"})
    assert not dev.selects("shop-dev", {"team": "web", "env": "prod"})
    assert not dev.selects("shop-dev", {"team": "web", "env": "dev", "frozen": "yes"})
    assert not dev.selects("shop-dev", {"env": "dev"})


def test_soak_and_analysis_long_forms() -> None:
    document = with_change(
        ["spec", "stages", 1, "gates"],
        [
            {"soak": {"duration": "1h30m"}},
            {
                "analysis": {
                    "templates": [{"templateName": "a"}, {"templateName": "b", "clusterScope": True}],
                    "namespace": "checks",
                }
            },
        ],
    )
    soak, analysis = parse_pipeline(document).stages[1].gates
    assert soak.soak_seconds == 5400 and soak.describe() == "soak 1h30m"
    assert analysis.analysis["templates"][1] == {"templateName": "b", "clusterScope": True}
    assert analysis.analysis_namespace == "checks"


def state(**fields: Any) -> AppState:
    values: dict[str, Any] = {
        "name": "web",
        "sync": "Synced",
        "health": "Healthy",
        "revision": COMMIT,
        "operation": "idle",
    }
    values.update(fields)
    return AppState(**values)


@pytest.mark.parametrize(
    ("fields", "progress", "message"),
    [
        ({}, AppProgress.READY, "web: Synced/Healthy at aaaaaaaa"),
        ({"revision": OTHER}, AppProgress.WAITING, "web: Synced/Healthy at bbbbbbbb, waiting for aaaaaaaa"),
        ({"health": "Progressing"}, AppProgress.WAITING, "web: Synced/Progressing at aaaaaaaa"),
        ({"sync": "OutOfSync"}, AppProgress.WAITING, "web: OutOfSync/Healthy at aaaaaaaa"),
        ({"operation": "syncing"}, AppProgress.WAITING, "web: Synced/Healthy at aaaaaaaa"),
        ({"health": "Degraded", "message": "crash"}, AppProgress.FAILED, "web is Degraded at aaaaaaaa: crash"),
        ({"health": "Degraded", "operation": "syncing"}, AppProgress.WAITING, "web: Synced/Degraded at aaaaaaaa"),
        ({"found": False}, AppProgress.FAILED, "application 'web' not found"),
    ],
)
def test_app_progress(fields: dict[str, Any], progress: AppProgress, message: str) -> None:
    assert app_progress(state(**fields), COMMIT) == (progress, message)


def test_soak_problem() -> None:
    assert soak_problem([state(), state(name="api")], COMMIT) == ""
    assert soak_problem([state(), state(name="api", health="Progressing")], COMMIT) == ""
    assert (
        soak_problem([state(), state(name="api", health="Degraded")], COMMIT) == "api became Degraded during the soak"
    )
    assert soak_problem([state(health="Missing")], COMMIT) == "web became Missing during the soak"
    assert soak_problem([state(revision=OTHER)], COMMIT) == "web moved to bbbbbbbb during the soak"
    assert soak_problem([state(found=False)], COMMIT) == "application 'web' not found"


def test_a_soak_ends_only_with_every_app_healthy() -> None:
    assert soak_end_problem([state(), state(name="api")]) == ""
    assert soak_end_problem([state(), state(name="api", health="Progressing", message="0 of 1 available")]) == (
        "api is Progressing at the end of the soak: 0 of 1 available"
    )
    assert soak_end_problem([state(health="Suspended")]) == "web is Suspended at the end of the soak"


def test_soak_polls_often_enough_and_not_too_often() -> None:
    assert soak_poll_seconds(20) == 5
    assert soak_poll_seconds(3600) == 30
    assert soak_poll_seconds(8 * 3600) == 60


def test_analysis_passes_only_when_successful() -> None:
    assert analysis_passed("Successful")
    assert not any(analysis_passed(p) for p in ("Failed", "Error", "Inconclusive", "Running"))


def test_window_wait() -> None:
    gate = parse_pipeline(EXAMPLE).stages[2].gates[0]
    # Wednesday 2026-12-02 10:00 in Paris (09:00 UTC): open
    assert window_wait(gate, datetime(2026, 12, 2, 9, 0, tzinfo=UTC))[0] is None
    # Saturday 2026-12-05 12:00 UTC: closed until Monday 09:00 Paris (08:00 UTC)
    wait, note = window_wait(gate, datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    assert wait == datetime(2026, 12, 7, 8, 0, tzinfo=UTC) - datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert "window closed until 2026-12-07T08:00:00+00:00" in note
    # Wednesday 17:00 Paris (16:00 UTC): the 8h window ended, it opens again Thursday
    wait, _ = window_wait(gate, datetime(2026, 12, 2, 16, 0, tzinfo=UTC))
    assert wait == timedelta(hours=16)


def test_initial_status_lists_every_stage_and_gate_pending() -> None:
    status = initial_status(parse_pipeline(EXAMPLE), "main", "alice")
    assert [(s.name, s.phase) for s in status.stages] == [(n, Phase.PENDING) for n in ("dev", "staging", "prod")]
    assert [g.description for g in status.stages[1].gates] == ["soak 10m", "analysis smoke", "approval"]
    assert status.current() == (None, None)


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0, 20, 300, 5400, 3661)] == ["0s", "20s", "5m", "1h30m", "1h1m1s"]


def test_the_edit_request_is_the_app_workflows_spec_edit() -> None:
    """The activity's copy of the ``edit_spec`` request must stay the app workflow's model."""
    assert SpecEditRequest.model_json_schema()["properties"] == SpecEdit.model_json_schema()["properties"]


def test_the_cli_reads_a_pipeline_file_and_names_the_file_and_field(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(EXAMPLE))
    assert read_pipeline(good)["metadata"]["name"] == "guestbook"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_change(["spec", "stages", 0, "gates", 0], {"soak": "soon"})))
    with pytest.raises(CliError) as raised:
        read_pipeline(bad)
    assert raised.value.code == 2
    assert str(raised.value).startswith(f"{bad}: spec.stages[0].gates[0].soak: 'soon' is not a duration")
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [\n")
    with pytest.raises(CliError, match="broken.yaml"):
        read_pipeline(broken)
