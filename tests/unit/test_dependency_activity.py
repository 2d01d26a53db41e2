"""activities.dependencies: what check_dependencies reads, with a fake Temporal client.

(The workflow tests run the same activity against real app workflows.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from activities import dependencies as deps_module
from activities.contracts import ResolveRevisionInput, ResolveRevisionResult
from activities.dependencies import DependencyActivities, DependencyCheckInput
from bosun.dependencies import DEPENDS_ON_ANNOTATION

OLD, NEW = "1" * 40, "2" * 40


def application(name: str, depends: str = "", *, revision: str = "main") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "annotations": {DEPENDS_ON_ANNOTATION: depends} if depends else {}},
        "spec": {
            "project": "default",
            "source": {"repoURL": f"https://git.example.com/{name}.git", "targetRevision": revision, "path": "."},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
        },
    }


def status(name: str, revision: str = OLD, **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "sync": "Synced",
        "health": "Healthy",
        "operation": "idle",
        "revisions": [revision],
        "target_revision": "main",
        **changes,
    }


class FakeHandle:
    def __init__(self, client: FakeClient, name: str) -> None:
        self.client, self.name = client, name

    async def query(self, query: str, **kwargs: Any) -> dict[str, Any]:
        self.client.queries.append((self.name, query))
        if self.name in self.client.ended:
            raise WorkflowQueryRejectedError(status=None)  # type: ignore[arg-type]
        apps = self.client.apps
        if self.name not in apps:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return apps[self.name][0] if query == "status" else apps[self.name][1]

    async def signal(self, signal: str, arg: Any, *, rpc_timeout: timedelta | None = None) -> None:
        self.client.signals.append((self.name, signal))


class FakeClient:
    def __init__(self, apps: dict[str, tuple[dict[str, Any], dict[str, Any]]], ended: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.apps = apps
        self.ended = ended
        self.queries: list[tuple[str, str]] = []
        self.signals: list[tuple[str, str]] = []

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id.removeprefix("app:"))


class Repos:
    """What each repository's main resolves to: the worker's cache (stale) and the repository (fresh)."""

    def __init__(self, cached: str, fresh: str) -> None:
        self.cached, self.fresh = cached, fresh
        self.asked: list[bool] = []

    def __call__(self, wanted: ResolveRevisionInput) -> ResolveRevisionResult:
        self.asked.append(wanted.fresh)
        return ResolveRevisionResult(commit=self.fresh if wanted.fresh else self.cached)


async def check(client: FakeClient, repos: Repos, app: str, *names: str) -> Any:
    activities = DependencyActivities(client=client, resolve=repos)  # type: ignore[arg-type]
    return await activities.check_dependencies(DependencyCheckInput(app=app, depends_on=list(names)))


async def test_a_ready_dependency_costs_two_queries_and_a_cached_resolve() -> None:
    client = FakeClient({"db": (status("db"), application("db"))})
    repos = Repos(cached=OLD, fresh=OLD)
    result = await check(client, repos, "web", "db")
    (db,) = result.dependencies
    assert db.ready and db.current == [OLD] and db.reason == ""
    assert client.queries == [("db", "status"), ("db", "application")]
    assert repos.asked == [False] and client.signals == [] and result.cycle == []


async def test_a_stale_cache_is_asked_again_at_the_repository_before_the_dependency_is_called_behind() -> None:
    client = FakeClient({"db": (status("db", NEW), application("db"))})
    result = await check(client, Repos(cached=OLD, fresh=NEW), "web", "db")
    assert result.dependencies[0].ready  # db compared the new commit; this worker's cache was behind
    assert client.signals == []


async def test_a_dependency_behind_its_target_is_not_ready_and_asked_to_refresh() -> None:
    client = FakeClient({"db": (status("db", OLD), application("db"))})
    repos = Repos(cached=NEW, fresh=NEW)
    result = await check(client, repos, "web", "db")
    (db,) = result.dependencies
    assert db.reason == f"compared at {OLD[:12]}, but main is now {NEW[:12]}"
    assert repos.asked == [False, True]
    assert client.signals == [("db", "refresh")]


async def test_the_pinned_revision_of_a_rollback_is_the_current_one() -> None:
    client = FakeClient({"db": (status("db", OLD, pinned_revision=OLD), application("db"))})
    repos = Repos(cached=NEW, fresh=NEW)
    result = await check(client, repos, "web", "db")
    assert result.dependencies[0].ready and repos.asked == []


async def test_missing_and_ended_apps_are_not_found_and_unreadable_ones_say_why() -> None:
    class Failing(FakeClient):
        def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
            handle = super().get_workflow_handle(workflow_id)
            if handle.name == "slow":

                async def query(query: str, **kwargs: Any) -> dict[str, Any]:
                    raise RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")

                handle.query = query  # type: ignore[method-assign]
            return handle

    client = Failing({"gone": (status("gone"), application("gone"))}, ended={"gone"})
    result = await check(client, Repos(OLD, OLD), "web", "nowhere", "gone", "slow")
    assert [(d.name, d.found, d.reason) for d in result.dependencies] == [
        ("nowhere", False, "not found (no running app workflow)"),
        ("gone", False, "not found (no running app workflow)"),
        ("slow", True, "cannot read its status: deadline exceeded"),
    ]


async def test_the_cycle_is_found_through_the_whole_graph() -> None:
    client = FakeClient(
        {
            "db": (status("db"), application("db", "queue")),
            "queue": (status("queue"), application("queue", "team-a/cache")),
            "team-a/cache": (status("team-a/cache"), application("team-a/cache", "web,db")),
        }
    )
    result = await check(client, Repos(OLD, OLD), "web", "db")
    assert result.cycle == ["web", "db", "queue", "team-a/cache", "web"]
    assert not result.graph_truncated


async def test_the_graph_search_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps_module, "MAX_GRAPH_APPS", 4)
    chain = {f"n{i}": (status(f"n{i}"), application(f"n{i}", f"n{i + 1}")) for i in range(10)}
    chain["n9"] = (status("n9"), application("n9", "web"))
    client = FakeClient(chain)
    result = await check(client, Repos(OLD, OLD), "web", "n0")
    assert result.cycle == [] and result.graph_truncated
    assert len({name for name, query in client.queries if query == "application"}) <= 4
