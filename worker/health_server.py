"""``/healthz`` and ``/readyz`` for Kubernetes probes: a tiny asyncio HTTP server, no dependency.

- ``/healthz`` answers 200 whenever the process's event loop runs the handler: a worker whose loop
  is blocked (or dead) fails its liveness probe and is restarted.
- ``/readyz`` answers 200 once the worker is connected to Temporal and polling (:class:`Readiness`
  set by ``worker.main.run``; for ``--processes N`` the supervisor's view of all its children), else 503.

- ``/metrics`` answers the Prometheus exposition (:mod:`worker.metrics`) when the worker gives one.

The server starts before the worker connects, so ``/readyz`` says 503 while Temporal is unreachable.
Port from ``BOSUN_HTTP_PORT`` (0: no server). To add an endpoint, add a path to ``_routes``: a
function returning ``(status, body)`` or ``(status, body, content type)``, or a coroutine of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)

READY_FD_ENV = "BOSUN_READY_FD"
"""A pipe to the supervisor (``worker.supervisor``): the child writes b"1\\n" when ready, b"0\\n" when not."""

REQUEST_ROUTES: dict[str, Callable[[str, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]] = {}
"""Paths whose handler reads the rest of the request and writes the whole response itself (given the
method): ``worker.webhooks`` adds ``/api/webhook`` once the worker is connected."""


class Readiness:
    """Whether this worker polls its task queues; told to the supervisor too when one started us."""

    def __init__(self, report_fd: int | None = None) -> None:
        self.ready = False
        self._report_fd = report_fd

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Readiness:
        value = (os.environ if env is None else env).get(READY_FD_ENV, "")
        return cls(int(value) if value.isdigit() else None)

    def set(self, ready: bool) -> None:
        self.ready = ready
        if self._report_fd is not None:
            try:
                os.write(self._report_fd, b"1\n" if ready else b"0\n")
            except OSError:  # the supervisor is gone: nobody to tell
                self._report_fd = None


TEXT = "text/plain; charset=utf-8"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' text exposition format, which every Prometheus version reads."""
Reply = tuple[int, str] | tuple[int, str, str]
Route = Callable[[], Reply | Awaitable[Reply]]


def _response(status: int, body: str, content_type: str = TEXT) -> bytes:
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    payload = body.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


def _routes(ready: Callable[[], bool], metrics: Callable[[], Awaitable[bytes]] | None) -> dict[str, Route]:
    routes: dict[str, Route] = {
        "/healthz": lambda: (200, "ok\n"),
        "/readyz": lambda: (
            (200, "ready\n") if ready() else (503, "not ready: not connected to Temporal or not polling\n")
        ),
    }
    if metrics is not None:

        async def exposition() -> Reply:
            return (200, (await metrics()).decode(), PROMETHEUS_TEXT)

        routes["/metrics"] = exposition
    return routes


async def _reply(route: Route | None, path: str) -> Reply:
    if route is None:
        return (404, f"unknown path {path!r}; try /healthz, /readyz or /metrics\n")
    try:
        reply = route()
        return await reply if inspect.isawaitable(reply) else reply
    except Exception:
        log.exception("%s failed", path)
        return (500, f"{path} failed; see the worker's log\n")


async def _handle(routes: dict[str, Route], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), timeout=5)
        parts = request_line.decode("latin-1").split()
        request_route = REQUEST_ROUTES.get(parts[1].split("?", 1)[0]) if len(parts) >= 2 else None
        if request_route is not None:  # it reads the headers and body and writes the response itself
            return await request_route(parts[0], reader, writer)
        path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
        writer.write(_response(*await _reply(routes.get(path), path)))
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serving(
    port: int,
    ready: Callable[[], bool],
    *,
    host: str = "0.0.0.0",  # noqa: S104 - probes come from the kubelet
    metrics: Callable[[], Awaitable[bytes]] | None = None,
) -> AsyncIterator[int]:
    """Serve the probes (and ``/metrics`` with ``metrics``) on ``port`` (0: nothing) while the block
    runs; yields the port."""
    if not port:
        yield 0
        return
    routes = _routes(ready, metrics)
    try:
        server = await asyncio.start_server(lambda r, w: _handle(routes, r, w), host=host, port=port)
    except OSError as exc:
        raise SystemExit(f"cannot serve /healthz and /readyz on port {port} (BOSUN_HTTP_PORT): {exc}") from exc
    log.info("health endpoints on http://%s:%d/healthz and /readyz", host, port)
    async with server:
        yield port
