"""The watch on Rollouts: a change made from outside Bosun signals ``observe`` to the Rollout's RolloutWorkflow.

Users drive Argo Rollouts by patching the Rollout: ``kubectl argo rollouts promote`` sends
``{"status":{"pauseConditions":null}}`` (and ``spec.paused: false``, or a
``currentStepIndex`` while analysis runs), ``promote --full`` ``status.promoteFull: true``,
``abort`` / ``retry`` ``status.abort: true|false``, ``pause`` ``spec.paused: true``,
``restart`` ``spec.restartAt``; Argo CD's Rollout actions send the same patches (after
Argo Rollouts' ``pkg/kubectl-argo-rollouts/cmd/promote/promote.go``, ``abort``, ``retry``).
Argo Rollouts' controller sees them through its informer; Bosun's RolloutWorkflow sees
them when this watch sends it the ``observe`` signal (:data:`RolloutSignal.OBSERVE`), on
which it re-reads the Rollout and decides.

What counts as a change is :func:`control_digest`: the spec, the status fields those
patches write, and deletion — not the replica counts, conditions, phase or message, which
the workflow writes itself. The workflow also writes ``pauseConditions``,
``currentStepIndex`` and ``abort``; those writes come back as one ``observe`` each, and
the workflow tells them from a person's patch by comparing the Rollout with the status it
wrote last (the rule is the workflow's: it reacts to a difference, never to the signal).

One thread per destination cluster the worker knows watches ``rollouts.argoproj.io`` in
all namespaces (:class:`worker.app_watch.ResourceWatch`: resume from the last
resourceVersion, relist on 410, back off on errors, quiet while a cluster has no Rollout
CRD); :class:`RolloutWatches` starts and stops them as clusters come and go, as
:class:`worker.cluster_workers.ClusterWorkers` does for activity workers. The first list
after a (re)start signals every Rollout, so a patch made while no worker ran is seen.
Signals are debounced per Rollout (:data:`worker.app_watch.DEBOUNCE_SECONDS`); a Rollout no RolloutWorkflow
drives (not deployed by a Bosun app) gets none: the NotFound answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.kube import ClusterRegistry
from bosun.protocol import RolloutRef, RolloutSignal
from bosun.resources import Manifest
from worker.app_watch import ResourceWatch, next_burst

log = logging.getLogger(__name__)

ROLLOUT_KIND = "Rollout"
CONTROL_STATUS_FIELDS = ("promoteFull", "abort", "currentStepIndex")
"""Status fields users patch (besides ``pauseConditions``, compared by reason)."""


def control_digest(rollout: Manifest) -> str:
    """What, when it changes, the RolloutWorkflow must re-read: the spec, the pause
    conditions' reasons, ``promoteFull``, ``abort``, ``currentStepIndex``, deletion."""
    status = rollout.get("status") or {}
    meta = rollout.get("metadata") or {}
    document = {
        "spec": rollout.get("spec"),
        "pauseConditions": sorted(
            str(condition.get("reason") or "")
            for condition in status.get("pauseConditions") or []
            if isinstance(condition, dict)
        ),
        **{field: status.get(field) for field in CONTROL_STATUS_FIELDS},
        "deleting": bool(meta.get("deletionTimestamp")),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ObserveSignals:
    """Sends ``observe`` to the RolloutWorkflow of each Rollout :meth:`request` names, once
    per DEBOUNCE_SECONDS for a burst of changes; :meth:`request` is thread-safe."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self._pending: dict[str, RolloutRef] = {}
        self._wanted = asyncio.Event()
        self.sent: list[str] = []
        """Workflow ids signalled so far (newest last, the last 100): for logs and tests."""

    def request(self, ref: RolloutRef) -> None:
        self._loop.call_soon_threadsafe(self._add, ref)

    def _add(self, ref: RolloutRef) -> None:
        self._pending[ref.workflow_id()] = ref
        self._wanted.set()

    async def run(self, stop: asyncio.Event) -> None:
        while await next_burst(self._wanted, stop):
            pending, self._pending = self._pending, {}
            await asyncio.gather(*(self._signal(workflow_id) for workflow_id in sorted(pending)))

    async def _signal(self, workflow_id: str) -> None:
        try:
            await self._client.get_workflow_handle(workflow_id).signal(RolloutSignal.OBSERVE)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # not a Rollout Bosun drives, or its workflow ended
                log.debug("no RolloutWorkflow %s to observe a change", workflow_id)
                return
            log.warning("could not signal %s to observe: %s", workflow_id, exc)
            return
        log.debug("signalled %s to observe", workflow_id)
        self.sent = [*self.sent[-99:], workflow_id]


class RolloutWatches:
    """One Rollout watch per destination cluster the registry knows, kept up to date every
    ``poll_seconds``; each change goes to ``signals``."""

    def __init__(self, clusters: ClusterRegistry, signals: ObserveSignals, *, poll_seconds: float = 5.0) -> None:
        self._clusters = clusters
        self._signals = signals
        self._poll_seconds = poll_seconds
        self._watches: dict[str, ResourceWatch] = {}

    @property
    def clusters(self) -> list[str]:
        return sorted(self._watches)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.refresh()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)
        finally:
            for name in list(self._watches):
                self._watches.pop(name).stop()

    async def refresh(self) -> None:
        try:
            names = {c.name for c in await asyncio.to_thread(self._clusters.clusters)}
        except Exception as exc:  # noqa: BLE001 - a bad kubeconfig: keep what runs, say why
            log.warning("cannot list clusters for the Rollout watch: %s", exc)
            return
        for name in sorted(names - set(self._watches)):
            self._watches[name] = self._watch(name)
            self._watches[name].start()
        for name in sorted(set(self._watches) - names):
            self._watches.pop(name).stop()

    def _watch(self, cluster: str) -> ResourceWatch:
        def changed(namespace: str, name: str) -> None:
            self._signals.request(RolloutRef(cluster=cluster, namespace=namespace, name=name))

        return ResourceWatch(
            clusters=self._clusters,
            kind=ROLLOUT_KIND,
            watched=_every_namespace,
            on_object=changed,
            cluster=cluster,
            digest=control_digest,
        )


def watch_rollouts(client: Client, clusters: ClusterRegistry, stop: asyncio.Event) -> asyncio.Task[None]:
    """Start the Rollout watches and the task that sends their signals; both end with ``stop``."""
    signals = ObserveSignals(client, asyncio.get_running_loop())
    watches = RolloutWatches(clusters, signals)

    async def run() -> None:
        await asyncio.gather(signals.run(stop), watches.run(stop))

    return asyncio.create_task(run(), name="rollout-watch")


def _every_namespace(namespace: str) -> bool:
    return True
