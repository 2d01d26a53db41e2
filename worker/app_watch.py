"""The watch on Application (and AppProject) resources: a change pokes DeclarativeAppsWorkflow at once.

Argo CD's controller reacts to Application changes through an informer; Bosun's
DeclarativeAppsWorkflow does its work in passes (:mod:`workflows.declarative`). This module
joins the two: a thread of the worker process lists and then watches ``applications.argoproj.io``
in the management cluster (cluster-wide, filtered to the discovered namespaces of
:class:`bosun.appnames.AppNamespaces`), and whenever one that matters changes — spec,
labels, annotations, finalizers, ``operation``, deletion; not ``status``, which Bosun
writes itself — it sends the workflow the ``poke`` signal, so a full pass runs within a
second. Bursts are coalesced: one signal per ``DEBOUNCE_SECONDS``. AppProjects in the
control namespace are watched the same way: a project's ``sourceNamespaces`` decides
whether an app outside the home namespaces may run.

Why a thread in the worker and not a long-running activity: the watch is a cache of
"something changed", not durable state — a lost event is caught by the workflow's
periodic safety-net pass — so it needs none of an activity's retries or history, and a
thread needs no heartbeats, no workflow to keep it scheduled and no single-owner
arrangement; every worker runs one, and two workers poking the same workflow cost at most
one extra pass. The Kubernetes client's watch is blocking, hence a thread, not a task.

Robustness: the stream is resumed from the last resourceVersion seen (bookmarks
included); a 410 Gone lists again and pokes if the list differs from what was seen; any
other error (cluster down, no Application CRD yet) retries with exponential backoff up to
``MAX_BACKOFF_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from activities.contracts import Destination
from activities.kube import IN_CLUSTER_NAME, ClusterRegistry, KubeError, UnknownKind
from bosun.appnames import AppNamespaces
from bosun.protocol import DeclarativeSignal
from bosun.resources import Manifest

log = logging.getLogger(__name__)

API_VERSION = "argoproj.io/v1alpha1"
WATCH_SECONDS = 240
"""How long one watch request lasts before it is renewed from the last resourceVersion."""
DEBOUNCE_SECONDS = 0.3
MAX_BACKOFF_SECONDS = 30.0


async def next_burst(wanted: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait until ``wanted`` is set, then :data:`DEBOUNCE_SECONDS` more so a burst of changes
    arrives as one, and clear it: True; False once ``stop`` is set. The debounce loop of every
    watch that signals workflows (Applications, Rollouts, ApplicationSets)."""
    waiter = asyncio.ensure_future(wanted.wait())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    stopper.cancel()
    if stop.is_set():
        return False
    await asyncio.sleep(DEBOUNCE_SECONDS)  # let a burst of changes arrive
    wanted.clear()
    return True


def change_digest(app: Manifest) -> str:
    """What, when it changes, needs a pass: everything but ``status`` and server bookkeeping."""
    meta = app.get("metadata") or {}
    document = {
        "spec": app.get("spec"),
        "operation": app.get("operation"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "finalizers": meta.get("finalizers") or [],
        "deleting": bool(meta.get("deletionTimestamp")),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _key(app: Manifest) -> tuple[str, str]:
    meta = app.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class ResourceWatch:
    """Watches one kind of ``argoproj.io`` resource in a thread; calls ``on_change`` (from
    that thread) when one in a namespace that ``watched`` accepts changes, and
    ``on_object(namespace, name)`` for each that changed (or went away).

    ``digest`` says what counts as a change (default :func:`change_digest`); ``cluster``
    which cluster to watch (default the management cluster). :mod:`worker.rollout_watch`
    watches Rollouts in every destination cluster so.
    """

    def __init__(
        self,
        *,
        clusters: ClusterRegistry,
        kind: str,
        watched: Callable[[str], bool],
        on_change: Callable[[], None] | None = None,
        on_object: Callable[[str, str], None] | None = None,
        namespace: str | None = None,
        cluster: str = IN_CLUSTER_NAME,
        digest: Callable[[Manifest], str] = change_digest,
    ) -> None:
        self._clusters = clusters
        self._kind = kind
        self._watched = watched
        self._namespace = namespace
        self._on_change = on_change
        self._on_object = on_object
        self._cluster = cluster
        self._digest = digest
        self._seen: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}-{cluster}", daemon=True)

    @classmethod
    def applications(
        cls, *, clusters: ClusterRegistry, namespaces: AppNamespaces, on_change: Callable[[], None]
    ) -> ResourceWatch:
        """Applications in every discovered namespace (one cluster-wide watch)."""
        return cls(clusters=clusters, kind="Application", watched=namespaces.discovers, on_change=on_change)

    @classmethod
    def projects(
        cls, *, clusters: ClusterRegistry, namespaces: AppNamespaces, on_change: Callable[[], None]
    ) -> ResourceWatch:
        """AppProjects (in the control namespace, where Bosun reads them)."""
        return cls(
            clusters=clusters,
            kind="AppProject",
            watched=lambda ns: ns == namespaces.control,
            on_change=on_change,
            namespace=namespaces.control,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops at the end of the current watch request (the thread is a daemon)."""
        self._stop.set()

    def _run(self) -> None:
        backoff = 1.0
        resource_version = ""
        while not self._stop.is_set():
            try:
                client = self._clusters.client(Destination(name=self._cluster))
                if not resource_version:
                    resource_version = self._relist(client)
                    log.info("watching %ss in cluster %s", self._kind, self._cluster)
                for kind, obj in client.watch(
                    API_VERSION,
                    self._kind,
                    resource_version=resource_version,
                    timeout_seconds=WATCH_SECONDS,
                    namespace=self._namespace,
                ):
                    resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
                    self._event(kind, obj)
                    backoff = 1.0
                    if self._stop.is_set():
                        return
            except KubeError as exc:
                if exc.status == 410:  # our resourceVersion is too old: list again, at once
                    resource_version = ""
                    continue
                level = logging.DEBUG if isinstance(exc, UnknownKind) else logging.WARNING  # no CRD (yet)
                log.log(level, "watching %ss: %s (again in %.0fs)", self._kind, exc, backoff)
                resource_version = ""
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # noqa: BLE001 - the watch must outlive any surprise; the worker goes on
                log.exception("watching %ss (again in %.0fs)", self._kind, backoff)
                resource_version = ""
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _relist(self, client: Any) -> str:
        items, resource_version = client.list_with_version(API_VERSION, self._kind, namespace=self._namespace)
        listed = {_key(obj): self._digest(obj) for obj in items if self._watched(_key(obj)[0])}
        if listed != self._seen:  # the first list too: whatever happened before the watch began
            changed = [key for key in sorted(set(listed) | set(self._seen)) if listed.get(key) != self._seen.get(key)]
            self._seen = listed
            self._changed(changed)
        return str(resource_version)

    def _event(self, kind: str, obj: Manifest) -> None:
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return  # BOOKMARK: only its resourceVersion matters
        key = _key(obj)
        if not self._watched(key[0]):
            return
        if kind == "DELETED":
            self._seen.pop(key, None)
            changed = True
        else:
            digest = self._digest(obj)
            changed = self._seen.get(key) != digest
            self._seen[key] = digest
        if changed:
            log.debug("%s %s/%s %s", self._kind, key[0], key[1], kind.lower())
            self._changed([key])

    def _changed(self, keys: list[tuple[str, str]]) -> None:
        if self._on_change is not None:
            self._on_change()
        if self._on_object is not None:
            for namespace, name in keys:
                self._on_object(namespace, name)


class Poker:
    """Sends the ``poke`` signal to a workflow, at most once per DEBOUNCE_SECONDS, from any thread."""

    def __init__(self, client: Client, workflow_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._workflow_id = workflow_id
        self._loop = loop
        self._wanted = asyncio.Event()

    def request(self) -> None:
        """Thread-safe: ask for a poke soon."""
        self._loop.call_soon_threadsafe(self._wanted.set)

    async def run(self, stop: asyncio.Event) -> None:
        while await next_burst(self._wanted, stop):
            try:
                await self._client.get_workflow_handle(self._workflow_id).signal(DeclarativeSignal.POKE)
            except RPCError as exc:  # the periodic pass catches up
                log.warning("could not poke %s: %s", self._workflow_id, exc)
