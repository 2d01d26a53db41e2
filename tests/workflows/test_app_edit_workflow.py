"""The app workflow's ``edit_spec``, ``suspend`` and ``resume`` updates (``bosun app
set|unset|patch|suspend|resume``) and its ``BosunLabels`` search attribute."""

from __future__ import annotations

import copy

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bosun.app_edits import document_digest
from bosun.resources import SyncCode
from tests.workflows.conftest import Driver, eventually
from tests.workflows.fakes import FakeBosun, application, config_map
from workflows.application import LABELS_KEY, ApplicationWorkflow
from workflows.state import AppStatus, OperationResult, SpecEdit, SyncRequest
from workflows.sync import SyncWorkflow, cause_message


async def test_suspended_app_is_compared_but_syncs_only_by_hand_until_resumed(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(config_map("settings", mode="one"))
    app = await bosun.start(application("shop-suspend"))
    assert "suspended" in await app.handle.execute_update("suspend", result_type=str)

    commit_b = world.git.push(config_map("settings", mode="two"))
    status = await app.tick()
    status = await app.tick()
    assert (status.sync, status.revision, status.suspended) == (SyncCode.OUT_OF_SYNC, commit_b, True)
    assert len(await app.history()) == 1

    result = await app.handle.execute_update("sync", SyncRequest(trigger="manual"), result_type=OperationResult)
    assert result.phase == "Succeeded"
    scheduled = await app.handle.execute_update(
        "sync", SyncRequest(trigger="schedule sync:shop-suspend"), result_type=OperationResult
    )
    assert (scheduled.phase, scheduled.message) == ("Failed", "the application is suspended (bosun app resume)")

    commit_c = world.git.push(config_map("settings", mode="three"))
    await app.handle.execute_update("resume", result_type=str)
    status = await app.settled(what="the sync after resume")
    status = await eventually(
        app.status,
        lambda s: s.synced_revision == commit_c and s.operation == "idle",
        what="automated sync after resume",
    )
    assert status.suspended is False
    assert [h.trigger for h in await app.history()][-1] == "automated"

    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(await app.handle.fetch_history())).replay_failure is None


async def test_edit_spec_is_validated_and_refused_when_stale(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(config_map("settings", mode="one"))
    original = application("shop-edit", automated=False)
    app = await bosun.start(original)
    current = await app.handle.query("application", result_type=dict)
    assert current == original

    edited = copy.deepcopy(original)
    edited["spec"]["source"]["path"] = "apps/other"
    edited["metadata"]["labels"] = {"team": "web", "env": "dev"}
    await app.handle.execute_update(
        "edit_spec", SpecEdit(application=edited, base_digest=document_digest(original)), result_type=str
    )
    status = await app.status()
    assert (status.path, status.labels) == ("apps/other", {"team": "web", "env": "dev"})

    async def labels() -> list[str]:
        return list((await app.handle.describe()).typed_search_attributes.get(LABELS_KEY) or [])

    await eventually(labels, lambda items: items == ["env=dev", "team=web"], what="BosunLabels upserted")

    again = copy.deepcopy(original)  # made from the first document: stale now
    again["spec"]["source"]["path"] = "apps/third"
    invalid = copy.deepcopy(edited)
    invalid["spec"]["destination"]["server"] = 7
    renamed = copy.deepcopy(edited)
    renamed["metadata"]["name"] = "shop-other"
    for edit, says in (
        (SpecEdit(application=again, base_digest=document_digest(original)), "changed since"),
        (SpecEdit(application=invalid), "spec.destination.server"),
        (SpecEdit(application=renamed), "cannot rename"),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await app.handle.execute_update("edit_spec", edit, result_type=str)
        assert says in cause_message(refused.value)
    assert (await app.status()).path == "apps/other"


async def test_invalid_spec_error_is_set_by_a_bad_update_and_cleared_by_a_good_one(
    bosun: Driver, world: FakeBosun
) -> None:
    """InvalidSpecError is kept per source (the document, the sync-schedule annotation, the
    project's windows): a valid document clears the document's problem."""
    world.git.push(config_map("settings", mode="one"))
    original = application("shop-invalid", automated=False)
    app = await bosun.start(original)
    broken = copy.deepcopy(original)
    broken["spec"]["destination"]["server"] = 7
    await app.handle.signal("update_spec", broken)

    def invalid_spec(status: AppStatus) -> str:
        return next((c.message for c in status.conditions if c.type == "InvalidSpecError"), "")

    status = await eventually(app.status, lambda s: bool(invalid_spec(s)), what="InvalidSpecError")
    assert "spec.destination.server" in invalid_spec(status)
    fixed = copy.deepcopy(original)
    fixed["spec"]["source"]["path"] = "apps/other"
    await app.handle.signal("update_spec", fixed)
    status = await eventually(app.status, lambda s: s.path == "apps/other", what="the valid spec in use")
    assert invalid_spec(status) == ""
