"""RolloutWorkflow's step machine on the time-skipping server, with a fake cluster.

The fake cluster (:class:`FakeRolloutCluster`) serves the rollout activities under their real
names: it holds one Rollout (spec, status) and its ReplicaSets, whose pods become available
the moment they are scaled. Hour-long pauses pass in a second of real time; promote, abort
and retry arrive as the Temporal updates and as the status patches ``kubectl argo rollouts``
makes (the fake's status changed, then the ``observe`` signal).
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contracts import Destination
from activities.rollouts import (
    HASH_LABEL,
    DeleteReplicaSetsInput,
    EnsureReplicaSetInput,
    ReplicaSetObservation,
    RolloutObservation,
    RolloutTarget,
    ScaleReplicaSetsInput,
    ServiceSelectorInput,
    ServiceSelectorResult,
    WaitReplicaSetsInput,
    WaitReplicaSetsResult,
    WriteStatusInput,
    WriteStatusResult,
    replica_set_name,
)
from bosun.health import assess_health
from bosun.protocol import RolloutCommand, RolloutRef, RolloutSignal, RolloutUpdate
from bosun.resources import HealthCode
from bosun.rollouts.hash import pod_template_hash
from bosun.rollouts.view import RolloutDescription
from tests.workflows.conftest import eventually, skip_time
from tests.workflows.fake_analysis import FakeAnalysisRun
from workflows.rollout import RolloutWorkflow, RolloutWorkflowInput

NAME, NAMESPACE = "web", "shop"


def rollout_spec(image: str, *, replicas: int = 5, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": NAME}},
        "template": {
            "metadata": {"labels": {"app": NAME}},
            "spec": {"containers": [{"name": "main", "image": image}]},
        },
        "strategy": {
            "canary": {
                "canaryService": "web-canary",
                "stableService": "web-stable",
                "steps": steps
                if steps is not None
                else [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "1h"}}],
            }
        },
    }


class FakeRolloutCluster:
    """One Rollout and its ReplicaSets; scaled pods are available at once."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.generation = 1
        self.status: dict[str, Any] = {}
        self.replica_sets: dict[str, dict[str, Any]] = {}
        self.services: dict[str, str] = {"web-canary": "", "web-stable": ""}
        self.status_writes = 0

    def update(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.generation += 1

    def counts(self) -> dict[str, int]:
        """pod-template hash → replicas."""
        return {rs["hash"]: rs["replicas"] for rs in self.replica_sets.values()}

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "generation": self.generation},
            "spec": self.spec,
            "status": self.status,
        }

    def _observation(self) -> RolloutObservation:
        return RolloutObservation(
            exists=True,
            uid="uid-1",
            generation=self.generation,
            spec=copy.deepcopy(self.spec),
            status=copy.deepcopy(self.status),
            replica_sets=sorted(
                (
                    ReplicaSetObservation(
                        name=name,
                        pod_template_hash=rs["hash"],
                        revision=rs["revision"],
                        replicas=rs["replicas"],
                        ready=rs["replicas"],
                        available=rs["replicas"],
                    )
                    for name, rs in self.replica_sets.items()
                ),
                key=lambda rs: rs.revision,
            ),
        )

    def activities(self) -> list[Any]:
        @activity.defn(name="observe_rollout")
        async def observe_rollout(input: RolloutTarget) -> RolloutObservation:
            return self._observation()

        @activity.defn(name="ensure_replica_set")
        async def ensure_replica_set(input: EnsureReplicaSetInput) -> ReplicaSetObservation:
            name = replica_set_name(input.target.name, input.pod_template_hash)
            rs = self.replica_sets.setdefault(name, {"hash": input.pod_template_hash, "replicas": input.replicas})
            rs["revision"] = input.revision
            rs["replicas"] = input.replicas
            rs["labels"] = {**input.template["metadata"]["labels"], HASH_LABEL: input.pod_template_hash}
            return ReplicaSetObservation(
                name=name, pod_template_hash=input.pod_template_hash, revision=input.revision, replicas=input.replicas
            )

        @activity.defn(name="scale_replica_sets")
        async def scale_replica_sets(input: ScaleReplicaSetsInput) -> list[ReplicaSetObservation]:
            for name, replicas in input.replicas.items():
                self.replica_sets[name]["replicas"] = replicas
            return []

        @activity.defn(name="delete_replica_sets")
        async def delete_replica_sets(input: DeleteReplicaSetsInput) -> list[str]:
            for name in input.names:
                self.replica_sets.pop(name, None)
            return input.names

        @activity.defn(name="set_service_selector")
        async def set_service_selector(input: ServiceSelectorInput) -> ServiceSelectorResult:
            self.services[input.service] = input.pod_template_hash
            return ServiceSelectorResult(found=True)

        @activity.defn(name="write_rollout_status")
        async def write_rollout_status(input: WriteStatusInput) -> WriteStatusResult:
            for k, v in input.status.items():  # a merge patch: null removes a field
                if v is None:
                    self.status.pop(k, None)
                else:
                    self.status[k] = copy.deepcopy(v)
            self.status_writes += 1
            return WriteStatusResult(found=True)

        @activity.defn(name="wait_replica_sets")
        async def wait_replica_sets(input: WaitReplicaSetsInput) -> WaitReplicaSetsResult:
            return WaitReplicaSetsResult(reached=True, observation=self._observation())

        return [
            observe_rollout,
            ensure_replica_set,
            scale_replica_sets,
            delete_replica_sets,
            set_service_selector,
            write_rollout_status,
            wait_replica_sets,
        ]


class Rollout:
    def __init__(self, handle: WorkflowHandle[Any, Any], cluster: FakeRolloutCluster) -> None:
        self.handle = handle
        self.cluster = cluster

    async def describe(self) -> RolloutDescription:
        return await self.handle.query(RolloutWorkflow.describe)

    async def settles(self, what: str, **expected: Any) -> RolloutDescription:
        """The description once its status has ``expected`` (phase, currentStepIndex …) and the
        fake cluster's counts match ``counts`` (old hash → n, new hash → n) if given."""
        counts = expected.pop("counts", None)

        async def probe() -> tuple[RolloutDescription, dict[str, int]]:
            return await self.describe(), self.cluster.counts()

        def check(value: tuple[RolloutDescription, dict[str, int]]) -> bool:
            description, live = value
            return all(description.status.get(k) == v for k, v in expected.items()) and (
                counts is None or live == counts
            )

        description, _ = await eventually(probe, check, what=what)
        return description

    async def observe(self) -> None:
        await self.handle.signal(RolloutSignal.OBSERVE)


async def run_rollout(env: WorkflowEnvironment, cluster: FakeRolloutCluster) -> AsyncIterator[Rollout]:
    """A RolloutWorkflow on the time-skipping server against ``cluster``; terminated at the end
    (the harness the blue-green and traffic tests use too)."""
    task_queue = f"rollout-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=task_queue, workflows=[RolloutWorkflow, FakeAnalysisRun], activities=cluster.activities()
    ):
        handle = await env.client.start_workflow(
            RolloutWorkflow.run,
            RolloutWorkflowInput(
                ref=RolloutRef(cluster="in-cluster", namespace=NAMESPACE, name=NAME, app="shop"),
                destination=Destination(name="in-cluster", namespace=NAMESPACE),
            ),
            id=f"rollout:in-cluster:{NAMESPACE}/{NAME}-{uuid.uuid4().hex[:6]}",
            task_queue=task_queue,
        )
        try:
            yield Rollout(handle, cluster)
        finally:
            await at_rest(handle)
            await handle.terminate("test over")
            await skip_time(env, 3600)  # the next test starts with time skipping as it should


@pytest.fixture
async def rollout(env: WorkflowEnvironment) -> AsyncIterator[Rollout]:
    async for r in run_rollout(env, FakeRolloutCluster(rollout_spec("web:1"))):
        yield r


async def at_rest(handle: WorkflowHandle[Any, Any], timeout: float = 5.0) -> None:
    """Wait (briefly) until the workflow runs no activity: terminating one in the middle of an
    activity leaks a time-skipping lock in the test server (see ``Driver._wait_until_at_rest``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while loop.time() < deadline and quiet < 3:
        description = await handle.describe()
        quiet = quiet + 1 if not description.raw_description.pending_activities else 0
        await asyncio.sleep(0.1)


def template_hash(image: str) -> str:
    return pod_template_hash(rollout_spec(image)["template"])


V1, V2, V3 = template_hash("web:1"), template_hash("web:2"), template_hash("web:3")


def health(cluster: FakeRolloutCluster) -> HealthCode | None:
    """Argo CD's Rollout health of what the workflow wrote (what the app's health follows)."""
    status = assess_health(cluster.manifest())
    return status.status if status else None


async def test_first_revision_is_deployed_at_once_and_healthy(rollout: Rollout) -> None:
    described = await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    assert described.stable_hash == V1 and described.current_hash == V1
    assert rollout.cluster.status["stableRS"] == V1 and rollout.cluster.status["currentStepIndex"] == 4
    assert rollout.cluster.services == {"web-canary": V1, "web-stable": V1}
    assert health(rollout.cluster) == HealthCode.HEALTHY


async def test_canary_steps_promote_and_an_hour_long_pause(env: WorkflowEnvironment, rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    rollout.cluster.update(rollout_spec("web:2"))
    await rollout.observe()
    paused = await rollout.settles("paused at 20%", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
    assert paused.status["pauseConditions"][0]["reason"] == "CanaryPauseStep" and paused.status["controllerPause"]
    assert [s.state for s in paused.steps] == ["done", "current", "pending", "pending"]
    assert rollout.cluster.services == {"web-canary": V2, "web-stable": V1}
    assert health(rollout.cluster) == HealthCode.SUSPENDED

    result = await rollout.handle.execute_update(RolloutUpdate.PROMOTE, RolloutCommand(who="alice"), result_type=None)
    assert result["accepted"] and result["current_step_index"] is not None
    await rollout.settles("paused at 60% for an hour", phase="Paused", currentStepIndex=3, counts={V1: 2, V2: 3})

    await skip_time(env, 3600 + 5)
    done = await rollout.settles("promoted", phase="Healthy", currentStepIndex=4, counts={V1: 0, V2: 5})
    assert done.stable_hash == V2 and rollout.cluster.services == {"web-canary": V2, "web-stable": V2}
    assert health(rollout.cluster) == HealthCode.HEALTHY
    history = await rollout.handle.fetch_history()
    timer_summaries = [
        pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.user_metadata.HasField("summary")
    ]
    assert "step 4/4: pause: 1h" in timer_summaries or any("step 4/4" in s for s in timer_summaries)
    signals = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert signals, "the promotion (who: alice) is in history"


async def test_abort_by_status_patch_restores_stable_and_retry_resumes(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    rollout.cluster.update(rollout_spec("web:2"))
    await rollout.observe()
    await rollout.settles("paused", phase="Paused", counts={V1: 4, V2: 1})

    rollout.cluster.status["abort"] = True  # kubectl argo rollouts abort
    await rollout.observe()
    aborted = await rollout.settles("aborted", phase="Degraded", abort=True, counts={V1: 5, V2: 0})
    assert aborted.message.startswith("RolloutAborted")
    assert health(rollout.cluster) == HealthCode.DEGRADED
    assert rollout.cluster.services == {"web-canary": V2, "web-stable": V1}

    rollout.cluster.status["abort"] = False  # kubectl argo rollouts retry
    await rollout.observe()
    await rollout.settles("retried and paused again", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})
    assert "abort" not in rollout.cluster.status

    rollout.cluster.status["pauseConditions"] = None  # kubectl argo rollouts promote
    await rollout.observe()
    await rollout.settles("at 60%", currentStepIndex=3, counts={V1: 2, V2: 3})


async def test_full_promotion_and_updates_answer_when_in_effect(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    rollout.cluster.update(rollout_spec("web:2"))
    await rollout.observe()
    await rollout.settles("paused", phase="Paused", counts={V1: 4, V2: 1})

    result = await rollout.handle.execute_update(
        RolloutUpdate.PROMOTE, RolloutCommand(full=True, who="bob"), result_type=None
    )
    assert result["accepted"]
    await rollout.settles("fully promoted", phase="Healthy", counts={V1: 0, V2: 5})
    refused = await rollout.handle.execute_update(RolloutUpdate.ABORT, RolloutCommand(who="bob"), result_type=None)
    assert not refused["accepted"] and "nothing to abort" in refused["message"]


async def test_abort_update_then_new_revision_starts_over(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    rollout.cluster.update(rollout_spec("web:2"))
    await rollout.observe()
    await rollout.settles("paused", phase="Paused", counts={V1: 4, V2: 1})
    result = await rollout.handle.execute_update(RolloutUpdate.ABORT, RolloutCommand(who="carol"), result_type=None)
    assert result["accepted"] and result["phase"] == "Degraded"
    rollout.cluster.update(rollout_spec("web:3"))
    await rollout.observe()
    await rollout.settles("v3 paused", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 0, V3: 1})


async def test_pause_and_resume_updates(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    result = await rollout.handle.execute_update(RolloutUpdate.PAUSE, RolloutCommand(who="dan"), result_type=None)
    assert result["accepted"] and result["phase"] == "Paused"
    rollout.cluster.update(rollout_spec("web:2"))
    await rollout.observe()
    paused = await rollout.settles(
        "held by the user at step 1", phase="Paused", currentStepIndex=0, counts={V1: 4, V2: 1}
    )
    assert paused.message == "manually paused" and paused.status.get("pauseConditions") is None
    result = await rollout.handle.execute_update(RolloutUpdate.RESUME, RolloutCommand(who="dan"), result_type=None)
    assert result["accepted"]
    await rollout.settles("at the pause step", phase="Paused", currentStepIndex=1, counts={V1: 4, V2: 1})


async def test_invalid_spec_is_degraded_and_scales_nothing(rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    spec = rollout_spec("web:2", steps=[{"setWeight": 20}, {"experiment": {}}])
    rollout.cluster.update(spec)
    await rollout.observe()
    described = await rollout.settles("InvalidSpec", phase="Degraded", counts={V1: 5})
    condition = next(c for c in described.status["conditions"] if c["type"] == "InvalidSpec")
    assert "steps[1]" in condition["message"]
    assert health(rollout.cluster) == HealthCode.DEGRADED
    unsupported = rollout_spec("web:2")
    unsupported["strategy"]["canary"]["analysis"] = {
        "templates": [{"templateName": "pass"}],
        "dryRun": [{"metricName": "x"}],
    }
    rollout.cluster.update(unsupported)
    await rollout.observe()
    described = await eventually(rollout.describe, lambda d: "canary.analysis" in d.message, what="refused")
    assert described.phase == "Degraded" and rollout.cluster.counts() == {V1: 5}


async def test_analysis_steps_pass_then_fail_and_abort(env: WorkflowEnvironment, rollout: Rollout) -> None:
    await rollout.settles("first revision", phase="Healthy", counts={V1: 5})
    steps = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "pass"}]}},
        {"setWeight": 60},
        {"analysis": {"templates": [{"templateName": "fail"}]}},
    ]
    rollout.cluster.update(rollout_spec("web:2", steps=steps))
    await rollout.observe()
    await rollout.settles("at the first analysis", currentStepIndex=1, counts={V1: 4, V2: 1})
    running = await eventually(
        rollout.describe,
        lambda d: (d.status["canary"].get("currentStepAnalysisRunStatus") or {}).get("status") == "Running",
        what="the step's AnalysisRun in the status",
    )
    assert running.analysis_runs and running.analysis_runs[0].phase == "Running"

    await skip_time(env, 601)
    await rollout.settles("second analysis running", currentStepIndex=3, counts={V1: 2, V2: 3})
    await skip_time(env, 601)
    aborted = await rollout.settles("aborted by the failed analysis", phase="Degraded", counts={V1: 5, V2: 0})
    assert "AnalysisRun" in aborted.message and "failed" in aborted.message
    assert aborted.analysis_runs[0].phase == "Failed"
