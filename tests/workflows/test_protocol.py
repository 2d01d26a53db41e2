"""bosun.protocol names what the workflows register, and its ids keep their wire form.

The names and ids are held by running workflows and recorded histories: a rename here
breaks them, so the expected values are spelled out rather than read back from the module.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from bosun.protocol import (
    AppQuery,
    AppSignal,
    AppUpdate,
    BatchQuery,
    DeclarativeQuery,
    DeclarativeSignal,
    SyncQuery,
    WorkflowType,
    app_name_of,
    app_schedule_id,
    app_workflow_id,
    batch_workflow_id,
    declarative_workflow_id,
    sync_workflow_id,
)
from workflows.application import ApplicationWorkflow
from workflows.batch import BatchSyncWorkflow
from workflows.declarative import DeclarativeAppsWorkflow
from workflows.sync import SyncWorkflow


def _names(holder: type) -> set[str]:
    return {value for key, value in vars(holder).items() if key.isupper()}


def _registered(cls: type) -> Any:
    return workflow._Definition.must_from_class(cls)


def test_ids_keep_their_wire_form() -> None:
    assert app_workflow_id("guestbook") == "app:guestbook"
    assert app_workflow_id("team-a/web") == "app:team-a/web"
    assert app_name_of("app:team-a/web") == "team-a/web"
    assert sync_workflow_id("web", 3) == "app:web:sync:3"
    assert declarative_workflow_id("bosun") == "declarative-apps:bosun"
    assert app_schedule_id("web") == "sync:web"
    assert batch_workflow_id("nightly") == "batch:nightly"


def test_the_workflows_register_exactly_the_protocol_names() -> None:
    app = _registered(ApplicationWorkflow)
    assert app.name == WorkflowType.APPLICATION == "ApplicationWorkflow"
    assert set(app.updates) == _names(AppUpdate)
    assert set(app.signals) == _names(AppSignal)
    assert set(app.queries) == _names(AppQuery)

    sync = _registered(SyncWorkflow)
    assert sync.name == WorkflowType.SYNC == "SyncWorkflow"
    assert set(sync.queries) == _names(SyncQuery)

    batch = _registered(BatchSyncWorkflow)
    assert batch.name == WorkflowType.BATCH_SYNC == "BatchSyncWorkflow"
    assert set(batch.queries) == _names(BatchQuery)

    declarative = _registered(DeclarativeAppsWorkflow)
    assert declarative.name == WorkflowType.DECLARATIVE_APPS == "DeclarativeAppsWorkflow"
    assert set(declarative.signals) == _names(DeclarativeSignal)
    assert set(declarative.queries) == _names(DeclarativeQuery)


def test_the_app_protocol_names_are_the_recorded_ones() -> None:
    assert _names(AppUpdate) == {
        "sync",
        "sync_async",
        "edit_spec",
        "suspend",
        "resume",
        "orphaned_resources",
        "rollback",
        "manifests",
        "manifests_content",
        "diff_content",
        "resource_actions",
        "run_resource_action",
        "refresh_now",
        "delete",
    }
    assert _names(AppSignal) == {"refresh", "update_spec", "unpin", "terminate_operation"}
    assert _names(AppQuery) == {"status", "history", "application", "action_history"}
