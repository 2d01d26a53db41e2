"""``/metrics``: the Prometheus exposition of :mod:`bosun.metrics`, plus what is read at scrape time.

Counters and histograms are kept where things happen (Kubernetes requests in
``activities/kubeaccess.py``, git in ``activities/gitrepo.py``, reconciles in the compare
activity). Two facts are read when Prometheus scrapes, at most every :data:`CACHE_SECONDS`:

- ``argocd_app_info``, one sample per running app workflow, from Temporal visibility (the search
  attributes the app workflow keeps, :mod:`bosun.search_attributes`): one list call per scrape
  interval, whatever the number of workers, instead of each worker counting what it happened to run.
  ``repo`` holds the repository keys of ``BosunRepos`` (``github.com/org/repo``, comma-separated for
  several sources); ``autosync_enabled`` (``true``/``false``) is the app workflow's ``autosync`` memo,
  which comes with the same list (empty for an app whose workflow has not set it yet).
- ``argocd_cluster_connection_status``: whether each known cluster answers ``/version``
  (``KubeClient.server_info``, itself cached).

The Temporal SDK's own metrics (``temporal_*``: task slots, poll latencies) are served by the SDK's
Runtime on a port of their own (``BOSUN_SDK_METRICS_PORT``, :func:`sdk_runtime`).

The endpoint serves before the worker connects to Temporal (like ``/readyz``); the scrape-time
parts join once :meth:`MetricsEndpoint.attach` gives it the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.contracts import Destination
from activities.kube import ClusterRegistry
from bosun import metrics
from bosun import search_attributes as sa

log = logging.getLogger(__name__)

CACHE_SECONDS = 15.0
"""How long a scrape-time fact is reused: Prometheus scrapes every 15-60 s, dashboards refresh more often."""
_KEYS = {name: SearchAttributeKey.for_keyword(name) for name in sa.KEYWORDS}
_REPOS_KEY = SearchAttributeKey.for_keyword_list(sa.REPOS)


def app_info_labels(
    workflow_id: str, attributes: Callable[[str], str], memo: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The ``argocd_app_info`` labels of one app workflow; ``attributes(name)`` reads a search
    attribute, ``memo`` is its memo."""
    autosync = (memo or {}).get(sa.AUTOSYNC_MEMO)
    namespace, name = metrics.app_of_workflow(workflow_id)
    return {
        "namespace": namespace,
        "name": name,
        "project": attributes(sa.PROJECT),
        "repo": attributes(sa.REPOS),
        "dest_server": attributes(sa.CLUSTER),
        "dest_namespace": attributes(sa.NAMESPACE),
        "sync_status": attributes(sa.SYNC_STATUS) or "Unknown",
        "health_status": attributes(sa.HEALTH_STATUS) or "Unknown",
        "operation": attributes(sa.OPERATION),
        "autosync_enabled": "" if not isinstance(autosync, bool) else str(autosync).lower(),
    }


def app_info_family(apps: Iterable[dict[str, str]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(metrics.APP_INFO, "Information about application.", labels=metrics.APP_INFO_LABELS)
    for labels in apps:
        family.add_metric([labels[key] for key in metrics.APP_INFO_LABELS], 1)
    return family


class Cached:
    """A value fetched at most every ``seconds``; a failed fetch keeps serving the last value."""

    def __init__(self, fetch: Callable[[], Any], *, seconds: float = CACHE_SECONDS) -> None:
        self._fetch = fetch
        self._seconds = seconds
        self._at = -float("inf")
        self._lock = asyncio.Lock()
        self.value: Any = None

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._at < self._seconds:
                return
            try:
                self.value = await self._fetch()
            except Exception as exc:  # noqa: BLE001 - a scrape never fails for a fact it cannot read now
                log.warning("metrics: %s", exc)
            self._at = time.monotonic()


class _ScrapeTime:
    """The prometheus_client collector of the scrape-time facts (read from their caches)."""

    def __init__(self, apps: Cached, clusters: Cached) -> None:
        self._apps = apps
        self._clusters = clusters

    def collect(self) -> Iterable[Metric]:
        if self._apps.value is not None:
            yield app_info_family(self._apps.value)
        if self._clusters.value is not None:
            family = GaugeMetricFamily(
                "argocd_cluster_connection_status",
                "The k8s cluster current connection status.",
                labels=("server", "k8s_version"),
            )
            for server, version in self._clusters.value:
                family.add_metric([server, version or ""], 1 if version else 0)
            yield family


class MetricsEndpoint:
    """What ``GET /metrics`` answers; ``attach`` adds the scrape-time facts once connected."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._caches: list[Cached] = []

    def attach(self, client: Client, clusters: ClusterRegistry | None, *, task_queue: str) -> None:
        apps = Cached(lambda: list_apps(client, task_queue))
        probes = Cached(lambda: asyncio.to_thread(probe_clusters, clusters)) if clusters is not None else None
        self._caches = [c for c in (apps, probes) if c is not None]
        self._registry.register(_ScrapeTime(apps, probes or Cached(_nothing)))

    async def render(self) -> bytes:
        return generate_latest(metrics.REGISTRY) + await self.scrape_time()

    async def scrape_time(self) -> bytes:
        """The exposition of the scrape-time facts alone (refreshed if older than their cache)."""
        for cache in self._caches:
            await cache.refresh()
        return generate_latest(self._registry)

    async def write_scrape_time(self, path: Path, stop: asyncio.Event, wanted: Callable[[], bool]) -> None:
        """Under ``--processes N``: keep the scrape-time facts in ``path`` for the supervisor to serve,
        every :data:`CACHE_SECONDS` while ``wanted()`` (someone scrapes; looked at each second)
        until ``stop`` (:mod:`worker.metrics_processes`). Unscraped, a fleet's visibility list
        every 15 s was a quarter of process 0's Python time at 1,000 apps."""
        written_at = -float("inf")
        while not stop.is_set():
            if wanted() and time.monotonic() - written_at >= CACHE_SECONDS:
                written_at = time.monotonic()
                try:
                    partial = path.with_suffix(".tmp")
                    partial.write_bytes(await self.scrape_time())
                    partial.replace(path)
                except Exception as exc:  # noqa: BLE001 - metrics never stop the worker
                    log.warning("metrics: cannot write %s: %s", path, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _nothing() -> None:
    return None


async def list_apps(client: Client, task_queue: str) -> list[dict[str, str]]:
    """The running apps of this Bosun (its task queue: one Temporal namespace may serve several)."""
    apps = []
    async for execution in client.list_workflows(sa.running_apps_query(task_queue)):
        found = execution.typed_search_attributes

        def attribute(name: str, found: Any = found) -> str:
            if name == sa.REPOS:
                return ",".join(found.get(_REPOS_KEY) or [])
            return str(found.get(_KEYS[name]) or "")

        apps.append(app_info_labels(execution.id, attribute, await execution.memo()))
    return apps


def probe_clusters(clusters: ClusterRegistry) -> list[tuple[str, str | None]]:
    """``(server, Kubernetes version or None when unreachable)`` of every cluster the worker knows."""
    found: list[tuple[str, str | None]] = []
    for cluster in clusters.clusters():
        try:
            version, _ = clusters.client(Destination(server=cluster.server, name=cluster.name)).server_info()
        except Exception:  # noqa: BLE001 - unreachable: status 0
            found.append((cluster.server, None))
        else:
            found.append((cluster.server, version))
    return found


def sdk_runtime(port: int, process_index: int = 0) -> Runtime | None:
    """A Temporal Runtime exporting the SDK's metrics on ``port`` + ``process_index`` (each process of
    ``--processes N`` binds its own port), or None (port 0: the SDK's default Runtime, no export)."""
    if not port:
        return None
    address = f"0.0.0.0:{port + process_index}"
    log.info("Temporal SDK metrics on http://%s/metrics", address)
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
