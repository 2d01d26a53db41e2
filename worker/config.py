"""Worker configuration, read once from the environment (the composition root's only input).

BOSUN_TEMPORAL_ADDRESS / TEMPORAL_ADDRESS   Temporal frontend (default: the profile's address, else 127.0.0.1:7233)
BOSUN_NAMESPACE / TEMPORAL_NAMESPACE        Temporal namespace (default: the profile's namespace, else "default")
TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE     a temporal.toml and the profile in it (defaults
                                            ~/.config/temporalio/temporal.toml, "default"), as the temporal CLI
TEMPORAL_API_KEY                            API key (Temporal Cloud); turns TLS on
TEMPORAL_TLS                                true/false: TLS with the system roots / plaintext
TEMPORAL_TLS_CLIENT_CERT_PATH, _KEY_PATH    mTLS client certificate and key (or _CERT_DATA, _KEY_DATA)
TEMPORAL_TLS_SERVER_CA_CERT_PATH            CA that signs the server's certificate (or _DATA)
TEMPORAL_TLS_SERVER_NAME                    name to verify the server's certificate against
TEMPORAL_GRPC_META_<NAME>                   extra gRPC header <name> on every call
                                            (all loaded by the Temporal SDK's envconfig; the BOSUN_ names and
                                            the CLI flags win over them: activities/temporal_connection.py)
BOSUN_TASK_QUEUE                            task queue (default "bosun")
BOSUN_HOME                                  caches and the content store (default ~/.bosun)
BOSUN_CONTROL_NAMESPACE                     namespace of AppProjects and Bosun's Secrets in the
                                            management cluster (default BOSUN_SECRETS_NAMESPACE or "bosun")
BOSUN_KUBECONFIG                            kubeconfig files, ":"-separated, merged as kubectl merges them;
                                            the current context is the management cluster and the in-cluster
                                            destination (default $KUBECONFIG; else, in a pod
                                            (KUBERNETES_SERVICE_HOST set), the pod's ServiceAccount; else
                                            ~/.kube/config)
BOSUN_SERVICEACCOUNT_DIR                    in a pod: the directory of the ServiceAccount's token and ca.crt
                                            (default /var/run/secrets/kubernetes.io/serviceaccount)
BOSUN_REFRESH_SECONDS                       how often a declared Application is compared with Git and
                                            its cluster (default 180, Argo CD's timeout.reconciliation)
BOSUN_APPLICATION_NAMESPACES                where else Application resources are followed: comma-separated
                                            namespaces, globs or /regexes/ (Argo CD's application.namespaces;
                                            default "argocd", whose apps then keep plain names). Apps outside
                                            the control namespace (and default argocd) are named <ns>/<name>
                                            and need their project's sourceNamespaces
BOSUN_DISCOVERY_SECONDS                     a full pass over Application resources at least this often (default
                                            60); changes are seen at once through a watch, this is a safety net
BOSUN_STATUS_SECONDS                        how often app status is written back to the resources (default 5)

Scale-out (worker/launch.py sets the first two from ``--clusters`` / ``--no-main-queue``):
BOSUN_WORKER_CLUSTERS                       comma-separated cluster names: poll only their task queues
                                            (default: every known cluster)
BOSUN_WORKER_MAIN_QUEUE                     "false": poll only cluster queues, not the main one (default true)
BOSUN_WORKER_WATCHES                        "false": no Application/Rollout watches in this process (the
                                            supervisor of ``--processes N`` runs them in process 0 only)
BOSUN_SHUTDOWN_SECONDS                      on SIGTERM, how long running activities may finish (default 25,
                                            under Kubernetes' 30 s terminationGracePeriodSeconds)
BOSUN_HTTP_PORT                             /healthz, /readyz and /metrics (default 8080; 0: off)
BOSUN_SDK_METRICS_PORT                      the Temporal SDK's own Prometheus metrics (worker task slots,
                                            poll and schedule-to-start latencies) on this port; process i of
                                            ``--processes N`` on port + i (default 0: off)
BOSUN_STORE_MAX_BYTES                       bound of the content store ($BOSUN_HOME/store), a cache of renders
                                            and diffs: least recently used entries are evicted beyond it
                                            (default 1Gi; bytes, or 512Mi, 2Gi, 500M)
BOSUN_STORE_GRACE_SECONDS                   store entries used this recently are never evicted (default 60)
BOSUN_REVISION_CACHE_SECONDS                how long a resolved branch or tag is shared by the apps of a worker process
                                            (default 180, Argo CD's --revision-cache-expiration; 0: off); an app is
                                            never served one older than its own last refresh (activities/revisions.py)
BOSUN_GIT_CACHE_MAX_BYTES                   bound of the git mirrors ($BOSUN_HOME/cache/git): least recently
                                            used mirrors not being fetched are evicted beyond it (default 5Gi)
BOSUN_RENDER_CONCURRENCY                    renders running tools (helm, kustomize, jsonnet) at once in one
                                            worker process; the rest wait (default 0: one per CPU)
BOSUN_ALLOW_LOCAL_REPOS                     "true": apps may use file:// URLs and paths on the worker's disk as
                                            repositories, and render tools may fetch them (git's "file"
                                            protocol). For a local stack only: default false, every other
                                            repository URL is https, http, ssh or git (bosun/repo_urls.py)

Git webhooks (worker/webhooks.py):
BOSUN_WEBHOOK_PORT                          serve POST /api/webhook on this port of its own (default 0: on
                                            BOSUN_HTTP_PORT, beside the probes); with ``--processes N``
                                            process 0 serves it here (the supervisor holds BOSUN_HTTP_PORT)
BOSUN_WEBHOOK_MAX_BYTES                     largest git webhook payload accepted (default 1Mi; bytes, or 512Ki)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from activities.kubeaccess import InClusterAccess, KubeAccess, KubeconfigAccess, management_access
from activities.lru import parse_bytes
from activities.temporal_connection import TemporalConnection, load_temporal_connection
from bosun.appnames import AppNamespaces
from bosun.paths import bosun_home
from bosun.webhooks import DEFAULT_MAX_BYTES as DEFAULT_WEBHOOK_MAX_BYTES

DEFAULT_TASK_QUEUE = "bosun"
DEFAULT_STORE_MAX_BYTES = 1024**3
DEFAULT_GIT_CACHE_MAX_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class WorkerConfig:
    temporal_address: str
    namespace: str
    task_queue: str
    home: Path
    kubeconfigs: list[Path]
    control_namespace: str = "bosun"
    refresh_seconds: float = 180.0
    discovery_seconds: float = 60.0
    status_seconds: float = 5.0
    application_namespaces: str | None = None
    """BOSUN_APPLICATION_NAMESPACES as set; None: not set (the default applies)."""
    clusters: frozenset[str] | None = None
    """BOSUN_WORKER_CLUSTERS: the only clusters whose queues this worker polls; None: every one."""
    main_queue: bool = True
    watches: bool = True
    shutdown_seconds: float = 25.0
    webhook_port: int = 0
    webhook_max_bytes: int = DEFAULT_WEBHOOK_MAX_BYTES
    http_port: int = 8080
    sdk_metrics_port: int = 0
    temporal: TemporalConnection | None = None
    """TLS, API key and the rest of the Temporal connection; None: plaintext to temporal_address."""
    store_max_bytes: int = DEFAULT_STORE_MAX_BYTES
    git_cache_max_bytes: int = DEFAULT_GIT_CACHE_MAX_BYTES
    store_grace_seconds: float = 60.0
    revision_cache_seconds: float = 180.0
    render_concurrency: int = 0
    """Renders (helm, kustomize, jsonnet) that run tools at once in this process; 0: one per CPU
    it may use (``BOSUN_RENDER_CONCURRENCY``). More only thrash: the tools are CPU-bound."""
    allow_local_repos: bool = False
    in_cluster: InClusterAccess | None = None
    """The pod's ServiceAccount, when no kubeconfig is set and KUBERNETES_SERVICE_HOST is (``kubeconfigs`` empty)."""

    def management(self) -> KubeAccess | None:
        """The management cluster (Settings, Secrets, Application resources; the in-cluster destination)."""
        if self.in_cluster is not None:
            return self.in_cluster
        return KubeconfigAccess.of(self.kubeconfigs) if self.kubeconfigs else None

    @property
    def app_namespaces(self) -> AppNamespaces:
        return AppNamespaces.configure(self.control_namespace, self.application_namespaces)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WorkerConfig:
        env = dict(os.environ if env is None else env)
        access = management_access(env)
        temporal = load_temporal_connection(env)
        return cls(
            temporal_address=temporal.address,
            namespace=temporal.namespace,
            temporal=temporal,
            task_queue=env.get("BOSUN_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
            home=bosun_home(env),
            kubeconfigs=list(access.files) if isinstance(access, KubeconfigAccess) else [],
            control_namespace=env.get("BOSUN_CONTROL_NAMESPACE") or env.get("BOSUN_SECRETS_NAMESPACE") or "bosun",
            refresh_seconds=float(env.get("BOSUN_REFRESH_SECONDS") or 180.0),
            discovery_seconds=float(env.get("BOSUN_DISCOVERY_SECONDS") or 60.0),
            status_seconds=float(env.get("BOSUN_STATUS_SECONDS") or 5.0),
            application_namespaces=env.get("BOSUN_APPLICATION_NAMESPACES"),
            clusters=cluster_names(env.get("BOSUN_WORKER_CLUSTERS")),
            main_queue=flag(env, "BOSUN_WORKER_MAIN_QUEUE", default=True),
            allow_local_repos=flag(env, "BOSUN_ALLOW_LOCAL_REPOS", default=False),
            watches=flag(env, "BOSUN_WORKER_WATCHES", default=True),
            shutdown_seconds=float(env.get("BOSUN_SHUTDOWN_SECONDS") or 25.0),
            webhook_port=int(env.get("BOSUN_WEBHOOK_PORT") or 0),
            webhook_max_bytes=_size(env, "BOSUN_WEBHOOK_MAX_BYTES", DEFAULT_WEBHOOK_MAX_BYTES),
            http_port=int(env.get("BOSUN_HTTP_PORT") or 8080),
            sdk_metrics_port=int(env.get("BOSUN_SDK_METRICS_PORT") or 0),
            store_max_bytes=_size(env, "BOSUN_STORE_MAX_BYTES", DEFAULT_STORE_MAX_BYTES),
            git_cache_max_bytes=_size(env, "BOSUN_GIT_CACHE_MAX_BYTES", DEFAULT_GIT_CACHE_MAX_BYTES),
            store_grace_seconds=float(env.get("BOSUN_STORE_GRACE_SECONDS") or 60.0),
            revision_cache_seconds=float(env.get("BOSUN_REVISION_CACHE_SECONDS") or 180.0),
            render_concurrency=int(env.get("BOSUN_RENDER_CONCURRENCY") or 0),
            in_cluster=access if isinstance(access, InClusterAccess) else None,
        )


def cluster_names(value: str | None) -> frozenset[str] | None:
    """``"a, b"`` → {"a", "b"}; unset or blank → None (every cluster)."""
    names = frozenset(name.strip() for name in (value or "").split(",") if name.strip())
    return names or None


def flag(env: dict[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={env[name]!r}: expected true or false")


def _size(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name)
    return parse_bytes(value, setting=name) if value else default
