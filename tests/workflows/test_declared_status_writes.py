"""A declared app (started from an Application resource) writes its own status to that resource
when the status changes: the declarative pass no longer queries it at every change (at a thousand
apps starting together, those queries were most of the wait until the statuses showed)."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bosun import search_attributes as sa
from bosun.operation import OperationPhase
from tests.workflows.conftest import Driver, eventually
from tests.workflows.fakes import FakeBosun, application, deployment
from workflows.application import ApplicationWorkflow
from workflows.sync import SyncWorkflow


async def test_a_declared_app_writes_each_new_status_once(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await bosun.start(application("declared-web"), declared=True)
    await eventually(app.history, lambda h: bool(h) and h[-1].phase is OperationPhase.SUCCEEDED, what="sync")
    await eventually(
        lambda: _last(world),
        lambda status: status["sync"]["status"] == "Synced" and status["health"]["status"] == "Healthy",
        what="Synced/Healthy written",
    )
    where = {resource for resource, _ in world.status_writes}
    assert where == {"bosun/declared-web"}
    phases = [(s["sync"]["status"], (s["operationState"] or {}).get("phase")) for _, s in world.status_writes]
    assert phases[0] == ("OutOfSync", "Running")  # compared, and the sync under way
    final = world.status_writes[-1][1]
    assert final["operationState"]["phase"] == "Succeeded" and final["resources"]
    assert len(world.status_writes) == len({str(s) for _, s in world.status_writes})  # no write twice

    writes = len(world.status_writes)
    await app.handle.signal("refresh", {"hard": False})  # a reconcile that changes nothing writes nothing
    await eventually(app.status, lambda s: s.reconciled_at is not None, what="reconciled")
    assert len(world.status_writes) == writes

    memo = await (await app.handle.describe()).memo()
    assert memo.get(sa.WRITES_STATUS_MEMO) is True  # the declarative pass leaves its status to it
    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(await app.handle.fetch_history())).replay_failure is None


async def test_an_app_not_declared_writes_nothing(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(deployment("web"))
    app = await bosun.start(application("cli-web"))
    await eventually(app.history, lambda h: bool(h) and h[-1].phase is OperationPhase.SUCCEEDED, what="sync")
    assert world.status_writes == []
    assert sa.WRITES_STATUS_MEMO not in await (await app.handle.describe()).memo()


async def _last(world: FakeBosun) -> dict:  # type: ignore[type-arg]
    return world.status_writes[-1][1] if world.status_writes else {"sync": {"status": ""}, "health": {"status": ""}}
