"""Names of the search attributes Bosun keeps on every app workflow.

They make the Temporal UI a dashboard (``BosunSyncStatus="OutOfSync"``). All are
Keywords but ``BosunLabels``, a KeywordList with one ``key=value`` item per label of the
Application (what ``bosun app list -l team=web`` searches first), ``BosunRepos``, a
KeywordList of the repositories the app's sources use (:func:`bosun.repo_urls.repo_key`, what
a git webhook looks for: ``BosunRepos = 'github.com/org/repo'``), and ``BosunRolloutStep``,
an Int. The RolloutWorkflow keeps ``BosunRolloutPhase`` (the Rollout's ``status.phase``)
and ``BosunRolloutStep`` (its ``currentStepIndex``), with ``BosunApp``, ``BosunCluster``
and ``BosunNamespace`` of the Rollout. The dev stack registers
them at start; ``bosun setup`` registers them on any other Temporal server. To add one,
add its name to :data:`KEYWORDS` (or another type's tuple) and :data:`TYPES` follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bosun.repo_urls import repo_key

APP = "BosunApp"
PROJECT = "BosunProject"
CLUSTER = "BosunCluster"
NAMESPACE = "BosunNamespace"
SYNC_STATUS = "BosunSyncStatus"
HEALTH_STATUS = "BosunHealthStatus"
REVISION = "BosunRevision"
OPERATION = "BosunOperation"
LABELS = "BosunLabels"
REPOS = "BosunRepos"
STATUS_DIGEST = "BosunStatusDigest"
"""A digest of the app's status but its reconcile time: what the declarative status pass looks
for in visibility, so it asks only the apps whose status changed (activities/declarative.py)."""
ROLLOUT_PHASE = "BosunRolloutPhase"
ROLLOUT_STEP = "BosunRolloutStep"

AUTOSYNC_MEMO = "autosync"
"""Not a search attribute but a memo field of the app workflow (a bool): whether automated sync
is on (a ``syncPolicy.automated`` app not suspended), Argo CD's ``argocd_app_info{autosync_enabled}``.
A memo comes back with every visibility list, as the attributes do, but is not indexed: it needs
no registration, so an upgraded worker does not stall on a namespace ``bosun setup`` has not seen
again (every Keyword slot of the dev server's SQL visibility is taken, too)."""

WRITES_STATUS_MEMO = "writes_status"
"""A memo field (``true``) of an app workflow started from an Application resource that writes its
status to that resource itself on every change; the declarative pass writes the others' by query."""

KEYWORDS = (
    APP,
    PROJECT,
    CLUSTER,
    NAMESPACE,
    SYNC_STATUS,
    HEALTH_STATUS,
    REVISION,
    OPERATION,
    ROLLOUT_PHASE,
    STATUS_DIGEST,
)
KEYWORD_LISTS = (LABELS, REPOS)
INTS = (ROLLOUT_STEP,)
ALL = KEYWORDS + KEYWORD_LISTS + INTS
TYPES: dict[str, str] = {
    **{name: "Keyword" for name in KEYWORDS},
    **{name: "KeywordList" for name in KEYWORD_LISTS},
    **{name: "Int" for name in INTS},
}
"""Every attribute's type, as Temporal names it (``temporal server start-dev --search-attribute``)."""


def label_items(labels: Mapping[str, str]) -> list[str]:
    """The ``BosunLabels`` value of an Application's labels: sorted ``key=value`` items."""
    return sorted(f"{key}={value}" for key, value in labels.items())


def labels_of(items: Iterable[str]) -> dict[str, str]:
    """The labels back from ``BosunLabels`` items."""
    return dict(item.split("=", 1) for item in items if "=" in item)


def repo_items(urls: Iterable[str]) -> list[str]:
    """The ``BosunRepos`` value of an app whose sources use these repoURLs: sorted repository keys."""
    return sorted({key for key in map(repo_key, urls) if key.strip("/")})


RUNNING_APPS = "WorkflowType = 'ApplicationWorkflow' AND ExecutionStatus = 'Running'"
"""The visibility query for the running app workflows."""


def running_apps_query(task_queue: str) -> str:
    """:data:`RUNNING_APPS` of one Bosun installation (its task queue: one Temporal namespace may
    serve several)."""
    quoted = task_queue.replace("\\", "\\\\").replace("'", "\\'")
    return f"{RUNNING_APPS} AND TaskQueue = '{quoted}'"
