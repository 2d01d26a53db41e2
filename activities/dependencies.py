"""Read the apps an app depends on (``bosun.dev/depends-on``): their status, and the graph.

:meth:`DependencyActivities.check_dependencies` runs before an app with the annotation
syncs (automated or by hand). It speaks to the other app workflows by their public
protocol only (:mod:`bosun.protocol`: the ``status`` and ``application`` queries, the
``refresh`` signal), so it works whichever cluster a dependency deploys to. For each
dependency it reads the status and what each of its sources' target revisions resolves to
now (the worker's shared revision cache, :mod:`activities.revisions`, asked the repository
again only when the answers differ), and sends a ``refresh`` to a dependency found behind
its target so that it catches up now instead of at its next refresh. It then follows
depends-on through the whole graph (each app's ``application`` query, at most
:data:`bosun.dependencies.MAX_GRAPH_APPS` apps) to find a cycle through the app. Whether a
dependency is ready, and what a cycle means, is decided in :mod:`bosun.dependencies`.

A dependency that cannot be read is reported, not raised: the app waits and checks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import ResolveRevisionInput, ResolveRevisionResult
from activities.gitrepo import redact_url
from bosun.appnames import app_workflow_id
from bosun.dependencies import (
    MAX_GRAPH_APPS,
    DependencyError,
    DependencyStatus,
    depends_on,
    find_cycle,
    with_reasons,
)
from bosun.models import ModelError, parse_application
from bosun.protocol import AppQuery, AppSignal, RefreshRequest

log = logging.getLogger(__name__)

QUERY_TIMEOUT = timedelta(seconds=5)
"""One query of another app workflow; one that is busy longer is "cannot read", checked again later."""
PARALLEL_QUERIES = 8


class DependencyCheckInput(BaseModel):
    app: str
    """The app that waits (its own name, for the cycle search)."""
    depends_on: list[str]
    """What its annotation lists (:func:`bosun.dependencies.parse_depends_on`)."""


class DependencyCheckResult(BaseModel):
    dependencies: list[DependencyStatus] = Field(default_factory=list)
    """One per name of ``depends_on``, in its order, with ``reason`` filled in."""
    cycle: list[str] = Field(default_factory=list)
    """A cycle through the app (``[app, …, app]``), or empty."""
    graph_truncated: bool = False
    """The search stopped at MAX_GRAPH_APPS apps: a cycle further out was not looked for."""


Resolve = Callable[[ResolveRevisionInput], ResolveRevisionResult]


class DependencyActivities:
    def __init__(self, *, client: Client, resolve: Resolve) -> None:
        self._client = client
        self._resolve = resolve
        """:meth:`activities.source.SourceActivities.resolve_revision` (blocking; run in a thread)."""

    @activity.defn(name="check_dependencies")
    async def check_dependencies(self, input: DependencyCheckInput) -> DependencyCheckResult:
        limit = asyncio.Semaphore(PARALLEL_QUERIES)
        reads = await asyncio.gather(*(self._read(name, limit) for name in input.depends_on))
        deps = [status for status, _ in reads]
        graph: dict[str, list[str]] = {input.app: list(input.depends_on)}
        for dep, (_, edges) in zip(input.depends_on, reads, strict=True):
            graph[dep] = edges
        truncated = await self._walk(graph, limit)
        return DependencyCheckResult(
            dependencies=with_reasons(deps), cycle=find_cycle(graph, input.app), graph_truncated=truncated
        )

    async def _walk(self, graph: dict[str, list[str]], limit: asyncio.Semaphore) -> bool:
        """Read the depends-on of every app reachable from ``graph``, breadth first, into it;
        True when it stopped at MAX_GRAPH_APPS."""
        while True:
            frontier = sorted({n for edges in graph.values() for n in edges if n not in graph})
            if not frontier:
                return False
            room = MAX_GRAPH_APPS - len(graph)
            if room <= 0:
                return True
            edges = await asyncio.gather(*(self._edges(name, limit) for name in frontier[:room]))
            graph.update(zip(frontier[:room], edges, strict=True))

    async def _query(self, name: str, query: str, limit: asyncio.Semaphore) -> dict[str, Any] | None:
        """The query's answer, None when no running app workflow has that name (one that ended,
        a deleted app's, is not asked: no worker replays it); RPCError otherwise."""
        async with limit:
            try:
                answer: dict[str, Any] = await self._client.get_workflow_handle(app_workflow_id(name)).query(
                    query, result_type=dict, rpc_timeout=QUERY_TIMEOUT, reject_condition=QueryRejectCondition.NOT_OPEN
                )
            except WorkflowQueryRejectedError:
                return None
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise
        return answer

    async def _edges(self, name: str, limit: asyncio.Semaphore) -> list[str]:
        """What app ``name`` depends on; [] when it cannot be read (no edge is invented)."""
        try:
            application = await self._query(name, AppQuery.APPLICATION, limit)
            if application is None:
                return []
            return list(depends_on((application.get("metadata") or {}).get("annotations"), app=name))
        except (RPCError, WorkflowQueryFailedError, DependencyError) as exc:
            log.info("dependencies: cannot read what %s depends on: %s", name, exc)
            return []

    async def _read(self, name: str, limit: asyncio.Semaphore) -> tuple[DependencyStatus, list[str]]:
        """The dependency ``name`` as it is now, and what it depends on in turn."""
        try:
            status = await self._query(name, AppQuery.STATUS, limit)
            application = await self._query(name, AppQuery.APPLICATION, limit) if status is not None else None
        except (RPCError, WorkflowQueryFailedError) as exc:
            return DependencyStatus(name=name, error=f"cannot read its status: {exc}"), []
        if status is None or application is None:
            return DependencyStatus(name=name, found=False), []
        try:
            edges = list(depends_on((application.get("metadata") or {}).get("annotations"), app=name))
        except DependencyError:
            edges = []  # its own InvalidSpecError says so; here it only has no known edges
        dep = DependencyStatus(
            name=name,
            sync=str(status.get("sync") or ""),
            health=str(status.get("health") or ""),
            operation=str(status.get("operation") or "idle"),
            revisions=[str(r) for r in status.get("revisions") or []],
            target=str(status.get("target_revision") or ""),
        )
        pinned = str(status.get("pinned_revision") or "")
        try:
            current = await self._current_revisions(application, pinned=pinned)
            if current != dep.revisions:  # this worker's cache may be behind the app's own answer
                current = await self._current_revisions(application, pinned=pinned, fresh=True)
        except (ModelError, ValueError) as exc:
            return dep.model_copy(update={"error": f"cannot resolve its target revision: {exc}"}), edges
        dep = dep.model_copy(update={"current": current})
        if dep.sync and current != dep.revisions and dep.operation == "idle":
            await self._refresh(name)
        return dep, edges

    async def _current_revisions(self, application: dict[str, Any], *, pinned: str, fresh: bool = False) -> list[str]:
        """What each source of ``application`` asks for now: its target revision resolved
        (a Helm repository chart's version as is), the first one ``pinned`` while a rollback holds."""
        app = parse_application(application, source_name="application query")
        current: list[str] = []
        for i, src in enumerate(app.sources_list()):
            if i == 0 and pinned:
                current.append(pinned)
                continue
            if src.chart:
                current.append(src.target_revision)
                continue
            wanted = ResolveRevisionInput(repo_url=src.repo_url, revision=src.target_revision, fresh=fresh)
            try:
                resolved = await asyncio.to_thread(self._resolve, wanted)
            except Exception as exc:  # noqa: BLE001 - a GitError (ApplicationError) or the like: reported
                raise ValueError(f"{redact_url(src.repo_url)} {src.target_revision}: {exc}") from None
            current.append(resolved.commit)
        return current

    async def _refresh(self, name: str) -> None:
        """Ask a dependency found behind its target to reconcile now (best effort)."""
        try:
            await self._client.get_workflow_handle(app_workflow_id(name)).signal(
                AppSignal.REFRESH, RefreshRequest(), rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            log.info("dependencies: cannot ask %s to refresh: %s", name, exc)
