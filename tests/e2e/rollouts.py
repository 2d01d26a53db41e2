"""The shared parts of the Rollout e2e tests (issue 13): one manifest builder and the reads,
waits and status patches every Rollout test uses.

- :func:`rollout_manifest` builds an Argo Rollouts ``Rollout`` (JSON, which is YAML too) for
  an image and a strategy; :func:`canary` and :func:`blue_green` build the strategy;
  :func:`service` the Services a strategy names; :func:`canary_repo` the git repo of a canary
  app (Rollout, stable and canary Services, any extra files).
- :func:`live_rollout`, :func:`replica_sets` read the devcluster; :func:`wait_rollout` waits
  for a status and ReplicaSet counts; :func:`app_health` / :func:`rollout_health` read Bosun's
  view of the app (Argo CD's health: Progressing, Suspended, Healthy, Degraded).
- :func:`patch_status` does what ``kubectl argo rollouts abort|retry|promote`` does: a merge
  patch of the status subresource; the worker's Rollout watch tells the RolloutWorkflow.

To extend: add a keyword to :func:`rollout_manifest` (or a field through the strategy dict)
rather than a new copy of the skeleton in a test file. Custom kinds are named
``<plural>.<group>`` in kubectl calls (other tests define the same kind names).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bosun.protocol import rollout_workflow_id
from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl

ROLLOUTS = "rollouts.argoproj.io"
ANALYSIS_RUNS = "analysisruns.argoproj.io"
REPLICA_SETS = "replicasets.apps"


def rollout_manifest(
    image: str,
    strategy: dict[str, Any],
    *,
    replicas: int = 2,
    name: str = "web",
    container: str = "main",
    revision_history_limit: int | None = 2,
) -> str:
    """A Rollout ``name`` whose pods (label ``app: name``) run ``image``, with ``strategy``
    (``{"canary": ...}`` or ``{"blueGreen": ...}``, see :func:`canary` / :func:`blue_green`)."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": container, "image": image}]},
        },
        "strategy": strategy,
    }
    if revision_history_limit is not None:
        spec["revisionHistoryLimit"] = revision_history_limit
    return json.dumps(
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name}, "spec": spec}
    )


def canary(steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A canary strategy with ``steps``, the Services ``web`` (stable) and ``web-canary``, and ``fields``."""
    return {"canary": {"canaryService": "web-canary", "stableService": "web", **fields, "steps": steps}}


def blue_green(**fields: Any) -> dict[str, Any]:
    """A blue-green strategy: ``web`` active, ``web-preview`` preview, then ``fields``."""
    return {"blueGreen": {"activeService": "web", "previewService": "web-preview", **fields}}


def service(name: str, app: str = "web") -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )


def canary_repo(
    tmp_path: Path, steps: list[dict[str, Any]], *, replicas: int, extra: dict[str, str | None] | None = None
) -> GitRepo:
    """A git repo holding the ``web:1`` canary Rollout, its two Services and ``extra`` files."""
    return GitRepo.create(
        tmp_path / "repo",
        {
            "rollout.json": rollout_manifest("web:1", canary(steps), replicas=replicas),
            "service.json": service("web"),
            "canary-service.json": service("web-canary"),
            **(extra or {}),
        },
    )


def live_rollout(cluster: Cluster, ns: str, name: str = "web") -> dict[str, Any]:
    """The Rollout, or {} before the app created it."""
    out = kubectl(cluster, "-n", ns, "get", ROLLOUTS, name, "-o", "json", check=False)
    return dict(json.loads(out)) if out.strip() else {}


def replica_sets(cluster: Cluster, ns: str) -> dict[str, tuple[int, int]]:
    """pod-template hash → (spec.replicas, available) of the Rollout's ReplicaSets."""
    out = kubectl(cluster, "-n", ns, "get", REPLICA_SETS, "-o", "json", check=False)
    items = json.loads(out)["items"] if out.strip() else []
    return {
        rs["metadata"]["labels"]["rollouts-pod-template-hash"]: (
            rs["spec"]["replicas"],
            rs.get("status", {}).get("availableReplicas") or 0,
        )
        for rs in items
        if "rollouts-pod-template-hash" in rs["metadata"].get("labels", {})
    }


def patch_status(cluster: Cluster, ns: str, status: dict[str, Any], name: str = "web") -> None:
    """What ``kubectl argo rollouts abort|retry|promote`` does; the worker's Rollout watch
    tells the RolloutWorkflow (no Temporal call here)."""
    kubectl(
        cluster, "-n", ns, "patch", ROLLOUTS, name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def wait_rollout(
    cluster: Cluster, ns: str, *, what: str, timeout: float = 120, counts: dict[str, tuple[int, int]] | None = None,
    **expected: Any,
) -> dict[str, Any]:  # fmt: skip
    """The Rollout once its status has ``expected`` and its ReplicaSets ``counts`` (hash → (replicas, available))."""

    def check() -> dict[str, Any] | None:
        obj = live_rollout(cluster, ns)
        status = obj.get("status") or {}
        if any(status.get(k) != v for k, v in expected.items()):
            return None
        if counts is not None:
            live = {h: c for h, c in replica_sets(cluster, ns).items() if h in counts}
            if live != counts:
                return None
        return obj

    return eventually(check, timeout=timeout, what=what)  # type: ignore[no-any-return]


def app_health(bosun: Bosun, app: str) -> str:
    """The app's health as Argo CD shows it (the Rollout's health check decides it)."""
    return str(bosun.status(app)["health"])


def rollout_health(bosun: Bosun, app: str) -> str:
    """The health Bosun gives the app's Rollout resource."""
    rows = bosun.status(app)["resources"]
    return str(next(r["health"] for r in rows if r["key"]["kind"] == "Rollout"))


def wait_app_health(bosun: Bosun, app: str, health: str, *, what: str, timeout: float = 60) -> None:
    """Until the app and its Rollout resource show ``health``; the last (app, Rollout) health seen on failure."""

    def both() -> tuple[str, str]:
        status = bosun.status(app)
        rollout = next((str(r["health"]) for r in status["resources"] if r["key"]["kind"] == "Rollout"), "")
        return str(status["health"]), rollout

    seen: list[tuple[str, str]] = []

    def check() -> bool:
        seen.append(both())
        return seen[-1] == (health, health)

    try:
        eventually(check, timeout=timeout, what=f"{what}: app and Rollout {health}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last (app, Rollout) health: {seen[-1:]}") from None


def first_revision(
    bosun: Bosun, cluster: Cluster, repo: GitRepo, *, replicas: int, prefix: str = "canary"
) -> tuple[str, str, str]:
    """A new app of ``repo`` in a new namespace, once its first revision is Healthy: (app, namespace, stable hash)."""
    app, ns = unique(prefix), unique("ns")
    bosun.create_app(app, repo, namespace=ns)
    first = wait_rollout(cluster, ns, what="first revision Healthy", phase="Healthy")
    stable = first["status"]["stableRS"]
    assert replica_sets(cluster, ns) == {stable: (replicas, replicas)}
    return app, ns, stable


def rollout_history(bosun: Bosun, ns: str, name: str = "web") -> list[HistoryEvent]:
    """The events of the (latest run of the) RolloutWorkflow of Rollout ``ns/name`` on the in-cluster destination."""

    async def fetch() -> list[HistoryEvent]:
        client = await Client.connect(bosun.temporal.address)
        history = await client.get_workflow_handle(rollout_workflow_id("in-cluster", ns, name)).fetch_history()
        return list(history.events)

    return asyncio.run(fetch())


def event_summary(event: HistoryEvent) -> str:
    """The summary Bosun gave a timer or activity (``step 3/3: pause: 20s``), or ""."""
    if not event.user_metadata.HasField("summary"):
        return ""
    return str(pydantic_data_converter.payload_converter.from_payload(event.user_metadata.summary, str))
