"""Drift triggers a refresh: a change to a live object an app owns signals that app at once.

Each destination cluster's watch cache (:mod:`activities.livecache`) reports every change
of a tracked object it sees; :class:`DriftRefresh` reads the owner from the object's
tracking metadata (Argo CD's annotation, Bosun's older one, or the instance label) and
sends that app's ApplicationWorkflow the ``refresh`` signal, at most once per
:data:`DEBOUNCE_SECONDS` per app (a rollout changes a Deployment's status several times a
second). So ``selfHeal`` reverts a ``kubectl scale`` within seconds, and health follows the
cluster, without waiting for the refresh period. An app this Temporal namespace does not
run (NotFound) is skipped quietly; a lost signal is caught by the periodic refresh.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bosun.protocol import AppSignal, RefreshRequest, app_workflow_id
from bosun.resources import Manifest
from bosun.tracking import TrackingConfig, TrackingMethod, tracked_app

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 1.0
_BY_ANNOTATION = TrackingConfig()
_BY_LABEL = TrackingConfig(method=TrackingMethod.LABEL)


def owner_of(obj: Manifest) -> str | None:
    """The app ``obj`` is tracked for, by annotation first, else by the default instance label."""
    return tracked_app(obj, _BY_ANNOTATION) or tracked_app(obj, _BY_LABEL)


class DriftRefresh:
    """Sends ``refresh`` to the app owning each changed object; :meth:`changed` is thread-safe."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        """Refresh signals sent so far (for logs and tests)."""

    def changed(self, cluster: str, obj: Manifest) -> None:
        """A watch saw ``obj`` change in ``cluster`` (called from the watch's thread)."""
        app = owner_of(obj)
        if app:
            self._loop.call_soon_threadsafe(self._schedule, app)

    def _schedule(self, app: str) -> None:
        if app in self._pending:
            return  # a signal is already on its way for this burst
        self._pending.add(app)
        self._loop.call_later(DEBOUNCE_SECONDS, self._send_soon, app)

    def _send_soon(self, app: str) -> None:
        task = self._loop.create_task(self._send(app))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, app: str) -> None:
        self._pending.discard(app)
        try:
            await self._client.get_workflow_handle(app_workflow_id(app)).signal(AppSignal.REFRESH, RefreshRequest())
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                log.warning("could not signal app %s to refresh after a live change: %s", app, exc)
            return
        self.sent += 1
        log.debug("live change: refresh of app %s", app)
