"""Which Rollout changes the watch turns into ``observe`` signals (:mod:`worker.rollout_watch`):
a person's patches (``kubectl argo rollouts promote|abort|retry|pause``, a sync's new spec)
do, the replica counts and phase the workflow writes do not; and the signals go to the
RolloutWorkflow of the right cluster, namespace and name, debounced, NotFound dropped."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from bosun.protocol import RolloutRef, RolloutSignal
from worker import app_watch
from worker.app_watch import ResourceWatch
from worker.rollout_watch import ObserveSignals, RolloutWatches, control_digest


def rollout(name: str = "web", namespace: str = "shop", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1", "generation": 2},
        "spec": {"replicas": 5, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
        "status": {
            "phase": "Paused",
            "currentStepIndex": 1,
            "replicas": 5,
            "availableReplicas": 5,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-12-02T01:00:00Z"}],
            **status,
        },
    }


def changed(before: dict[str, Any], patch: Any) -> bool:
    after = copy.deepcopy(before)
    patch(after)
    return control_digest(after) != control_digest(before)


@pytest.mark.parametrize(
    ("what", "patch"),
    [
        ("promote: status.pauseConditions null", lambda r: r["status"].update(pauseConditions=None)),
        ("promote --full: status.promoteFull", lambda r: r["status"].update(promoteFull=True)),
        ("abort: status.abort true", lambda r: r["status"].update(abort=True)),
        ("promote while analysing: currentStepIndex", lambda r: r["status"].update(currentStepIndex=2)),
        ("pause: spec.paused", lambda r: r["spec"].update(paused=True)),
        ("restart: spec.restartAt", lambda r: r["spec"].update(restartAt="2026-12-02T02:00:00Z")),
        ("a sync's new template", lambda r: r["spec"].update(template={"spec": {"containers": [{"image": "b"}]}})),
        ("deletion", lambda r: r["metadata"].update(deletionTimestamp="2026-12-02T02:00:00Z")),
    ],
)
def test_what_a_person_patches_is_a_change(what: str, patch: Any) -> None:
    assert changed(rollout(), patch), what


def test_retry_clearing_abort_is_a_change() -> None:
    assert changed(rollout(abort=True), lambda r: r["status"].update(abort=False))


@pytest.mark.parametrize(
    ("what", "patch"),
    [
        ("replica counts", lambda r: r["status"].update(replicas=6, availableReplicas=4, readyReplicas=4)),
        ("phase and message", lambda r: r["status"].update(phase="Progressing", message="more replicas")),
        ("conditions", lambda r: r["status"].update(conditions=[{"type": "Available", "status": "True"}])),
        ("canary weights", lambda r: r["status"].update(canary={"weights": {"canary": {"weight": 20}}})),
        ("observedGeneration", lambda r: r["status"].update(observedGeneration="2")),
        ("a pause's startTime", lambda r: r["status"]["pauseConditions"][0].update(startTime="2026-12-02T01:05:00Z")),
        ("resourceVersion", lambda r: r["metadata"].update(resourceVersion="99")),
    ],
)
def test_what_the_workflow_writes_besides_the_controls_is_not(what: str, patch: Any) -> None:
    assert not changed(rollout(), patch), what


# ------------------------------------------------------------------------- the watch thread


class FakeClient:
    """Lists ``listed``, then streams ``events`` and stops the watch."""

    def __init__(self, listed: list[dict[str, Any]], events: list[tuple[str, dict[str, Any]]]) -> None:
        self.listed = listed
        self.events = events
        self.watch_obj: ResourceWatch | None = None

    def list_with_version(self, api_version: str, kind: str, **_: Any) -> tuple[list[dict[str, Any]], str]:
        assert (api_version, kind) == ("argoproj.io/v1alpha1", "Rollout")
        return copy.deepcopy(self.listed), "1"

    def watch(self, api_version: str, kind: str, **_: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.events
        assert self.watch_obj is not None
        self.watch_obj.stop()
        yield "BOOKMARK", {"metadata": {"resourceVersion": "100"}}


class FakeRegistry:
    def __init__(self, clients: dict[str, FakeClient]) -> None:
        self.clients = clients
        self.names = list(clients)

    def client(self, destination: Any) -> FakeClient:
        return self.clients[destination.name]

    def clusters(self) -> list[Any]:
        return [type("Known", (), {"name": name})() for name in self.names]


def run_watch(cluster: str, listed: list[dict[str, Any]], events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    client = FakeClient(listed, events)
    seen: list[str] = []
    watch = ResourceWatch(
        clusters=FakeRegistry({cluster: client}),  # type: ignore[arg-type]
        kind="Rollout",
        watched=lambda ns: True,
        on_object=lambda namespace, name: seen.append(f"{cluster}:{namespace}/{name}"),
        cluster=cluster,
        digest=control_digest,
    )
    client.watch_obj = watch
    watch._run()  # in this thread: returns when the fake stream stops the watch
    return seen


def status_write(obj: dict[str, Any], **status: Any) -> dict[str, Any]:
    written = copy.deepcopy(obj)
    written["status"].update(status)
    return written


def test_watch_signals_the_first_list_then_only_control_changes() -> None:
    web, api = rollout("web"), rollout("api", namespace="shop")
    events = [
        ("MODIFIED", status_write(web, availableReplicas=4)),  # the workflow's own counts: nothing
        ("MODIFIED", status_write(web, pauseConditions=None)),  # kubectl argo rollouts promote
        ("MODIFIED", status_write(web, pauseConditions=None, availableReplicas=5)),  # nothing new
        ("MODIFIED", status_write(api, abort=True)),  # kubectl argo rollouts abort
        ("DELETED", api),
        ("ADDED", rollout("new", namespace="other")),
    ]
    seen = run_watch("edge", [web, api], events)
    assert seen == [
        "edge:shop/api",  # the first list: every Rollout, sorted (changes made while no worker ran)
        "edge:shop/web",
        "edge:shop/web",
        "edge:shop/api",
        "edge:shop/api",
        "edge:other/new",
    ]


# ------------------------------------------------------------------------- the signals


class FakeHandle:
    def __init__(self, client: FakeTemporal, workflow_id: str) -> None:
        self.client = client
        self.workflow_id = workflow_id

    async def signal(self, name: str, *args: Any) -> None:
        if self.workflow_id not in self.client.running:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        self.client.signals.append((self.workflow_id, name, args))


class FakeTemporal:
    def __init__(self, running: set[str]) -> None:
        self.running = running
        self.signals: list[tuple[str, str, tuple[Any, ...]]] = []

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id)


async def test_signals_are_debounced_per_rollout_and_not_found_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_watch, "DEBOUNCE_SECONDS", 0.05)  # the watches share one debounce
    web = RolloutRef(cluster="in-cluster", namespace="shop", name="web")
    stray = RolloutRef(cluster="in-cluster", namespace="shop", name="not-bosuns")
    temporal = FakeTemporal(running={web.workflow_id()})
    signals = ObserveSignals(temporal, asyncio.get_running_loop())  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(signals.run(stop))
    for _ in range(5):  # a burst from another thread
        await asyncio.to_thread(signals.request, web)
    await asyncio.to_thread(signals.request, stray)
    for _ in range(50):
        if temporal.signals:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert temporal.signals == [("rollout:in-cluster:shop/web", RolloutSignal.OBSERVE, ())]
    assert signals.sent == ["rollout:in-cluster:shop/web"]


async def test_one_watch_per_known_cluster_as_clusters_come_and_go(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    stopped: list[str] = []
    monkeypatch.setattr(ResourceWatch, "start", lambda self: started.append(self._cluster))
    monkeypatch.setattr(ResourceWatch, "stop", lambda self: stopped.append(self._cluster))
    registry = FakeRegistry({"in-cluster": FakeClient([], []), "edge": FakeClient([], [])})
    signals = ObserveSignals(FakeTemporal(set()), asyncio.get_running_loop())  # type: ignore[arg-type]
    watches = RolloutWatches(registry, signals)  # type: ignore[arg-type]
    await watches.refresh()
    assert watches.clusters == ["edge", "in-cluster"] and sorted(started) == ["edge", "in-cluster"]
    registry.names = ["in-cluster", "late"]
    await watches.refresh()
    assert watches.clusters == ["in-cluster", "late"]
    assert stopped == ["edge"] and started[-1] == "late"
