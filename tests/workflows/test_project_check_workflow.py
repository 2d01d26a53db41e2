"""The application workflow checks the project's sourceRepos and destinations before it
resolves or renders anything (issue #16, finding 3): a repository the project denies is
never fetched with the worker's stored credentials."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from bosun.protocol import AppUpdate
from bosun.resources import SyncCode
from tests.history import activity_types
from tests.workflows.conftest import App, Driver
from tests.workflows.fakes import NAMESPACE, REPO_URL, FakeBosun, application, deployment
from workflows.state import ManifestsRequest


def project(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}], **spec},
    }


async def scheduled_activities(app: App) -> set[str]:
    """Every activity the workflow ran (tasks and local activities)."""
    return set(activity_types((await app.handle.fetch_history()).events))


async def test_a_denied_repository_is_never_resolved_or_rendered(bosun: Driver, world: FakeBosun) -> None:
    world.project = project(sourceRepos=["*", "!" + REPO_URL.removesuffix(".git").upper()])
    world.git.push(deployment("web"))

    app = await bosun.start(application("shop-denied-repo"))
    status = await app.status()

    assert status.sync is SyncCode.UNKNOWN
    (error,) = [c.message for c in status.conditions if c.type == "ComparisonError"]
    assert error.endswith(f"project 'default' does not permit source repository {REPO_URL!r} (spec.sourceRepos)")
    scheduled = await scheduled_activities(app)
    assert "get_project" in scheduled
    assert not scheduled & {"resolve_revision", "render", "compare"}, scheduled
    assert world.compares == 0 and world.cluster.applied == []

    with pytest.raises(WorkflowUpdateFailedError) as info:  # `bosun app manifests` neither
        await app.handle.execute_update(AppUpdate.MANIFESTS, ManifestsRequest(), result_type=dict)
    assert "spec.sourceRepos" in str(info.value.cause)
    assert not (await scheduled_activities(app)) & {"resolve_revision", "render"}


async def test_a_denied_namespace_is_refused_before_rendering(bosun: Driver, world: FakeBosun) -> None:
    world.project = project(
        destinations=[{"server": "*", "namespace": "*"}, {"server": "*", "namespace": "!" + NAMESPACE}]
    )
    world.git.push(deployment("web"))

    app = await bosun.start(application("shop-denied-namespace"))
    status = await app.status()

    (error,) = [c.message for c in status.conditions if c.type == "ComparisonError"]
    assert f"namespace {NAMESPACE!r}" in error and "spec.destinations" in error
    assert not (await scheduled_activities(app)) & {"resolve_revision", "render"}


async def test_a_project_asking_for_signed_commits_is_refused(bosun: Driver, world: FakeBosun) -> None:
    world.project = project(signatureKeys=[{"keyID": "4AEE18F83AFDEB23"}])
    world.git.push(deployment("web"))

    app = await bosun.start(application("shop-signed"))
    status = await app.status()

    (error,) = [c.message for c in status.conditions if c.type == "ComparisonError"]
    assert "spec.signatureKeys" in error
    assert world.cluster.applied == []


async def test_a_permitted_app_still_syncs(bosun: Driver, world: FakeBosun) -> None:
    world.project = project(sourceRepos=["https://git.example.com/shop/*", "!https://git.example.com/secret/*"])
    world.git.push(deployment("web"))

    app = await bosun.start(application("shop-permitted"))
    status = await app.status()

    assert status.sync is SyncCode.SYNCED
    assert [c.type for c in status.conditions] == []
