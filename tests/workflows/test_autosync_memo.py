"""The app workflow's ``autosync`` memo: ``argocd_app_info{autosync_enabled}`` reads it from the
visibility list the metrics endpoint already makes."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bosun import search_attributes as sa
from tests.workflows.conftest import App, Driver, eventually
from tests.workflows.fakes import FakeBosun, application, config_map
from workflows.application import ApplicationWorkflow
from workflows.sync import SyncWorkflow


async def test_the_memo_follows_automated_sync_suspend_and_resume(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(config_map("settings", mode="one"))
    automated = await bosun.start(application("memo-auto", automated=True))
    manual = await bosun.start(application("memo-manual", automated=False))

    async def autosync(app: App) -> object:
        return (await (await app.handle.describe()).memo()).get(sa.AUTOSYNC_MEMO)

    await eventually(lambda: autosync(automated), lambda value: value is True, what="autosync memo true")
    await eventually(lambda: autosync(manual), lambda value: value is False, what="autosync memo false")

    await automated.handle.execute_update("suspend", result_type=str)
    await eventually(lambda: autosync(automated), lambda value: value is False, what="false while suspended")
    await automated.handle.execute_update("resume", result_type=str)
    await eventually(lambda: autosync(automated), lambda value: value is True, what="true once resumed")

    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(await automated.handle.fetch_history())).replay_failure is None
