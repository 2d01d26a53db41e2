"""One activity worker per destination cluster, started and stopped as clusters come and go.

Each cluster's activities (compare, apply, wait_healthy, prune, read_live) run on the
task queue :func:`activities.destinations.cluster_task_queue` names, polled by a worker
with its own thread pool. A cluster that is down or slow ties up only its own threads and
slots, so apps on the other clusters keep syncing on time. Clusters added later (a
``bosun cluster add``, a new cluster Secret) get their worker within ``poll_seconds``;
removed ones lose it.

Compares read live objects from one watch cache per cluster (:mod:`activities.livecache`,
kept by the registry's clients); a change it sees signals the owning app to refresh.

A worker started with ``only`` (``--clusters`` / BOSUN_WORKER_CLUSTERS) polls just those clusters'
queues, so a large fleet is split by destination across workers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.destinations import cluster_task_queue
from activities.kube import ClusterRegistry
from worker.drift_refresh import DriftRefresh

log = logging.getLogger(__name__)

THREADS_PER_CLUSTER = 8


@dataclass
class _Running:
    worker: Worker
    task: asyncio.Task[None]
    executor: concurrent.futures.ThreadPoolExecutor


class ClusterWorkers:
    def __init__(
        self,
        client: Client,
        clusters: ClusterRegistry,
        activities: Sequence[Callable[..., Any]],
        *,
        task_queue: str,
        poll_seconds: float = 5.0,
        only: frozenset[str] | None = None,
        graceful_shutdown: timedelta = timedelta(),
    ) -> None:
        self._client = client
        self._clusters = clusters
        self._activities = list(activities)
        self._task_queue = task_queue
        self._poll_seconds = poll_seconds
        self._running: dict[str, _Running] = {}
        self._only = only
        self._graceful_shutdown = graceful_shutdown
        self._missing: frozenset[str] = frozenset()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep one worker per known cluster until ``stop`` is set; changes the clusters' live
        caches see refresh the apps that own them (:mod:`worker.drift_refresh`)."""
        self._clusters.set_live_listener(DriftRefresh(self._client, asyncio.get_running_loop()).changed)
        try:
            while not stop.is_set():
                await self.refresh()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)
        finally:
            self._clusters.set_live_listener(None)
            await asyncio.gather(*(self._stop(name) for name in list(self._running)))

    async def refresh(self) -> None:
        try:
            names = {c.name for c in await asyncio.to_thread(self._clusters.clusters)}
        except Exception as exc:  # noqa: BLE001 - a bad kubeconfig: keep what runs, say why
            log.warning("cannot list clusters: %s", exc)
            return
        if self._only is not None:
            missing = self._only - names
            if missing != self._missing and missing:
                log.warning("clusters to poll that are not known (yet): %s", ", ".join(sorted(missing)))
            self._missing = missing
            names &= self._only
        for name in sorted(names - set(self._running)):
            self._start(name)
        for name in sorted(set(self._running) - names):
            await self._stop(name)
        for name, running in list(self._running.items()):
            if running.task.done():  # a worker that failed (e.g. lost Temporal for too long): start it again
                log.warning(
                    "worker for cluster %s stopped: %s; restarting",
                    name,
                    running.task.exception() if not running.task.cancelled() else "cancelled",
                )
                running.executor.shutdown(wait=False)
                del self._running[name]
                self._start(name)

    @property
    def clusters(self) -> list[str]:
        return sorted(self._running)

    def _start(self, name: str) -> None:
        queue = cluster_task_queue(self._task_queue, name)
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=THREADS_PER_CLUSTER, thread_name_prefix=f"cluster-{name}"
        )
        worker = Worker(
            self._client,
            task_queue=queue,
            activities=self._activities,
            activity_executor=executor,
            max_concurrent_activities=THREADS_PER_CLUSTER,
            graceful_shutdown_timeout=self._graceful_shutdown,
        )
        self._running[name] = _Running(worker, asyncio.create_task(worker.run()), executor)
        log.info("polling %s for cluster %s", queue, name)

    async def _stop(self, name: str) -> None:
        running = self._running.pop(name)
        if not running.task.done():
            await running.worker.shutdown()
        with contextlib.suppress(Exception):
            await running.task
        running.executor.shutdown(wait=False)
        self._clusters.forget_live_cache(name)
        log.info("stopped the worker of cluster %s", name)
