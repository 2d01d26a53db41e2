"""The Bosun worker: hosts the workflows and activities (``python -m worker``).

This is the composition root: the only place that reads configuration and builds
clients (git cache, content store, Kubernetes clients, Temporal client).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.cluster import ClusterActivities
from activities.gitrepo import GitCache
from activities.kube import ClusterRegistry
from activities.source import SourceActivities
from activities.store import ContentStore
from worker.config import WorkerConfig
from workflows.application import ApplicationWorkflow
from workflows.sync import SyncWorkflow

WORKFLOWS = [ApplicationWorkflow, SyncWorkflow]


def build_activities(config: WorkerConfig) -> list[object]:
    store = ContentStore(config.home / "store")
    source = SourceActivities(git=GitCache(config.home / "cache" / "git"), store=store,
                              workdir=config.home / "cache" / "work")
    cluster = ClusterActivities(clusters=ClusterRegistry(config.kubeconfigs), store=store)
    return [source.resolve_revision, source.render, cluster.compare, cluster.apply,
            cluster.wait_healthy, cluster.prune]


async def connect(config: WorkerConfig) -> Client:
    return await Client.connect(config.temporal_address, namespace=config.namespace,
                                data_converter=pydantic_data_converter)


def build_worker(client: Client, config: WorkerConfig,
                 executor: concurrent.futures.ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=config.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(config),
        activity_executor=executor,
        max_concurrent_activities=32,
    )


async def run(config: WorkerConfig) -> None:
    client = await connect(config)
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as executor:
        worker = build_worker(client, config, executor)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            logging.info("bosun worker polling %s on %s", config.task_queue, config.temporal_address)
            await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(WorkerConfig.from_env()))


if __name__ == "__main__":
    main()
