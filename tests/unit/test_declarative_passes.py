"""How much a declarative pass asks of Temporal (issue #15 item 6): a status pass queries only
the apps whose ``BosunStatusDigest`` moved, and no pass handles more than CALLS_PER_PASS apps
that need a call, however many Applications there are.

The Temporal client and the management cluster are stand-ins that count calls (the pass's
logic is what is tested here; tests/e2e/test_declarative_apps.py runs it on the real stack)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities import declarative
from activities.declarative import DeclarativeActivities, DeclaredAppsInput, spec_digest
from activities.kube import ClusterRegistry, KubeError
from bosun.protocol import app_workflow_id


def application(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "bosun", "resourceVersion": "1"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/a.git", "path": name},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        },
    }


@dataclass
class Temporal:
    """A Temporal client that counts what the pass asks: starts, status queries, visibility lists."""

    digests: dict[str, str] = field(default_factory=dict)
    """Workflow id → BosunStatusDigest of the running app workflows."""
    started: list[str] = field(default_factory=list)
    queried: list[str] = field(default_factory=list)
    writers: set[str] = field(default_factory=set)
    """Workflow ids whose memo says they write their own status."""

    async def list_workflows(self, query: str, **_: Any) -> Any:
        assert "ExecutionStatus = 'Running'" in query
        for workflow_id, digest in list(self.digests.items()):
            attributes = SimpleNamespace(get=lambda key, digest=digest: digest)
            memo = SimpleNamespace(fields={"writes_status": b"true"} if workflow_id in self.writers else {})
            yield SimpleNamespace(
                id=workflow_id, typed_search_attributes=attributes, raw_info=SimpleNamespace(memo=memo)
            )

    async def start_workflow(self, *_: Any, id: str, **__: Any) -> None:
        self.started.append(id)
        self.digests[id] = "d0"

    def get_workflow_handle(self, workflow_id: str) -> Any:
        async def query(*_: Any, **__: Any) -> dict[str, Any]:
            self.queried.append(workflow_id)
            return {"sync": "Synced", "health": "Healthy"}

        return SimpleNamespace(query=query)


def activities(temporal: Temporal, apps: list[dict[str, Any]]) -> DeclarativeActivities:
    acts = DeclarativeActivities(
        client=temporal,  # type: ignore[arg-type]
        clusters=ClusterRegistry(None),
        namespace="bosun",
        task_queue="bosun",
        refresh_seconds=180,
    )
    acts._list = lambda: apps  # type: ignore[method-assign]

    async def write_status(app: dict[str, Any], status: dict[str, Any], *, unless_changed: bool = False) -> None:
        return None

    acts._write_status = write_status  # type: ignore[method-assign]
    return acts


def run(acts: DeclarativeActivities, input: DeclaredAppsInput) -> Any:
    return asyncio.run(acts.reconcile_declared_apps(input))


def test_a_status_pass_queries_only_the_apps_whose_status_digest_moved() -> None:
    apps = [application(f"app-{i}") for i in range(5)]
    temporal = Temporal()
    acts = activities(temporal, apps)
    first = run(acts, DeclaredAppsInput())
    assert sorted(temporal.started) == sorted(app_workflow_id(a["metadata"]["name"]) for a in apps)
    known = first.known
    temporal.queried.clear()

    run(acts, DeclaredAppsInput(known=known, discover=False))  # every status written once
    assert len(temporal.queried) == 5
    temporal.queried.clear()
    run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == []  # nothing moved: nothing asked

    temporal.digests[app_workflow_id("app-3")] = "d1"
    run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == [app_workflow_id("app-3")]

    temporal.queried.clear()
    again = run(acts, DeclaredAppsInput(known=known, discover=True))  # a full pass: nothing new either
    assert temporal.queried == [] and again.started_or_updated == [] and not again.more


def test_a_pass_handles_at_most_its_budget_and_asks_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(declarative, "CALLS_PER_PASS", 4)
    apps = [application(f"app-{i:02d}") for i in range(10)]
    temporal = Temporal()
    acts = activities(temporal, apps)
    known: dict[str, str] = {}
    passes = 0
    while True:
        result = run(acts, DeclaredAppsInput(known=known))
        passes += 1
        known = result.known
        assert len(result.started_or_updated) <= 4
        if not result.more:
            break
    assert passes >= 3  # 10 starts at 4 a pass (and the first status of each, once visible)
    assert known == {a["metadata"]["name"]: spec_digest(a) for a in apps}
    assert len(temporal.started) == 10
    run(acts, DeclaredAppsInput(known=known, discover=False))  # the first status of the last ones started
    temporal.queried.clear()
    settled = run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == [] and not settled.more


def test_a_full_pass_spends_its_budget_on_starts_first_keeping_a_share_for_statuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thousand apps declared at once: the statuses of the first ones started (all due) must not
    take the budget of the others' starts, nor be starved by them (a quarter is kept for them)."""
    monkeypatch.setattr(declarative, "CALLS_PER_PASS", 8)
    apps = [application(f"app-{i:02d}") for i in range(16)]
    temporal = Temporal()
    acts = activities(temporal, apps)
    first = run(acts, DeclaredAppsInput())
    assert temporal.started == [app_workflow_id(f"app-{i:02d}") for i in range(8)] and first.more
    temporal.queried.clear()
    second = run(acts, DeclaredAppsInput(known=first.known))  # app-00..07: status due; app-08..15: not started
    assert temporal.started[8:] == [app_workflow_id(f"app-{i:02d}") for i in range(8, 14)]  # 6 starts
    earlier = {app_workflow_id(f"app-{i:02d}") for i in range(8)}
    assert len(earlier & set(temporal.queried)) == 2  # and 2 statuses of the earlier ones
    assert second.more


def test_apps_just_started_are_not_started_again_while_visibility_lags(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 1,000 apps the dev server's visibility listed no workflow for minutes: every pass took all
    apps for stopped and started them again, and their statuses were never written."""
    monkeypatch.setattr(declarative, "CALLS_PER_PASS", 8)
    apps = [application(f"app-{i:02d}") for i in range(4)]
    temporal = Temporal()
    acts = activities(temporal, apps)
    first = run(acts, DeclaredAppsInput())
    temporal.digests.clear()  # visibility lists nothing yet
    run(acts, DeclaredAppsInput(known=first.known))
    assert len(temporal.started) == 4  # none started again
    monkeypatch.setattr(declarative, "VISIBILITY_LAG_SECONDS", 0.0)  # long after: one that stopped restarts
    run(acts, DeclaredAppsInput(known=first.known))
    assert len(temporal.started) == 8


def test_without_visibility_a_pass_neither_describes_nor_queries_every_app() -> None:
    apps = [application(f"app-{i}") for i in range(5)]
    temporal = Temporal()
    acts = activities(temporal, apps)
    known = run(acts, DeclaredAppsInput()).known
    run(acts, DeclaredAppsInput(known=known, discover=False))  # every status written once

    async def no_visibility(query: str, **_: Any) -> Any:
        raise RPCError("Timeout expired", RPCStatusCode.DEADLINE_EXCEEDED, b"")
        yield  # an async generator, as the client's

    temporal.list_workflows = no_visibility  # type: ignore[method-assign]
    temporal.started.clear()
    temporal.queried.clear()
    full = run(acts, DeclaredAppsInput(known=known, discover=True))
    status = run(acts, DeclaredAppsInput(known=known, discover=False))
    assert (temporal.started, temporal.queried) == ([], [])  # the Temporal stand-in has no describe at all
    assert full.known == known and not full.more and not status.more


def test_an_app_just_started_is_not_asked_its_status_until_visibility_shows_one() -> None:
    """At a thousand apps, a status query right after the start waited seconds for the new workflow's
    first task and held a call slot the other starts needed."""
    temporal = Temporal()
    start = temporal.start_workflow

    async def start_unlisted(*args: Any, id: str, **kwargs: Any) -> None:
        await start(*args, id=id, **kwargs)
        del temporal.digests[id]  # visibility lags: the new workflow is not listed yet

    temporal.start_workflow = start_unlisted  # type: ignore[method-assign]
    acts = activities(temporal, [application("fresh")])
    known = run(acts, DeclaredAppsInput()).known
    assert temporal.started == [app_workflow_id("fresh")] and temporal.queried == []
    run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == []  # nothing to say yet
    temporal.digests[app_workflow_id("fresh")] = "d1"  # its first status, now visible
    run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == [app_workflow_id("fresh")]


def test_an_app_that_writes_its_own_status_is_queried_only_as_it_gets_old(monkeypatch: pytest.MonkeyPatch) -> None:
    temporal = Temporal()
    acts = activities(temporal, [application("self"), application("other")])
    known = run(acts, DeclaredAppsInput()).known
    temporal.writers.add(app_workflow_id("self"))
    run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == [app_workflow_id("other")]  # its first status; "self" wrote its own

    temporal.queried.clear()
    temporal.digests = {workflow_id: "d2" for workflow_id in temporal.digests}  # both statuses moved
    run(acts, DeclaredAppsInput(known=known, discover=False))
    assert temporal.queried == [app_workflow_id("other")]

    temporal.queried.clear()
    now = time.monotonic()
    monkeypatch.setattr(declarative.time, "monotonic", lambda: now + declarative.STATUS_MAX_AGE_SECONDS + 1)
    run(acts, DeclaredAppsInput(known=known, discover=False))  # old enough: reconciledAt refreshed for both
    assert sorted(temporal.queried) == sorted([app_workflow_id("self"), app_workflow_id("other")])


def test_a_by_age_write_of_a_self_writing_app_is_conditional_and_a_conflict_is_quiet() -> None:
    """The pass queried the status, then the workflow wrote a newer one: the pass's write, made
    on the resourceVersion it listed, must not undo it."""
    patches: list[dict[str, Any]] = []

    class Management:
        def merge_patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> None:
            patches.append(patch)
            raise KubeError("Operation cannot be fulfilled: the object has been modified", retryable=True, status=409)

    acts = DeclarativeActivities(
        client=Temporal(),  # type: ignore[arg-type]
        clusters=ClusterRegistry(None),
        namespace="bosun",
        task_queue="bosun",
        refresh_seconds=180,
    )
    acts._management = lambda: Management()  # type: ignore[assignment, method-assign, return-value]
    status = {"sync": {"status": "Synced"}}
    asyncio.run(acts._write_status(application("self"), status, unless_changed=True))
    assert patches == [{"status": status, "metadata": {"resourceVersion": "1"}}]
    with pytest.raises(ApplicationError):  # an unconditional write that conflicts is an error, as before
        asyncio.run(acts._write_status(application("other"), status))


def test_a_pass_ends_when_the_worker_begins_to_shut_down() -> None:
    """A pass waiting on Temporal (here a start that never answers: the workflows it asks about were
    polled by this very worker) must not hold the worker's exit past its grace period."""
    temporal = Temporal()

    async def start_never_answered(*_: Any, **__: Any) -> None:
        await asyncio.Event().wait()

    temporal.start_workflow = start_never_answered  # type: ignore[method-assign]
    acts = activities(temporal, [application("a"), application("b")])
    env = ActivityEnvironment()

    async def scenario() -> Any:
        running = asyncio.ensure_future(env.run(acts.reconcile_declared_apps, DeclaredAppsInput()))
        await asyncio.sleep(0.2)
        assert not running.done()
        env.worker_shutdown()
        return await asyncio.wait_for(running, timeout=5)

    result = asyncio.run(scenario())
    assert result.more and result.known == {}  # nothing recorded as done: the next pass does it all
