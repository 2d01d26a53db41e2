"""The app workflow's ``BosunRepos`` search attribute: what git webhooks find apps by."""

from __future__ import annotations

import copy

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bosun.app_edits import document_digest
from bosun.repo_urls import repo_key
from tests.workflows.conftest import Driver, eventually
from tests.workflows.fakes import REPO_URL, FakeBosun, application, config_map
from workflows.application import REPOS_KEY, ApplicationWorkflow
from workflows.state import SpecEdit
from workflows.sync import SyncWorkflow


async def test_repos_follow_the_apps_sources(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(config_map("settings", mode="one"))
    original = application("shop-repos", automated=False)
    app = await bosun.start(original)

    async def repos() -> list[str]:
        return list((await app.handle.describe()).typed_search_attributes.get(REPOS_KEY) or [])

    await eventually(repos, lambda items: items == [repo_key(REPO_URL)], what="BosunRepos upserted")

    edited = copy.deepcopy(original)
    source = edited["spec"].pop("source")
    edited["spec"]["sources"] = [source, {**source, "repoURL": "git@GitHub.com:org/values.git", "ref": "values"}]
    await app.handle.execute_update(
        "edit_spec", SpecEdit(application=edited, base_digest=document_digest(original)), result_type=str
    )
    await eventually(
        repos,
        lambda items: items == sorted({repo_key(REPO_URL), "github.com/org/values"}),
        what="BosunRepos of both sources",
    )

    replayer = Replayer(workflows=[ApplicationWorkflow, SyncWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(await app.handle.fetch_history())).replay_failure is None
