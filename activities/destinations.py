"""The destination activity: which cluster an app deploys to, and that cluster's task queue.

Every activity that talks to a destination cluster (compare, apply, wait_healthy, prune,
read_live) runs on that cluster's own task queue, ``<worker queue>/cluster:<name>``. Each
queue is polled by its own activity worker with its own threads, so a cluster that hangs
or is down ties up only its own workers: apps on the other clusters keep their pace. It
is also the seam for sharding later — a worker may poll only some clusters' queues.

The workflow asks here first (on the main queue): an unknown cluster is a clear condition
on the app rather than an activity waiting forever on a queue nobody polls.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Destination
from activities.kube import ClusterRegistry, KubeError


def cluster_task_queue(base: str, cluster: str) -> str:
    """The task queue of ``cluster``'s activities, for workers polling ``base``."""
    return f"{base}/cluster:{cluster}"


class ResolveDestinationInput(BaseModel):
    destination: Destination


class ResolveDestinationResult(BaseModel):
    name: str
    """The cluster's name (``in-cluster`` for the worker's own cluster)."""
    server: str
    task_queue: str
    """Where the cluster's activities run."""


class DestinationActivities:
    def __init__(self, *, clusters: ClusterRegistry, task_queue: str) -> None:
        self._clusters = clusters
        self._task_queue = task_queue

    @activity.defn(name="resolve_destination")
    def resolve_destination(self, input: ResolveDestinationInput) -> ResolveDestinationResult:
        try:
            cluster = self._clusters.resolve(input.destination)
        except KubeError as exc:
            raise ApplicationError(str(exc), type="UnknownCluster", non_retryable=not exc.retryable) from None
        return ResolveDestinationResult(
            name=cluster.name, server=cluster.server, task_queue=cluster_task_queue(self._task_queue, cluster.name)
        )
