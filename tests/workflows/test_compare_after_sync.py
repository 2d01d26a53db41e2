"""After a sync, the app's status comes from a compare of exactly what the sync applied: the
recipe names commits, so resolving, reading the project and rendering again would find the same
(one activity task and three local activities fewer per sync, at a thousand apps' cold start)."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowUpdateStage
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bosun.operation import OperationPhase
from bosun.protocol import RefreshRequest, SyncRequest
from bosun.resources import HealthCode, SyncCode
from tests.history import activity_types
from tests.workflows.conftest import Driver, eventually
from tests.workflows.fakes import FakeBosun, application, deployment
from workflows.application import ApplicationWorkflow
from workflows.state import OperationResult
from workflows.sync import SyncWorkflow


async def test_the_status_after_a_sync_is_one_compare_of_what_was_synced(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await bosun.start(application("after-sync"))

    history = await eventually(app.history, lambda h: bool(h) and h[-1].phase is OperationPhase.SUCCEEDED, what="sync")
    status = await app.status()
    assert (status.sync, status.health) == (SyncCode.SYNCED, HealthCode.HEALTHY)
    assert status.revision == history[-1].revision and world.cluster.applied

    ran = activity_types((await app.handle.fetch_history()).events)
    before, after = ran[: ran.index("count_sync")], ran[ran.index("count_sync") + 1 :]
    assert before.count("render") == 1 and "compare" in before  # the compare that found it OutOfSync
    assert after[:1] == ["compare"]  # what the sync applied, compared at once
    assert not {"render", "resolve_revision", "get_project"} & set(after[:2]), after

    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(await app.handle.fetch_history())).replay_failure is None


async def test_a_hard_refresh_asked_for_during_the_sync_renders_anew_after_it(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await bosun.start(application("after-sync-hard", automated=False))
    world.apply_gate = asyncio.Event()
    update = await app.handle.start_update(
        "sync", SyncRequest(), result_type=OperationResult, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    await asyncio.wait_for(world.apply_started.wait(), 10)
    await app.handle.signal("refresh", RefreshRequest(hard=True))  # while the sync applies
    world.apply_gate.set()
    assert (await update.result()).phase is OperationPhase.SUCCEEDED

    ran = activity_types((await app.handle.fetch_history()).events)
    after = ran[ran.index("count_sync") + 1 :]
    assert "render" in after[: after.index("compare")]  # rendered anew (hard), not the synced recipe
