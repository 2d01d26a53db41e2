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
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.cluster import ClusterActivities
from activities.clusters import ClusterSecretStore
from activities.credentials import SecretCredentialStore
from activities.declarative import DeclarativeActivities
from activities.destinations import DestinationActivities
from activities.gitrepo import GitCache
from activities.kube import ClusterRegistry
from activities.projects import ProjectActivities, ProjectReader
from activities.source import SourceActivities
from activities.store import ContentStore
from activities.trigger import TriggerActivities
from worker.cluster_workers import ClusterWorkers
from worker.config import WorkerConfig
from workflows.application import ApplicationWorkflow
from workflows.batch import BatchSyncWorkflow
from workflows.declarative import DeclarativeAppsInput, DeclarativeAppsWorkflow, declarative_workflow_id
from workflows.sync import SyncWorkflow

WORKFLOWS = [ApplicationWorkflow, SyncWorkflow, BatchSyncWorkflow, DeclarativeAppsWorkflow]


@dataclass
class Activities:
    """What the worker hosts: activities of its own task queue, and those every cluster's queue gets."""

    main: list[Callable[..., Any]]
    per_cluster: list[Callable[..., Any]]
    clusters: ClusterRegistry


def build_activities(config: WorkerConfig, client: Client) -> Activities:
    store = ContentStore(config.home / "store")
    git = GitCache(config.home / "cache" / "git", credentials=credential_store(config))
    clusters = ClusterRegistry(config.kubeconfigs, secrets=cluster_secrets(config))
    source = SourceActivities(git=git, store=store, workdir=config.home / "cache" / "work",
                              cluster_info=lambda destination: clusters.client(destination).server_info())
    reader = ProjectReader(clusters=clusters, namespace=config.control_namespace)
    cluster = ClusterActivities(clusters=clusters, store=store, projects=reader)
    projects = ProjectActivities(reader=reader)
    destinations = DestinationActivities(clusters=clusters, task_queue=config.task_queue)
    trigger = TriggerActivities(client=client, task_queue=config.task_queue)
    declarative = DeclarativeActivities(client=client, clusters=clusters, namespace=config.control_namespace,
                                        task_queue=config.task_queue, refresh_seconds=config.refresh_seconds)
    return Activities(
        main=[source.resolve_revision, source.render, destinations.resolve_destination, projects.get_project,
              trigger.sync_app, trigger.ensure_app_schedule, trigger.remove_app_schedule,
              declarative.reconcile_declared_apps],
        per_cluster=[cluster.compare, cluster.apply, cluster.wait_healthy, cluster.prune, cluster.read_live],
        clusters=clusters)


def cluster_secrets(config: WorkerConfig) -> ClusterSecretStore | None:
    """Argo CD's cluster Secrets in the management cluster (first kubeconfig)."""
    if not config.kubeconfigs:
        return None
    return ClusterSecretStore.from_kubeconfig(config.kubeconfigs[0], namespace=config.control_namespace)


def credential_store(config: WorkerConfig) -> SecretCredentialStore | None:
    """Repository credentials: Argo CD's Secrets in the management cluster (first kubeconfig)."""
    if not config.kubeconfigs:
        return None
    return SecretCredentialStore.from_kubeconfig(config.kubeconfigs[0],
                                                 namespace=config.control_namespace)


async def connect(config: WorkerConfig) -> Client:
    return await Client.connect(config.temporal_address, namespace=config.namespace,
                                data_converter=pydantic_data_converter)


async def start_declarative_apps(client: Client, config: WorkerConfig) -> None:
    """Start the workflow that follows the Application resources, unless it runs already."""
    await client.start_workflow(
        DeclarativeAppsWorkflow.run, DeclarativeAppsInput(poll_seconds=config.discovery_seconds),
        id=declarative_workflow_id(config.task_queue), task_queue=config.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Application resources in namespace {config.control_namespace}")


async def run(config: WorkerConfig) -> None:
    client = await connect(config)
    activities = build_activities(config, client)
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as executor:
        worker = Worker(client, task_queue=config.task_queue, workflows=WORKFLOWS, activities=activities.main,
                        activity_executor=executor, max_concurrent_activities=32)
        cluster_workers = ClusterWorkers(client, activities.clusters, activities.per_cluster,
                                         task_queue=config.task_queue)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            await cluster_workers.refresh()  # clusters known now are polled before the worker says it is ready
            if config.kubeconfigs:
                await start_declarative_apps(client, config)
            logging.info("bosun worker polling %s on %s (clusters: %s)", config.task_queue,
                         config.temporal_address, ", ".join(cluster_workers.clusters) or "none")
            await cluster_workers.run(stop)


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(WorkerConfig.from_env()))


if __name__ == "__main__":
    main()
