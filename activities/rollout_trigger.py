"""Start (or poke) the RolloutWorkflow of each Rollout a sync applied.

A workflow cannot signal-with-start another workflow, so the SyncWorkflow calls
:meth:`RolloutTriggerActivities.start_rollout_workflows` (on the worker's main task queue)
after a wave that applied ``argoproj.io`` ``Rollout`` objects. For each Rollout it resolves
the destination cluster (its name, its activity task queue) and signal-with-starts the
RolloutWorkflow ``rollout:<cluster>:<namespace>/<name>`` with ``observe``: a running one
just re-reads the Rollout; otherwise one starts. Idempotent, so a retried attempt is harmless.

Like :mod:`activities.trigger` it speaks to the workflow by its public protocol
(:mod:`bosun.protocol`) and this module's :class:`RolloutStart`, which the workflow's input
extends, so ``activities`` does not import ``workflows``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.destinations import cluster_task_queue
from activities.kube import ClusterRegistry, KubeError
from bosun.protocol import RolloutRef, RolloutSignal, WorkflowType

ROLLOUT_GROUP = "argoproj.io"
ROLLOUT_KIND = "Rollout"
TASK_TIMEOUT = timedelta(seconds=10)
"""The RolloutWorkflow's workflow task timeout: Temporal's default. A shorter one (4 s was
tried) made a loaded worker's first task after a restart — a replay of the whole history,
3–4 s at load 12 — time out and start over. A task taken by a worker that then dies is
lost until this timeout; a task waiting for a dead sticky worker is not (``STICKY_TIMEOUT``
in ``worker/main.py``), so a pause still ends on time after a crash between tasks."""


class RolloutStart(BaseModel):
    """What starts a RolloutWorkflow (its input adds the state carried over continue-as-new)."""

    ref: RolloutRef
    destination: Destination
    """The destination cluster, by name."""
    task_queue: str = ""
    """The cluster's activity task queue."""


class RolloutName(BaseModel):
    namespace: str
    name: str


class StartRolloutsInput(BaseModel):
    app: str
    destination: Destination
    """The app's destination (server URL or name)."""
    rollouts: list[RolloutName] = Field(default_factory=list)


class RolloutTriggerActivities:
    def __init__(self, *, client: Client, clusters: ClusterRegistry, task_queue: str) -> None:
        self._client = client
        self._clusters = clusters
        self._task_queue = task_queue

    @activity.defn(name="start_rollout_workflows")
    async def start_rollout_workflows(self, input: StartRolloutsInput) -> list[str]:
        """Signal-with-start ``observe`` on each Rollout's workflow; the workflow ids."""
        try:
            cluster = self._clusters.resolve(input.destination)
        except KubeError as exc:
            raise ApplicationError(str(exc), type="UnknownCluster", non_retryable=not exc.retryable) from None
        ids = []
        for rollout in input.rollouts:
            ref = RolloutRef(cluster=cluster.name, namespace=rollout.namespace, name=rollout.name, app=input.app)
            start = RolloutStart(
                ref=ref,
                destination=Destination(name=cluster.name, namespace=rollout.namespace),
                task_queue=cluster_task_queue(self._task_queue, cluster.name),
            )
            await self._client.start_workflow(
                WorkflowType.ROLLOUT,
                start,
                id=ref.workflow_id(),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal=RolloutSignal.OBSERVE,
                task_timeout=TASK_TIMEOUT,
                static_summary=f"Rollout {rollout.namespace}/{rollout.name} on {cluster.name} (app {input.app})",
            )
            ids.append(ref.workflow_id())
        return ids
