"""RolloutWorkflow: ephemeral metadata, the progress deadline on blue-green, a missing traffic
router or Service, selectors put back, images in ``describe`` and a history that stays
bounded; on the time-skipping server with the fake cluster of ``test_rollout_workflow.py``.

After Argo Rollouts: ``rollout/ephemeralmetadata.go`` (canary/stable, preview/active
metadata follow the roles), ``syncRolloutStatus`` (ProgressDeadlineExceeded, then abort with
``progressDeadlineAbort``), referenced-resource validation (a missing Ingress or Service is an
``InvalidSpec`` condition naming it, phase Degraded) and ``reconcileStableAndCanaryService``
(selectors set on every reconcile).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.rollouts import (
    EnsureReplicaSetInput,
    EphemeralMetadataInput,
    ReplicaSetObservation,
    RolloutObservation,
    ServiceSelectorInput,
    ServiceSelectorResult,
    TrafficWeightInput,
    TrafficWeightResult,
    WaitReplicaSetsInput,
    WaitReplicaSetsResult,
    replica_set_name,
)
from bosun.protocol import RolloutCommand, RolloutUpdate
from bosun.rollouts.spec import PodMetadata
from tests.workflows.conftest import eventually, skip_time
from tests.workflows.test_rollout_bluegreen import ACTIVE, PREVIEW, bg_spec
from tests.workflows.test_rollout_bluegreen import V1 as BG1
from tests.workflows.test_rollout_bluegreen import V2 as BG2
from tests.workflows.test_rollout_workflow import (
    NAME,
    V1,
    V2,
    FakeRolloutCluster,
    Rollout,
    rollout_spec,
    run_rollout,
)

CANARY_META = {"labels": {"role": "canary"}, "annotations": {"note": "new"}}
STABLE_META = {"labels": {"role": "stable"}}


class FakeCluster(FakeRolloutCluster):
    """The fake cluster, plus: ephemeral metadata per ReplicaSet, images, pods that never
    become available (``stuck`` hashes) or that linger (``linger``: name → available), an
    honest ``wait_replica_sets`` that returns at once (reached or not), Services and a router
    object that can be missing."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.metadata: dict[str, PodMetadata | None] = {}
        """ReplicaSet name → the ephemeral metadata on its template and pods now."""
        self.pod_syncs: list[str] = []
        self.stuck: set[str] = set()
        self.linger: dict[str, int] = {}
        self.missing_services: set[str] = set()
        self.router_present = True
        self.weights: list[int] = []

    def _observation(self) -> RolloutObservation:
        observation = super()._observation()
        rss = []
        for rs in observation.replica_sets:
            live = self.replica_sets[rs.name]
            update: dict[str, Any] = {"images": [live.get("image", "")]}
            if rs.pod_template_hash in self.stuck:
                update.update(ready=0, available=0)
            rss.append(rs.model_copy(update=update))
        for name, available in self.linger.items():
            rss.insert(0, ReplicaSetObservation(name=name, pod_template_hash=name, revision=0, available=available))
        # The Services as observe_rollout reads them: a selector already right needs no call.
        services = {n: None if n in self.missing_services else h for n, h in self.services.items()}
        return observation.model_copy(update={"replica_sets": rss, "services": services})

    def activities(self) -> list[Any]:
        base = {getattr(a, "__name__", ""): a for a in super().activities()}
        ensure = base.pop("ensure_replica_set")
        base.pop("wait_replica_sets")
        base.pop("set_service_selector")

        @activity.defn(name="ensure_replica_set")
        async def ensure_replica_set(input: EnsureReplicaSetInput) -> ReplicaSetObservation:
            name = replica_set_name(input.target.name, input.pod_template_hash)
            created = name not in self.replica_sets
            result: ReplicaSetObservation = await ensure(input)
            if created:
                self.metadata[name] = input.ephemeral
                self.replica_sets[name]["image"] = input.template["spec"]["containers"][0]["image"]
            return result

        @activity.defn(name="sync_ephemeral_metadata")
        async def sync_ephemeral_metadata(input: EphemeralMetadataInput) -> list[str]:
            for name, meta in input.replica_sets.items():
                if name in self.replica_sets:
                    self.metadata[name] = meta
            self.pod_syncs += input.pods
            return list(input.replica_sets)

        @activity.defn(name="wait_replica_sets")
        async def wait_replica_sets(input: WaitReplicaSetsInput) -> WaitReplicaSetsResult:
            observation = self._observation()
            by_name = {rs.name: rs for rs in observation.replica_sets}
            reached = all(
                name in by_name and by_name[name].available == n and by_name[name].replicas == n
                for name, n in input.available.items()
            )
            return WaitReplicaSetsResult(reached=reached, observation=observation)

        @activity.defn(name="set_service_selector")
        async def set_service_selector(input: ServiceSelectorInput) -> ServiceSelectorResult:
            if input.service in self.missing_services:
                return ServiceSelectorResult(found=False, message=f"Service shop/{input.service} not found")
            self.services[input.service] = input.pod_template_hash
            return ServiceSelectorResult(found=True)

        @activity.defn(name="set_traffic_weight")
        async def set_traffic_weight(input: TrafficWeightInput) -> TrafficWeightResult:
            if not self.router_present:
                return TrafficWeightResult(set=False, message="Ingress shop/web (stableIngress) not found")
            self.weights.append(input.weight)
            return TrafficWeightResult(set=True)

        return [
            *base.values(),
            ensure_replica_set,
            sync_ephemeral_metadata,
            wait_replica_sets,
            set_service_selector,
            set_traffic_weight,
        ]


def _cluster(rollout: Rollout) -> FakeCluster:
    assert isinstance(rollout.cluster, FakeCluster)
    return rollout.cluster


def with_metadata(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["strategy"]["canary"].update(canaryMetadata=CANARY_META, stableMetadata=STABLE_META)
    return spec


async def start(env: WorkflowEnvironment, spec: dict[str, Any], **services: str) -> AsyncIterator[Rollout]:
    cluster = FakeCluster(spec)
    if services:
        cluster.services = dict(services)
    async for r in run_rollout(env, cluster):
        yield r


async def _events(rollout: Rollout) -> int:
    """Activities and timers the workflow started so far."""
    history = await rollout.handle.fetch_history()
    kinds = (EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_TIMER_STARTED)
    return sum(1 for e in history.events if e.event_type in kinds)


async def _value(value: Any) -> Any:
    return value


@pytest.fixture
async def meta_rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in start(env, with_metadata(rollout_spec("web:1"))):
        yield r


async def test_canary_and_stable_metadata_follow_the_roles(meta_rollout: Rollout) -> None:
    rollout, cluster = meta_rollout, _cluster(meta_rollout)
    old, new = replica_set_name(NAME, V1), replica_set_name(NAME, V2)
    canary, stable = PodMetadata(**CANARY_META), PodMetadata(**STABLE_META)
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    assert cluster.metadata == {old: stable}  # fully rolled out: the stable metadata

    cluster.update(with_metadata(rollout_spec("web:2")))
    await rollout.observe()
    await rollout.settles("paused at 20%", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
    assert cluster.metadata == {old: stable, new: canary}  # the canary's pods start with it

    await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(full=True), result_type=None)
    await rollout.settles("promoted", phase="Healthy", counts={V1: 0, V2: 5})
    # The new stable's template and pods switch to the stable metadata; the old one loses it.
    await eventually(lambda: _value(dict(cluster.metadata)), lambda m: m == {old: None, new: stable}, what="roles")
    assert new in cluster.pod_syncs


BG_META = {"previewMetadata": {"labels": {"role": "preview"}}, "activeMetadata": {"labels": {"role": "a"}}}


@pytest.fixture
async def bg_meta_rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in start(env, bg_spec("web:1", **BG_META), **{ACTIVE: "", PREVIEW: ""}):
        yield r


async def test_blue_green_preview_and_active_metadata(bg_meta_rollout: Rollout) -> None:
    rollout, cluster = bg_meta_rollout, _cluster(bg_meta_rollout)
    old, new = replica_set_name(NAME, BG1), replica_set_name(NAME, BG2)
    active = PodMetadata(labels={"role": "a"})
    await rollout.settles("first revision", phase="Healthy", counts={BG1: 3})
    cluster.update(bg_spec("web:2", **BG_META))
    await rollout.observe()
    await rollout.settles("preview up", phase="Paused", counts={BG1: 3, BG2: 3})
    assert cluster.metadata == {old: active, new: PodMetadata(labels={"role": "preview"})}
    described = await rollout.describe()
    roles = {rs.name: (rs.role, rs.images) for rs in described.replica_sets}
    assert roles == {old: ("stable", ["web:1"]), new: ("preview", ["web:2"])}
    await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(), result_type=None)
    await eventually(
        lambda: _value(dict(cluster.metadata)),
        lambda m: m == {old: None, new: active},
        what="active metadata on the promoted ReplicaSet",
    )


def deadline_spec(image: str, abort: bool) -> dict[str, Any]:
    return {**bg_spec(image), "progressDeadlineSeconds": 60, "progressDeadlineAbort": abort}


@pytest.fixture(params=[False, True], ids=["no-abort", "abort"])
async def stuck_rollout(env: WorkflowEnvironment, request: pytest.FixtureRequest) -> AsyncIterator[Rollout]:
    async for r in start(env, deadline_spec("web:1", request.param), **{ACTIVE: "", PREVIEW: ""}):
        yield r


async def test_blue_green_progress_deadline(env: WorkflowEnvironment, stuck_rollout: Rollout) -> None:
    rollout, cluster = stuck_rollout, _cluster(stuck_rollout)
    abort = bool(cluster.spec["progressDeadlineAbort"])
    await rollout.settles("first revision", phase="Healthy", counts={BG1: 3})
    cluster.stuck.add(BG2)  # the preview's pods never become available
    cluster.update(deadline_spec("web:2", abort))
    await rollout.observe()
    await rollout.settles("preview scaled", phase="Progressing", counts={BG1: 3, BG2: 3})
    before = await _events(rollout)
    await skip_time(env, 90)
    described = await rollout.settles("past the deadline", phase="Degraded")
    progressing = next(c for c in described.status["conditions"] if c["type"] == "Progressing")
    if abort:
        assert progressing["reason"] == "RolloutAborted" and described.status["abort"] is True
        assert "progressDeadlineAbort" in progressing["message"]
        assert described.status["blueGreen"]["activeSelector"] == BG1
    else:
        assert progressing["reason"] == "ProgressDeadlineExceeded"
        assert progressing["message"] == f'ReplicaSet "{NAME}-{BG2}" has timed out progressing.'
        assert not described.status.get("abort")
    # 90 s of waiting on pods that never come: a few 30 s chunks, not a spin.
    assert await _events(rollout) - before < 40
    if not abort:
        # Pods that come up at last clear it.
        cluster.stuck.clear()
        await rollout.observe()
        await rollout.settles("paused for promotion", phase="Paused")


async def test_missing_router_is_invalid_spec_naming_it_and_recovers(env: WorkflowEnvironment) -> None:
    spec = rollout_spec("web:1")
    spec["strategy"]["canary"]["trafficRouting"] = {"nginx": {"stableIngress": "web"}}
    cluster = FakeCluster(spec)
    cluster.router_present = False
    async for rollout in run_rollout(env, cluster):
        described = await rollout.settles("router missing", phase="Degraded")
        condition = next(c for c in described.status["conditions"] if c["type"] == "InvalidSpec")
        assert condition["message"] == (
            f'The Rollout "{NAME}" is invalid: spec.strategy.canary.trafficRouting: '
            "Ingress shop/web (stableIngress) not found"
        )
        before = await _events(rollout)
        await skip_time(env, 600)
        # Looked for again after 10 s, then backing off (20 s, 40 s …): bounded, no spin.
        assert await _events(rollout) - before < 8 * 5, await _events(rollout) - before
        cluster.router_present = True
        await skip_time(env, 301)
        healthy = await rollout.settles("router found", phase="Healthy", counts={V1: 5})
        assert not any(c["type"] == "InvalidSpec" for c in healthy.status["conditions"])
        assert cluster.weights == [0]


async def test_missing_service_is_invalid_spec_and_edited_selectors_are_put_back(env: WorkflowEnvironment) -> None:
    cluster = FakeCluster(rollout_spec("web:1"))
    cluster.missing_services.add("web-canary")
    async for rollout in run_rollout(env, cluster):
        described = await rollout.settles("Service missing", phase="Degraded", counts={V1: 5})
        condition = next(c for c in described.status["conditions"] if c["type"] == "InvalidSpec")
        assert "spec.strategy.canary.canaryService: Service shop/web-canary not found" in condition["message"]
        cluster.missing_services.clear()
        await skip_time(env, 301)
        await rollout.settles("Service found", phase="Healthy")
        assert cluster.services == {"web-canary": V1, "web-stable": V1}

        cluster.services["web-stable"] = "edited-by-someone"
        await rollout.observe()
        await eventually(
            lambda: _value(dict(cluster.services)), lambda s: s["web-stable"] == V1, what="the selector put back"
        )


async def test_describe_shows_images(meta_rollout: Rollout) -> None:
    rollout, cluster = meta_rollout, _cluster(meta_rollout)
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    cluster.update(with_metadata(rollout_spec("web:2")))
    await rollout.observe()
    described = await rollout.settles("paused", phase="Paused", counts={V1: 4, V2: 1})
    assert {(rs.role, tuple(rs.images)) for rs in described.replica_sets} == {
        ("stable", ("web:1",)),
        ("canary", ("web:2",)),
    }


async def test_history_stays_bounded_at_rest_and_while_old_pods_linger(
    env: WorkflowEnvironment, meta_rollout: Rollout
) -> None:
    """A wait that returns at once (reached or not) never makes the loop spin."""
    rollout, cluster = meta_rollout, _cluster(meta_rollout)
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    before = await _events(rollout)
    await skip_time(env, 3600)
    at_rest = await _events(rollout) - before
    # At rest: one look every resync (300 s): observe and a timer, 12 times (the Services
    # observed right need no call).
    assert at_rest <= 12 * 2 + 4, at_rest

    # An old ReplicaSet at 0 whose pods are still terminating (available 2, for an hour).
    cluster.linger["web-old"] = 2
    await rollout.observe()
    await eventually(_events_after(rollout, before + at_rest), lambda n: n > 2, what="the wait for old pods")
    # Virtual time stands still here: a loop that spins would run activity after activity.
    before = await _events(rollout)
    await asyncio.sleep(2)
    still = await _events(rollout) - before
    assert still <= 6, f"{still} activities/timers in 2 s with the clock stopped: the loop spins"
    before = await _events(rollout)
    await skip_time(env, 3600)
    lingering = await _events(rollout) - before
    # One 30 s chunk at a time, as the real wait activity: observe, wait, timer.
    assert lingering <= 120 * 3 + 10, lingering
    cluster.linger.clear()
    await rollout.observe()
    await rollout.settles("healthy", phase="Healthy")


def _events_after(rollout: Rollout, start: int) -> Any:
    async def probe() -> int:
        return await _events(rollout) - start

    return probe
