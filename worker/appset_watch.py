"""The watch on ApplicationSets: each change signal-with-starts the set's ApplicationSetWorkflow.

Argo CD's ApplicationSet controller reconciles a set when its informer sees it change; Bosun
runs each set as an :class:`workflows.appset.ApplicationSetWorkflow` (id
``appset:<namespace>/<name>``), and this watch sends it the ``changed`` signal, starting it if
it is not running (signal-with-start: one call either way). A set that went away gets the
signal too: its workflow reads the set, finds it gone and ends (a workflow started for a set
already deleted ends at once).

Sets are watched in the namespaces Applications are discovered in
(:class:`bosun.appnames.AppNamespaces`: the control namespace, ``argocd`` or
``BOSUN_APPLICATION_NAMESPACES``), since the Applications a set generates live in its own
namespace. What counts as a change is :func:`worker.app_watch.change_digest` (spec, labels,
annotations, finalizers, deletion; not the status the workflow writes). The first list after a
(re)start signals every set, so a set created while no worker ran starts then. The thread,
resume, relist and back-off are :class:`worker.app_watch.ResourceWatch`'s; signals are
debounced per set.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.service import RPCError

from activities.kube import ClusterRegistry
from bosun.appnames import AppNamespaces
from bosun.protocol import APPLICATION_SET_WORKFLOW, AppSetSignal, AppSetStart, appset_workflow_id
from worker.app_watch import ResourceWatch, next_burst

log = logging.getLogger(__name__)

APPSET_KIND = "ApplicationSet"


class AppSetStarter:
    """Signal-with-starts the ApplicationSetWorkflow of each set :meth:`request` names, once per
    DEBOUNCE_SECONDS for a burst of changes; :meth:`request` is thread-safe."""

    def __init__(
        self, client: Client, task_queue: str, loop: asyncio.AbstractEventLoop, *, rolling_poll_seconds: float = 10.0
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._loop = loop
        self._rolling_poll_seconds = rolling_poll_seconds
        self._pending: set[tuple[str, str]] = set()
        self._wanted = asyncio.Event()
        self.sent: list[str] = []
        """Workflow ids signalled so far (newest last, the last 100): for logs and tests."""

    def request(self, namespace: str, name: str) -> None:
        self._loop.call_soon_threadsafe(self._add, namespace, name)

    def _add(self, namespace: str, name: str) -> None:
        self._pending.add((namespace, name))
        self._wanted.set()

    async def run(self, stop: asyncio.Event) -> None:
        while await next_burst(self._wanted, stop):
            pending, self._pending = self._pending, set()
            await asyncio.gather(*(self._signal(namespace, name) for namespace, name in sorted(pending)))

    async def _signal(self, namespace: str, name: str) -> None:
        workflow_id = appset_workflow_id(namespace, name)
        try:
            await self._client.start_workflow(
                APPLICATION_SET_WORKFLOW,
                AppSetStart(namespace=namespace, name=name, rolling_poll_seconds=self._rolling_poll_seconds),
                id=workflow_id,
                task_queue=self._task_queue,
                start_signal=AppSetSignal.CHANGED,
                static_summary=f"ApplicationSet {namespace}/{name}",
            )
        except RPCError as exc:  # the next change, or the relist after a restart, tries again
            log.warning("could not signal %s: %s", workflow_id, exc)
            return
        log.debug("signalled %s", workflow_id)
        self.sent = [*self.sent[-99:], workflow_id]


def watch_appsets(
    client: Client,
    clusters: ClusterRegistry,
    namespaces: AppNamespaces,
    task_queue: str,
    stop: asyncio.Event,
    *,
    rolling_poll_seconds: float = 10.0,
) -> asyncio.Task[None]:
    """Start the ApplicationSet watch (a thread) and the task that sends its signals; both end with ``stop``."""
    starter = AppSetStarter(client, task_queue, asyncio.get_running_loop(), rolling_poll_seconds=rolling_poll_seconds)
    watch = ResourceWatch(clusters=clusters, kind=APPSET_KIND, watched=namespaces.discovers, on_object=starter.request)
    watch.start()

    async def run() -> None:
        try:
            await starter.run(stop)
        finally:
            watch.stop()

    return asyncio.create_task(run(), name="appset-watch")
