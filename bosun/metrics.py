"""Bosun's Prometheus metrics: Argo CD's names and labels, so its dashboards and alerts work unchanged.

The one home of every metric the worker exports. Code that counts something calls a function
here (``count_k8s_request``, ``observe_git_request``, ``set_watch_cache_objects``,
``count_webhook_request``, ...); ``worker/metrics.py`` serves :data:`REGISTRY` on ``/metrics``
with the facts read at scrape time (``argocd_app_info`` from Temporal visibility).

Names, label sets and histogram buckets follow Argo CD's ``controller/metrics`` and
``reposerver/metrics`` (docs: operator-manual/metrics.md). Labels never carry credentials:
a repository URL comes without user and password (``activities.gitrepo.redact_url``), and Kubernetes requests
are labelled by verb, kind and namespace only, never by object name.

With ``--processes N`` the children write their values to ``PROMETHEUS_MULTIPROC_DIR`` (the
supervisor sets it) and the supervisor serves their sum; the gauges say how to combine
processes (``multiprocess_mode``). To add a metric: define it on :data:`REGISTRY` below, give it a
recording function, and name it in :data:`EXPORTED` (the dashboard test checks against it).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
"""Bosun's metrics (not prometheus_client's global registry: tests and other libraries stay apart)."""

APP_LABELS = ("namespace", "name", "project")
"""Argo CD's ``descAppDefaultLabels``: the Application's namespace, name and project."""

RECONCILE_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 16)
"""Argo CD's buckets for ``argocd_app_reconcile`` ("chosen after observing a ~2100ms mean")."""
GIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 10, 20)
"""Argo CD's repo-server buckets for ``argocd_git_request_duration_seconds``."""

APP_SYNC = Counter(
    "argocd_app_sync",
    "Number of application syncs.",
    (*APP_LABELS, "dest_server", "phase"),
    registry=REGISTRY,
)
APP_RECONCILE = Histogram(
    "argocd_app_reconcile",
    "Application reconciliation performance in seconds.",
    ("namespace", "dest_server"),
    buckets=RECONCILE_BUCKETS,
    registry=REGISTRY,
)
K8S_REQUESTS = Counter(
    "argocd_app_k8s_request",
    "Number of kubernetes requests executed during application reconciliation.",
    (*APP_LABELS, "server", "response_code", "verb", "resource_kind", "resource_namespace", "dry_run"),
    registry=REGISTRY,
)
GIT_REQUESTS = Counter(
    "argocd_git_request",
    "Number of git requests performed by the worker.",
    ("repo", "request_type"),
    registry=REGISTRY,
)
GIT_DURATION = Histogram(
    "argocd_git_request_duration_seconds",
    "Git requests duration seconds.",
    ("repo", "request_type"),
    buckets=GIT_BUCKETS,
    registry=REGISTRY,
)
CLUSTER_OBJECTS = Gauge(
    "argocd_cluster_api_resource_objects",
    "Number of k8s resource objects in the cache.",
    ("server",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
WATCH_CACHE_OBJECTS = Gauge(
    "bosun_watch_cache_objects",
    "Objects held in the worker's watch cache, per cluster and kind.",
    ("server", "kind"),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
WEBHOOK_REQUESTS = Counter(
    "bosun_webhook_requests",
    "Git webhook requests received, by provider and outcome.",
    ("provider", "outcome"),
    registry=REGISTRY,
)

APP_INFO = "argocd_app_info"
APP_INFO_LABELS = (
    *APP_LABELS,
    "repo",
    "dest_server",
    "dest_namespace",
    "sync_status",
    "health_status",
    "operation",
    "autosync_enabled",
)
"""``argocd_app_info`` and ``argocd_cluster_connection_status`` are read at scrape time
(``worker/metrics.py``), not kept here."""

EXPORTED = frozenset(
    {
        APP_INFO,
        "argocd_app_sync_total",
        "argocd_app_reconcile",
        "argocd_app_k8s_request_total",
        "argocd_git_request_total",
        "argocd_git_request_duration_seconds",
        "argocd_cluster_api_resource_objects",
        "argocd_cluster_connection_status",
        "bosun_watch_cache_objects",
        "bosun_webhook_requests_total",
    }
)
"""Every metric name ``/metrics`` serves (histograms add ``_bucket``, ``_sum``, ``_count``)."""
SDK_EXPORTED = frozenset(
    {
        "temporal_worker_task_slots_available",
        "temporal_activity_execution_latency",
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_activity_schedule_to_start_latency",
    }
)
"""Some of the Temporal SDK's metrics, served on ``BOSUN_SDK_METRICS_PORT`` (the dashboard uses these)."""


def count_k8s_request(
    *,
    server: str,
    verb: str,
    kind: str,
    resource_namespace: str,
    status: int,
    dry_run: bool,
    app: str = "",
    app_namespace: str = "",
    project: str = "",
) -> None:
    """One request to a Kubernetes API server (``status`` 0: no response, e.g. a connection error)."""
    K8S_REQUESTS.labels(
        namespace=app_namespace,
        name=app,
        project=project,
        server=server,
        response_code=str(status),
        verb=verb,
        resource_kind=kind,
        resource_namespace=resource_namespace,
        dry_run=str(dry_run).lower(),
    ).inc()


def observe_git_request(*, repo: str, request_type: str, seconds: float) -> None:
    """One git request (``ls-remote`` or ``fetch``) to ``repo`` (its URL without credentials) that took ``seconds``."""
    labels = {"repo": repo, "request_type": request_type}
    GIT_REQUESTS.labels(**labels).inc()
    GIT_DURATION.labels(**labels).observe(seconds)


def observe_reconcile(*, app_namespace: str, dest_server: str, seconds: float) -> None:
    """One compare of an app (Argo CD's reconcile) that took ``seconds``."""
    APP_RECONCILE.labels(namespace=app_namespace, dest_server=dest_server).observe(seconds)


Compare = TypeVar("Compare", bound=Callable[..., Any])


def timed_reconcile(compare: Compare) -> Compare:
    """Decorates the compare activity (``compare(self, input)``, ``input`` with ``app`` and
    ``destination``): its duration is an ``argocd_app_reconcile`` observation, failed or not."""

    @functools.wraps(compare)
    def timed(self: Any, input: Any) -> Any:
        started = time.monotonic()
        try:
            return compare(self, input)
        finally:
            namespace, _ = app_of_workflow(f"app:{input.app}")
            destination = input.destination
            observe_reconcile(
                app_namespace=namespace,
                dest_server=destination.server or destination.name,
                seconds=time.monotonic() - started,
            )

    return cast(Compare, timed)


def count_sync(*, app: str, app_namespace: str, project: str, dest_server: str, phase: str) -> None:
    """One finished sync operation of an app, ``phase`` Succeeded, Failed or Error."""
    APP_SYNC.labels(namespace=app_namespace, name=app, project=project, dest_server=dest_server, phase=phase).inc()


_cache_lock = threading.Lock()
_cache_counts: dict[tuple[str, str], int] = {}


def set_watch_cache_objects(*, server: str, kind: str, count: int) -> None:
    """The watch cache of cluster ``server`` holds ``count`` objects of ``kind`` (the livecache calls
    this on every change it applies); ``argocd_cluster_api_resource_objects`` is their sum per server."""
    with _cache_lock:
        _cache_counts[(server, kind)] = count
        total = sum(n for (s, _), n in _cache_counts.items() if s == server)
    WATCH_CACHE_OBJECTS.labels(server=server, kind=kind).set(count)
    CLUSTER_OBJECTS.labels(server=server).set(total)


def count_webhook_request(*, provider: str, outcome: str) -> None:
    """One git webhook request: ``provider`` (github, gitlab, ...), ``outcome`` (e.g. refreshed,
    ignored, unauthorized, bad_request): a short word, never anything from the payload."""
    WEBHOOK_REQUESTS.labels(provider=provider, outcome=outcome).inc()


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def describe_k8s_request(method: str, path: str, query: str) -> tuple[str, str, str, bool]:
    """``(verb, resource, namespace, dry_run)`` of a request to a Kubernetes API server, as the
    API server's RequestInfo names them (the labels Argo CD uses): ``GET /api/v1/namespaces/a/pods``
    is ``("list", "pods", "a", False)``. Object names are left out on purpose."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        rest = []
    if not rest:  # /version, /openapi/v2, discovery (/api, /apis/<group>/<version>)
        return ("get", "", "", False)
    watch = "watch=true" in query.lower() or rest[:1] == ["watch"]
    rest = rest[1:] if rest[:1] == ["watch"] else rest
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":  # namespaces/<ns>/<resource>...; a Namespace itself is 2 parts
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else ""
    named = len(rest) >= 2
    method = method.upper()
    if method == "GET":
        verb = "watch" if watch else ("get" if named else "list")
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return (verb, resource, namespace, "dryrun=all" in query.lower())


def app_of_workflow(workflow_id: str) -> tuple[str, str]:
    """``(namespace, name)`` of the Application whose workflow (``app:<app>``, ``app:<app>:sync:<n>``)
    runs an activity; ``("", "")`` for other workflows. A plain name is in :data:`home_namespace`."""
    if not workflow_id.startswith("app:"):
        return ("", "")
    app = workflow_id.removeprefix("app:").split(":", 1)[0]
    namespace, slash, name = app.rpartition("/")
    return (namespace, name) if slash else (home_namespace, app)


home_namespace = ""
"""The control namespace, where apps with plain names live (set once by the worker at start)."""
