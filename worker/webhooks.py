"""``POST /api/webhook``: a git push refreshes the apps that follow the pushed branch, at once.

The worker's HTTP server (:mod:`worker.health_server`) hands the request here. Reading it is
bounded (header count and size, ``Content-Length`` at most ``BOSUN_WEBHOOK_MAX_BYTES``, a few
seconds to arrive, 16 requests at once); :func:`bosun.webhooks.read_push` verifies and parses
it with the secrets of ``argocd-secret`` / ``bosun-secret`` in the control namespace (re-read
every few seconds). When
those Secrets cannot be read the request is refused with 503: accepting it unsigned could let
anyone trigger refreshes a secret was meant to stop.

A push is matched as Argo CD does, without listing every app: the visibility query
``BosunRepos IN (<repository keys>)`` (the app workflow keeps that search attribute) finds the
candidates on this worker's task queue, each one's Application (``application`` query) says
whether a source follows the pushed branch, and those get the ``refresh`` signal — a normal
refresh: the reconcile's ``ls-remote`` finds the new commit. The answer lists the apps refreshed.
Nothing secret is logged: not the signature, token or secret, only the provider, repository and refs.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from activities import revisions
from activities.kubeaccess import KubeAccess
from activities.management import DEFAULT_NAMESPACE, Cached, ManagementError, ManagementSecrets
from bosun import metrics, webhooks
from bosun.protocol import AppQuery, AppSignal, RefreshRequest, app_name_of
from bosun.webhooks import Push, WebhookRefused, WebhookSecrets
from worker import health_server
from worker.config import WorkerConfig

log = logging.getLogger(__name__)

MAX_HEADERS = 100
MAX_HEADER_LINE = 8192
READ_SECONDS = 10.0
"""Time for the headers and the body to arrive: a slow sender does not hold a connection for ever."""
MATCH_SECONDS = 20.0
"""Time to find and signal the apps; the sender (GitHub waits 10 s) sees a 503 past it."""
CONCURRENT_APPS = 16
CONCURRENT_REQUESTS = 16
"""Requests handled at once; more are answered 503 at once (the sender retries), so a flood of
large bodies holds at most this many in memory."""


class WebhookSecretsReader(Cached[WebhookSecrets]):
    """The webhook keys of ``argocd-secret`` then ``bosun-secret`` (its keys win), cached a few seconds."""

    @classmethod
    def of(cls, access: KubeAccess, *, namespace: str = DEFAULT_NAMESPACE) -> WebhookSecretsReader:
        secrets = ManagementSecrets(access, namespace=namespace)
        return cls(lambda: WebhookSecrets.from_secret_data(*(secrets.secret_data(n) for n in webhooks.SECRET_NAMES)))


class WebhookEndpoint:
    """The handler of ``/api/webhook`` for one worker: its Temporal client, task queue and secrets."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        secrets: Callable[[], WebhookSecrets],
        *,
        max_bytes: int = webhooks.DEFAULT_MAX_BYTES,
        before_refresh: Callable[[list[str]], None] | None = None,
        count: Callable[..., None] | None = None,
    ) -> None:
        """``before_refresh`` gets the repoURLs (as the apps spell them) of the sources a push moved,
        before their apps are signalled: where a cache of resolved revisions learns they are stale.
        ``count(provider=..., outcome=...)`` is told of every request (a metrics counter): the
        provider's name or "unknown", and :func:`bosun.webhooks.outcome`."""
        self._client = client
        self._task_queue = task_queue
        self._secrets = secrets
        self._max_bytes = max_bytes
        self._before_refresh = before_refresh
        self._count = count
        self._in_flight = 0

    async def __call__(self, method: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._in_flight >= CONCURRENT_REQUESTS:
            status, text = 503, f"busy: {CONCURRENT_REQUESTS} webhook requests in progress; try again\n"
            if self._count is not None:
                self._count(provider="unknown", outcome="unavailable")
        else:
            self._in_flight += 1
            try:
                status, text = await self.answer(method, reader)
            finally:
                self._in_flight -= 1
        body = text.encode()
        writer.write(
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def answer(self, method: str, reader: asyncio.StreamReader) -> tuple[int, str]:
        """The status and text answering the request whose request line said ``method``."""
        provider, refreshed = "unknown", 0
        try:
            headers, body = await asyncio.wait_for(self._read(reader), timeout=READ_SECONDS)
            provider = webhooks.provider_name(headers)
            secrets = await self._read_secrets()
            push = webhooks.read_push(method, headers, body, secrets, max_bytes=self._max_bytes)
            if push is None:
                status, text = 200, "ok: nothing to refresh (ping or no ref)\n"
            else:
                names = await asyncio.wait_for(self.refresh(push), timeout=MATCH_SECONDS)
                refreshed = len(names)
                log.info("webhook: %s refreshed %d app(s): %s", push.describe(), refreshed, ", ".join(names) or "-")
                status, text = 200, f"ok: {push.describe()}; refreshed {refreshed} app(s): {', '.join(names) or '-'}\n"
        except WebhookRefused as refused:
            log.info("webhook refused (%d): %s", refused.status, refused)
            status, text = refused.status, f"{refused}\n"
        except TimeoutError:
            log.warning("webhook: request or app lookup took too long")
            status, text = 503, "timed out reading the request or finding the apps; try again\n"
        except Exception:  # a bug must not take the worker's HTTP server down; the sender may retry
            log.exception("webhook: unexpected error")
            status, text = 500, "internal error; see the worker log\n"
        if self._count is not None:
            self._count(provider=provider, outcome=webhooks.outcome(status, refreshed))
        return status, text

    async def _read(self, reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = await reader.readline()
            if len(line) > MAX_HEADER_LINE:
                raise WebhookRefused(431, "a request header line is too long")
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise WebhookRefused(400, "malformed request header line")
            headers[name.strip().lower()] = value.strip()
        else:
            raise WebhookRefused(431, f"more than {MAX_HEADERS} request headers")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise WebhookRefused(411, "chunked bodies are not accepted: send Content-Length")
        length_text = headers.get("content-length", "0").strip() or "0"
        if not length_text.isdigit():
            raise WebhookRefused(400, "Content-Length is not a number")
        length = int(length_text)
        if length > self._max_bytes:
            raise WebhookRefused(413, f"payload of {length} bytes is over the limit of {self._max_bytes} bytes")
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise WebhookRefused(400, f"body shorter than its Content-Length {length}") from None
        return headers, body

    async def _read_secrets(self) -> WebhookSecrets:
        try:
            return await asyncio.to_thread(self._secrets)
        except ManagementError as exc:
            log.warning("webhook: cannot read the webhook secrets: %s", exc)
            raise WebhookRefused(503, "cannot read the webhook secrets now; try again") from None

    async def refresh(self, push: Push) -> list[str]:
        """Signal ``refresh`` to every running app of this task queue that follows the pushed repo and
        branch; their names, sorted."""
        query = webhooks.visibility_query(push, self._task_queue)
        try:
            candidates = [execution.id async for execution in self._client.list_workflows(query)]
        except RPCError as exc:
            log.warning("webhook: cannot list app workflows: %s", exc.message)
            raise WebhookRefused(503, "cannot list the app workflows now; try again") from None
        limit = asyncio.Semaphore(CONCURRENT_APPS)

        async def refresh_if_wanted(workflow_id: str) -> str | None:
            async with limit:
                handle = self._client.get_workflow_handle(workflow_id)
                try:
                    application: dict[str, Any] = await handle.query(AppQuery.APPLICATION, result_type=dict)
                    moved = webhooks.application_refresh(application, push)
                    if not moved:
                        return None
                    if self._before_refresh is not None:
                        try:
                            await asyncio.to_thread(self._before_refresh, moved)
                        except OSError as exc:  # the refresh still runs; a cached revision may delay it
                            log.warning("webhook: could not mark %s stale: %s", ", ".join(moved), exc)
                    await handle.signal(AppSignal.REFRESH, RefreshRequest())
                except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
                    # ended meanwhile, or its worker is busy: it refreshes on its timer
                    log.info("webhook: could not refresh %s: %s", workflow_id, exc)
                    return None
                return app_name_of(workflow_id)

        results = await asyncio.gather(*(refresh_if_wanted(w) for w in dict.fromkeys(candidates)))
        return sorted(name for name in results if name)


@contextlib.asynccontextmanager
async def webhook_route(client: Client, config: WorkerConfig) -> AsyncIterator[None]:
    """Serve ``/api/webhook`` while the block runs: on ``BOSUN_WEBHOOK_PORT`` when set (a server of
    its own: with ``--processes N`` the supervisor holds ``BOSUN_HTTP_PORT`` and process 0 the
    webhook port), else on the probes' ``BOSUN_HTTP_PORT``. Only where the management cluster
    holds the secrets and this process runs the app workflows' task queue."""
    access = config.management()
    port = config.webhook_port or config.http_port
    if access is None or not config.main_queue or not port:
        yield
        return
    endpoint = WebhookEndpoint(
        client,
        config.task_queue,
        WebhookSecretsReader.of(access, namespace=config.control_namespace).snapshot,
        max_bytes=config.webhook_max_bytes,
        before_refresh=revisions.stale_marker(config.home),
        count=metrics.count_webhook_request,
    )
    health_server.REQUEST_ROUTES[webhooks.PATH] = endpoint
    log.info("git webhooks on http://0.0.0.0:%d%s", port, webhooks.PATH)
    try:
        if config.webhook_port:
            async with health_server.serving(config.webhook_port, lambda: True):
                yield
        else:
            yield
    finally:
        health_server.REQUEST_ROUTES.pop(webhooks.PATH, None)
