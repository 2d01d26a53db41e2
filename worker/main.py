"""The Bosun worker: hosts the workflows and activities (``python -m worker``).

This is the composition root: the only place that reads configuration and builds
clients (git cache, content store, Kubernetes clients, Temporal client).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.cluster import ClusterActivities
from activities.credentials import SecretCredentialStore
from activities.gitrepo import GitCache
from activities.kube import ClusterRegistry
from activities.projects import ProjectActivities, ProjectReader
from activities.source import SourceActivities
from activities.store import ContentStore
from activities.trigger import TriggerActivities
from worker.config import WorkerConfig
from workflows.application import ApplicationWorkflow
from workflows.batch import BatchSyncWorkflow
from workflows.sync import SyncWorkflow

WORKFLOWS = [ApplicationWorkflow, SyncWorkflow, BatchSyncWorkflow]


def build_activities(config: WorkerConfig, client: Client) -> list[Callable[..., Any]]:
    store = ContentStore(config.home / "store")
    git = GitCache(config.home / "cache" / "git", credentials=credential_store(config))
    clusters = ClusterRegistry(config.kubeconfigs)
    source = SourceActivities(git=git, store=store, workdir=config.home / "cache" / "work",
                              cluster_info=lambda destination: clusters.client(destination).server_info())
    reader = ProjectReader(clusters=clusters, namespace=config.control_namespace)
    cluster = ClusterActivities(clusters=clusters, store=store, projects=reader)
    projects = ProjectActivities(reader=reader)
    trigger = TriggerActivities(client=client, task_queue=config.task_queue)
    return [source.resolve_revision, source.render, cluster.compare, cluster.apply,
            cluster.wait_healthy, cluster.prune, cluster.read_live, projects.get_project,
            trigger.sync_app, trigger.ensure_app_schedule, trigger.remove_app_schedule]


def credential_store(config: WorkerConfig) -> SecretCredentialStore | None:
    """Repository credentials: Argo CD's Secrets in the management cluster (first kubeconfig)."""
    if not config.kubeconfigs:
        return None
    return SecretCredentialStore.from_kubeconfig(config.kubeconfigs[0],
                                                 namespace=config.control_namespace)


async def connect(config: WorkerConfig) -> Client:
    return await Client.connect(config.temporal_address, namespace=config.namespace,
                                data_converter=pydantic_data_converter)


def build_worker(client: Client, config: WorkerConfig,
                 executor: concurrent.futures.ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=config.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(config, client),
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
            logging.info("bosun worker polling %s on %s", config.task_queue,
                         config.temporal_address)
            await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(WorkerConfig.from_env()))


if __name__ == "__main__":
    main()
