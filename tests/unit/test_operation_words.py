"""Operation phases, result statuses and condition types (:mod:`bosun.operation`): members
compare as their Argo CD strings, and a resource result keeps its wire text
("created (dry run)") while code reads a separate ``dry_run`` flag."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter

from activities.contracts import ResourceResult
from bosun.operation import ConditionType, OperationPhase, ResultStatus, result_label, split_result_label
from bosun.resources import ResourceKey
from workflows.state import OperationResult

KEY = ResourceKey(group="apps", kind="Deployment", namespace="web", name="web")


def test_members_are_their_argo_cd_strings() -> None:
    assert OperationPhase.SUCCEEDED == "Succeeded" and OperationPhase("Error") is OperationPhase.ERROR
    assert [p.completed for p in OperationPhase] == [False, False, True, True, True]
    assert ConditionType.INVALID_SPEC_ERROR == "InvalidSpecError"
    assert ResultStatus.CREATED.applied and ResultStatus.CONFIGURED.applied and not ResultStatus.PRUNED.applied


@pytest.mark.parametrize(
    ("label", "status", "dry_run"),
    [
        ("created", ResultStatus.CREATED, False),
        ("created (dry run)", ResultStatus.CREATED, True),
        ("configured (dry run)", ResultStatus.CONFIGURED, True),
        ("pruned (dry run)", ResultStatus.PRUNED, True),
        ("skipped (dry run)", ResultStatus.SKIPPED, True),
        ("failed", ResultStatus.FAILED, False),
    ],
)
def test_result_wire_text_round_trips(label: str, status: ResultStatus, dry_run: bool) -> None:
    result = ResourceResult.model_validate({"key": KEY.model_dump(), "status": label, "message": "m"})
    assert (result.status, result.dry_run, result.label) == (status, dry_run, label)
    dumped = result.model_dump(mode="json")
    assert dumped == {"key": KEY.model_dump(mode="json"), "status": label, "message": "m"}
    assert ResourceResult.model_validate_json(json.dumps(dumped)) == result
    assert split_result_label(label) == (str(status), dry_run) and result_label(status, dry_run=dry_run) == label


def test_result_made_with_the_flag_writes_the_old_text() -> None:
    result = ResourceResult(key=KEY, status=ResultStatus.CREATED, dry_run=True)
    assert result.model_dump(mode="json")["status"] == "created (dry run)"
    assert "dry_run" not in result.model_dump(mode="json")


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        ResourceResult.model_validate({"key": KEY.model_dump(), "status": "exploded"})


def test_an_operation_result_recorded_before_the_enums_still_reads() -> None:
    recorded = {
        "id": 3,
        "phase": "Succeeded",
        "dry_run": True,
        "resources": [{"key": KEY.model_dump(mode="json"), "status": "configured (dry run)", "message": ""}],
    }
    result = TypeAdapter(OperationResult).validate_python(recorded)
    assert result.phase is OperationPhase.SUCCEEDED
    assert result.resources[0].status is ResultStatus.CONFIGURED and result.resources[0].dry_run
    assert result.model_dump(mode="json")["resources"][0]["status"] == "configured (dry run)"
