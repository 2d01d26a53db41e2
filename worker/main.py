"""The Bosun worker: hosts the workflows and activities (``python -m worker``).

This is the composition root: the only place that reads configuration and builds
clients (git cache, content store, Kubernetes clients, Temporal client).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from activities.actions import ActionActivities
from activities.analysis import AnalysisActivities
from activities.app_metrics import AppMetricActivities
from activities.appsets import AppSetActivities
from activities.cluster import ClusterActivities
from activities.clusters import ClusterSecretStore
from activities.content import ContentActivities
from activities.credentials import SecretCredentialStore
from activities.declarative import DeclarativeActivities
from activities.dependencies import DependencyActivities
from activities.destinations import DestinationActivities
from activities.gitrepo import GitCache
from activities.gotemplate import render_go
from activities.kube import ClusterRegistry
from activities.orphans import OrphanActivities
from activities.pipeline import PipelineActivities
from activities.projects import ProjectActivities, ProjectReader
from activities.revisions import RevisionCache, markers_dir
from activities.rollout_trigger import RolloutTriggerActivities
from activities.rollouts import RolloutActivities
from activities.settings import SettingsReader
from activities.source import SourceActivities
from activities.store import ContentStore
from activities.temporal_connection import TemporalConnection
from activities.trigger import TriggerActivities
from activities.unchanged import UnchangedCheck
from bosun import metrics
from bosun.paths import store_dir
from bosun.protocol import DeclarativeSignal, declarative_workflow_id
from worker import health_server, metrics_processes
from worker.app_watch import Poker, ResourceWatch
from worker.appset_watch import watch_appsets
from worker.cluster_workers import ClusterWorkers
from worker.config import WorkerConfig
from worker.health_server import Readiness
from worker.launch import PROCESS_ENV, process_count
from worker.metrics import MetricsEndpoint, sdk_runtime
from worker.rollout_watch import watch_rollouts
from worker.shutdown import stop_on_signals
from worker.webhooks import webhook_route
from workflows.analysis import AnalysisRunWorkflow
from workflows.application import ApplicationWorkflow
from workflows.appset import ApplicationSetWorkflow
from workflows.batch import BatchSyncWorkflow
from workflows.declarative import (
    DeclarativeAppsConfig,
    DeclarativeAppsInput,
    DeclarativeAppsWorkflow,
)
from workflows.pipeline import PipelineWorkflow
from workflows.rollout import RolloutWorkflow
from workflows.sync import SyncWorkflow

STICKY_TIMEOUT = timedelta(seconds=3)

WORKFLOWS = [
    ApplicationWorkflow,
    SyncWorkflow,
    BatchSyncWorkflow,
    DeclarativeAppsWorkflow,
    RolloutWorkflow,
    AnalysisRunWorkflow,
    PipelineWorkflow,
    ApplicationSetWorkflow,
]


@dataclass
class Activities:
    """What the worker hosts: activities of its own task queue, and those every cluster's queue gets."""

    main: list[Callable[..., Any]]
    per_cluster: list[Callable[..., Any]]
    clusters: ClusterRegistry


def build_activities(config: WorkerConfig, client: Client) -> Activities:
    store = ContentStore(
        store_dir(config.home), max_bytes=config.store_max_bytes, grace_seconds=config.store_grace_seconds
    )
    git = GitCache(
        config.home / "cache" / "git",
        credentials=credential_store(config),
        max_bytes=config.git_cache_max_bytes,
        allow_local=config.allow_local_repos,
    )
    clusters = ClusterRegistry(config.management(), secrets=cluster_secrets(config), live_caches=True)
    source = SourceActivities(
        git=git,
        store=store,
        workdir=config.home / "cache" / "work",
        cluster_info=lambda destination: clusters.client(destination).server_info(),
        revisions=RevisionCache(max_age_seconds=config.revision_cache_seconds, markers=markers_dir(config.home)),
        render_concurrency=config.render_concurrency or process_count("auto"),
    )
    reader = ProjectReader(clusters=clusters, namespace=config.control_namespace)
    settings = settings_reader(config)
    cluster = ClusterActivities(
        clusters=clusters, store=store, projects=reader, settings=settings, rerender=source.render_again
    )
    content = ContentActivities(store=store, cluster=cluster)
    projects = ProjectActivities(reader=reader)
    unchanged = UnchangedCheck(source=source, cluster=cluster, projects=projects)
    app_metrics = AppMetricActivities()
    destinations = DestinationActivities(clusters=clusters, task_queue=config.task_queue)
    trigger = TriggerActivities(client=client, task_queue=config.task_queue)
    declarative = DeclarativeActivities(
        client=client,
        clusters=clusters,
        namespace=config.control_namespace,
        task_queue=config.task_queue,
        refresh_seconds=config.refresh_seconds,
        namespaces=config.app_namespaces,
        projects=reader,
    )
    orphans = OrphanActivities(clusters=clusters, settings=cluster.current_settings)
    actions = ActionActivities(clusters=clusters, projects=reader, settings=settings)
    rollouts = RolloutActivities(clusters=clusters)
    rollout_trigger = RolloutTriggerActivities(client=client, clusters=clusters, task_queue=config.task_queue)
    analysis = AnalysisActivities(clusters=clusters)
    pipeline = PipelineActivities(
        client=client, clusters=clusters, namespace=config.control_namespace, task_queue=config.task_queue
    )
    appsets = AppSetActivities(
        client=client, clusters=clusters, git=git, go_render=render_go, namespaces=config.app_namespaces
    )
    return Activities(
        main=[
            source.resolve_revision,
            source.render,
            destinations.resolve_destination,
            unchanged.check_unchanged,
            app_metrics.count_sync,
            projects.get_project,
            trigger.sync_app,
            trigger.ensure_app_schedule,
            trigger.remove_app_schedule,
            declarative.reconcile_declared_apps,
            declarative.write_app_status,
            rollout_trigger.start_rollout_workflows,
            pipeline.select_pipeline_apps,
            pipeline.promote_app,
            pipeline.pipeline_app_states,
            DependencyActivities(client=client, resolve=source.resolve_revision).check_dependencies,
            appsets.reconcile_appset,
            appsets.appset_app_progress,
            appsets.sync_appset_apps,
            appsets.write_appset_progress,
        ],
        per_cluster=[
            cluster.compare,
            cluster.apply,
            cluster.wait_healthy,
            cluster.prune,
            cluster.read_live,
            content.show_manifests,
            content.show_diff,
            actions.resource_actions,
            actions.run_resource_action,
            orphans.list_orphaned,
            rollouts.observe_rollout,
            rollouts.ensure_replica_set,
            rollouts.scale_replica_sets,
            rollouts.delete_replica_sets,
            rollouts.set_service_selector,
            rollouts.write_rollout_status,
            rollouts.wait_replica_sets,
            rollouts.set_traffic_weight,
            rollouts.set_scale_down_deadlines,
            rollouts.sync_ephemeral_metadata,
            analysis.measure,
            analysis.write_analysis_run,
            analysis.load_analysis_templates,
        ],
        clusters=clusters,
    )


def settings_reader(config: WorkerConfig) -> SettingsReader | None:
    """Argo CD's settings (argocd-cm, bosun-cm) in the management cluster."""
    management = config.management()
    if management is None:
        return None
    return SettingsReader.from_kubeconfig(management, namespace=config.control_namespace)


def cluster_secrets(config: WorkerConfig) -> ClusterSecretStore | None:
    """Argo CD's cluster Secrets in the management cluster."""
    management = config.management()
    if management is None:
        return None
    return ClusterSecretStore.from_kubeconfig(management, namespace=config.control_namespace)


def credential_store(config: WorkerConfig) -> SecretCredentialStore | None:
    """Repository credentials: Argo CD's Secrets in the management cluster."""
    management = config.management()
    if management is None:
        return None
    return SecretCredentialStore.from_kubeconfig(management, namespace=config.control_namespace)


def temporal_connection(config: WorkerConfig) -> TemporalConnection:
    return config.temporal or TemporalConnection(config.temporal_address, config.namespace)


async def connect(config: WorkerConfig) -> Client:
    """The Temporal client; a TemporalConnectionError (one line, no secrets) when it cannot connect."""
    process = os.environ.get(PROCESS_ENV, "")
    runtime = sdk_runtime(config.sdk_metrics_port, int(process) if process.isdigit() else 0)
    return await temporal_connection(config).client(runtime)


async def start_declarative_apps(client: Client, config: WorkerConfig) -> None:
    """Start the workflow that follows the Application resources, unless it runs already;
    either way it gets this worker's periods (``configure``)."""
    periods = DeclarativeAppsConfig(poll_seconds=config.discovery_seconds, status_seconds=config.status_seconds)
    await client.start_workflow(
        DeclarativeAppsWorkflow.run,
        DeclarativeAppsInput(poll_seconds=config.discovery_seconds, status_seconds=config.status_seconds),
        id=declarative_workflow_id(config.task_queue),
        task_queue=config.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=DeclarativeSignal.CONFIGURE,
        start_signal_args=[periods],
        static_summary=f"Application resources in namespaces {config.app_namespaces.describe()}",
    )


def watch_applications(
    client: Client, config: WorkerConfig, clusters: ClusterRegistry, stop: asyncio.Event
) -> asyncio.Task[None]:
    """The watches that poke DeclarativeAppsWorkflow on every Application or AppProject change (threads),
    and the task that sends the pokes; both end with ``stop``."""
    poker = Poker(client, declarative_workflow_id(config.task_queue), asyncio.get_running_loop())
    watches = [
        ResourceWatch.applications(clusters=clusters, namespaces=config.app_namespaces, on_change=poker.request),
        ResourceWatch.projects(clusters=clusters, namespaces=config.app_namespaces, on_change=poker.request),
    ]
    for watch in watches:
        watch.start()

    async def run() -> None:
        try:
            await poker.run(stop)
        finally:
            for watch in watches:
                watch.stop()

    return asyncio.create_task(run(), name="application-watch-poker")


async def run(config: WorkerConfig) -> None:
    readiness = Readiness.from_env()
    endpoint = MetricsEndpoint()
    metrics.home_namespace = config.control_namespace
    # Probes are served before connecting: /readyz says 503 until the worker polls.
    async with health_server.serving(config.http_port, lambda: readiness.ready, metrics=endpoint.render):
        await serve(config, readiness, endpoint)


async def serve(config: WorkerConfig, readiness: Readiness, endpoint: MetricsEndpoint) -> None:
    """Poll the main queue (unless ``main_queue`` is off) and the clusters' queues until SIGTERM/SIGINT."""
    client = await connect(config)
    activities = build_activities(config, client)
    endpoint.attach(client, activities.clusters, task_queue=config.task_queue)
    grace = timedelta(seconds=config.shutdown_seconds)
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as executor:
        worker = (
            None
            if not config.main_queue
            else Worker(
                client,
                task_queue=config.task_queue,
                workflows=WORKFLOWS,
                activities=activities.main,
                activity_executor=executor,
                max_concurrent_activities=32,
                # A workflow cached by a worker that died goes to any worker after this long (Temporal's
                # default is 10 s): a rollout's durable pause still ends on time after a crash.
                sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
                graceful_shutdown_timeout=grace,
            )
        )
        cluster_workers = ClusterWorkers(
            client,
            activities.clusters,
            activities.per_cluster,
            task_queue=config.task_queue,
            only=config.clusters,
            graceful_shutdown=grace,
        )
        stop = asyncio.Event()
        stop_on_signals(stop, config.shutdown_seconds)
        async with contextlib.AsyncExitStack() as running:
            if worker is not None:
                await running.enter_async_context(worker)
            await cluster_workers.refresh()  # clusters known now are polled before the worker says it is ready
            await running.enter_async_context(webhook_route(client, config))
            poking: asyncio.Task[None] | None = None
            rollout_watch: asyncio.Task[None] | None = None
            appset_watch: asyncio.Task[None] | None = None
            if config.management() is not None and config.main_queue and config.watches:
                await start_declarative_apps(client, config)
                poking = watch_applications(client, config, activities.clusters, stop)
                rollout_watch = watch_rollouts(client, activities.clusters, stop)
                appset_watch = watch_appsets(
                    client, activities.clusters, config.app_namespaces, config.task_queue, stop
                )
            scrape_time = metrics_processes.scrape_time_file()
            if scrape_time is not None:  # process 0 of --processes N: the supervisor serves /metrics
                running.enter_context(
                    _background(
                        endpoint.write_scrape_time(
                            scrape_time, stop, wanted=functools.partial(metrics_processes.scraped_recently, scrape_time)
                        )
                    )
                )
            readiness.set(True)
            logging.info(
                "bosun worker polling %s on %s (clusters: %s)",
                config.task_queue if config.main_queue else "no main queue",
                temporal_connection(config).describe(),
                ", ".join(cluster_workers.clusters) or "none",
            )

            async def stop_main_worker() -> None:  # with the cluster workers, not after them: one grace period
                await stop.wait()
                readiness.set(False)
                if worker is not None:
                    await worker.shutdown()

            await asyncio.gather(cluster_workers.run(stop), stop_main_worker())
            if poking is not None:
                await poking
            if rollout_watch is not None:
                await rollout_watch
            if appset_watch is not None:
                await appset_watch
        logging.info("bosun worker stopped")


@contextlib.contextmanager
def _background(coroutine: Coroutine[Any, Any, None]) -> Iterator[asyncio.Task[None]]:
    """A task for the life of a block, cancelled at its end."""
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()


def main() -> None:
    from worker.launch import main as launch  # the flags (--processes, --clusters) live there

    launch()


if __name__ == "__main__":
    main()
