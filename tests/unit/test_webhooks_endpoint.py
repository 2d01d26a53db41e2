"""``POST /api/webhook`` through the worker's real HTTP server, with a fake Temporal client.

What is checked: the HTTP answers (405, 413, 400, 401, 403, 503), that a refused request signals
nothing, and that a push signals exactly the running apps whose sources follow the pushed
repository and branch.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from activities.management import ManagementError
from bosun import search_attributes, webhooks
from bosun.protocol import AppQuery, AppSignal, app_workflow_id
from bosun.webhooks import WebhookSecrets
from tests.unit.webhook_requests import SECRETS, fixture, signed_headers, with_repo
from worker import health_server
from worker.webhooks import WebhookEndpoint

QUEUE = "bosun-test"


@dataclass
class FakeExecution:
    id: str


@dataclass
class FakeHandle:
    client: FakeClient
    id: str

    async def query(self, name: str, *, result_type: Any = None) -> Any:
        assert name == AppQuery.APPLICATION
        return self.client.apps[self.id]

    async def signal(self, name: str, arg: Any) -> None:
        assert name == AppSignal.REFRESH
        self.client.signalled.append(self.id)


@dataclass
class FakeClient:
    """Visibility as Temporal answers ``BosunRepos IN (...)``: the apps using one of the keys."""

    apps: dict[str, dict[str, Any]]
    signalled: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)

    async def list_workflows(self, query: str) -> AsyncIterator[FakeExecution]:
        self.queries.append(query)
        for workflow_id, app in self.apps.items():
            keys = {f"'{k}'" for k in search_attributes.repo_items(u for u, _ in webhooks.sources_of(app))}
            if any(k in query for k in keys):
                yield FakeExecution(workflow_id)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id)


def app(name: str, *sources: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    spec = {"sources": [{"repoURL": url, "targetRevision": rev, "path": "."} for url, rev in sources]}
    return app_workflow_id(name), {"metadata": {"name": name}, "spec": spec}


@pytest.fixture
def port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def client() -> FakeClient:
    return FakeClient(
        dict(
            [
                app("on-main", ("git@github.com:example-org/guestbook.git", "main")),
                app("on-head", ("https://charts.example.com", "1.0"), ("https://github.com/Example-Org/Guestbook", "")),
                app("on-develop", ("https://github.com/example-org/guestbook", "develop")),
                app("other-repo", ("https://github.com/example-org/other", "main")),
            ]
        )
    )


@pytest.fixture
def route(client: FakeClient) -> Iterator[WebhookEndpoint]:
    endpoint = WebhookEndpoint(client, QUEUE, lambda: WebhookSecrets(SECRETS), max_bytes=64 * 1024)  # type: ignore[arg-type]
    health_server.REQUEST_ROUTES[webhooks.PATH] = endpoint
    yield endpoint
    health_server.REQUEST_ROUTES.pop(webhooks.PATH, None)


async def post(port: int, headers: dict[str, str], body: bytes, *, method: str = "POST") -> tuple[int, str]:
    async with health_server.serving(port, lambda: True, host="127.0.0.1"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"{method} {webhooks.PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    status_line, _, rest = response.decode().partition("\r\n")
    return int(status_line.split()[1]), rest.split("\r\n\r\n", 1)[1]


async def test_a_signed_github_push_refreshes_the_apps_on_that_repo_and_branch(
    port: int, client: FakeClient, route: WebhookEndpoint
) -> None:
    body = json.dumps(fixture(webhooks.GITHUB)).encode()
    status, text = await post(port, signed_headers(webhooks.GITHUB, body, SECRETS), body)
    assert status == 200, text
    assert sorted(client.signalled) == [app_workflow_id("on-head"), app_workflow_id("on-main")]
    assert "refreshed 2 app(s): on-head, on-main" in text
    assert f"TaskQueue = '{QUEUE}'" in client.queries[0]
    assert "BosunRepos IN ('github.com/example-org/guestbook')" in client.queries[0]


@pytest.mark.parametrize("provider", sorted(webhooks.PARSERS))
async def test_every_provider_signed_reaches_the_app(
    port: int, client: FakeClient, route: WebhookEndpoint, provider: str
) -> None:
    payload = with_repo(
        provider,
        fixture(provider),
        "https://github.com/example-org/guestbook.git",
        "git@github.com:example-org/guestbook.git",
        "develop",
    )
    body = json.dumps(payload).encode()
    status, text = await post(port, signed_headers(provider, body, SECRETS), body)
    assert status == 200, text
    assert app_workflow_id("on-develop") in client.signalled
    assert app_workflow_id("other-repo") not in client.signalled


@pytest.mark.parametrize(
    ("case", "want"),
    [("unsigned", 401), ("wrong", 403), ("get", 405), ("large", 413), ("junk", 400), ("unknown", 400)],
)
async def test_refused_requests_signal_nothing(
    port: int, client: FakeClient, route: WebhookEndpoint, case: str, want: int
) -> None:
    body = json.dumps(fixture(webhooks.GITHUB)).encode()
    headers = signed_headers(webhooks.GITHUB, body, SECRETS)
    method = "POST"
    if case == "unsigned":
        headers = signed_headers(webhooks.GITHUB, body, None)
    elif case == "wrong":
        headers = signed_headers(webhooks.GITHUB, body, {webhooks.GITHUB_SECRET: "guess"})
    elif case == "get":
        method = "GET"
    elif case == "large":
        body = b"{" + b" " * (64 * 1024) + b"}"
    elif case == "junk":
        body = b"not json"
        headers = signed_headers(webhooks.GITHUB, body, SECRETS)
    elif case == "unknown":
        headers = {"content-type": "application/json"}
    status, text = await post(port, headers, body, method=method)
    assert status == want, text
    assert client.signalled == []
    assert SECRETS[webhooks.GITHUB_SECRET] not in text


async def test_secrets_that_cannot_be_read_refuse_with_503(port: int, client: FakeClient) -> None:
    def unreadable() -> WebhookSecrets:
        raise ManagementError("management cluster unreachable", retryable=True)

    health_server.REQUEST_ROUTES[webhooks.PATH] = WebhookEndpoint(client, QUEUE, unreadable)  # type: ignore[arg-type]
    try:
        body = json.dumps(fixture(webhooks.GITHUB)).encode()
        status, _ = await post(port, signed_headers(webhooks.GITHUB, body, None), body)
    finally:
        health_server.REQUEST_ROUTES.pop(webhooks.PATH, None)
    assert status == 503
    assert client.signalled == []


async def test_health_endpoints_still_answer(port: int, route: WebhookEndpoint) -> None:
    async with health_server.serving(port, lambda: True, host="127.0.0.1"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 200 OK")
        writer.close()


def test_webhook_port_and_size_limit_come_from_the_environment() -> None:
    from worker.config import WorkerConfig

    default = WorkerConfig.from_env({})
    assert (default.webhook_port, default.webhook_max_bytes) == (0, 1024 * 1024)
    config = WorkerConfig.from_env({"BOSUN_WEBHOOK_PORT": "9090", "BOSUN_WEBHOOK_MAX_BYTES": "256Ki"})
    assert (config.webhook_port, config.webhook_max_bytes) == (9090, 256 * 1024)


def test_with_several_processes_only_process_0_serves_the_webhook_port() -> None:
    from worker.supervisor import Child, Supervisor

    supervisor = Supervisor(3, http_port=8080, shutdown_seconds=5, env={"BOSUN_WEBHOOK_PORT": "9090"})
    ports = [supervisor._child_env(Child(i), 7)["BOSUN_WEBHOOK_PORT"] for i in range(3)]
    assert ports == ["9090", "0", "0"]
    assert {supervisor._child_env(Child(i), 7)["BOSUN_HTTP_PORT"] for i in range(3)} == {"0"}


async def test_before_refresh_gets_the_moved_sources_as_the_apps_spell_them(port: int, client: FakeClient) -> None:
    told: list[list[str]] = []
    endpoint = WebhookEndpoint(client, QUEUE, lambda: WebhookSecrets(SECRETS), before_refresh=told.append)  # type: ignore[arg-type]
    health_server.REQUEST_ROUTES[webhooks.PATH] = endpoint
    try:
        body = json.dumps(fixture(webhooks.GITHUB)).encode()
        status, _ = await post(port, signed_headers(webhooks.GITHUB, body, SECRETS), body)
    finally:
        health_server.REQUEST_ROUTES.pop(webhooks.PATH, None)
    assert status == 200
    assert sorted(told) == [["git@github.com:example-org/guestbook.git"], ["https://github.com/Example-Org/Guestbook"]]


async def test_every_request_is_counted_by_provider_and_outcome(port: int, client: FakeClient) -> None:
    counted: list[tuple[str, str]] = []
    endpoint = WebhookEndpoint(
        client,  # type: ignore[arg-type]
        QUEUE,
        lambda: WebhookSecrets(SECRETS),
        count=lambda *, provider, outcome: counted.append((provider, outcome)),
    )
    health_server.REQUEST_ROUTES[webhooks.PATH] = endpoint
    try:
        body = json.dumps(fixture(webhooks.GITHUB)).encode()
        await post(port, signed_headers(webhooks.GITHUB, body, SECRETS), body)
        await post(port, signed_headers(webhooks.GITHUB, body, None), body)
        other = json.dumps(fixture(webhooks.GITLAB)).encode()
        await post(port, signed_headers(webhooks.GITLAB, other, SECRETS), other)
        await post(port, {}, b"{}")
        await post(port, signed_headers(webhooks.GITHUB, b"x", SECRETS), b"x", method="PUT")
    finally:
        health_server.REQUEST_ROUTES.pop(webhooks.PATH, None)
    assert counted == [
        ("github", "refreshed"),
        ("github", "unauthorized"),
        ("gitlab", "ignored"),
        ("unknown", "bad_request"),
        ("github", "bad_request"),
    ]


async def test_past_the_concurrency_limit_requests_are_told_to_retry(
    port: int, client: FakeClient, route: WebhookEndpoint
) -> None:
    from worker.webhooks import CONCURRENT_REQUESTS

    route._in_flight = CONCURRENT_REQUESTS  # as if that many senders were still sending
    body = json.dumps(fixture(webhooks.GITHUB)).encode()
    status, text = await post(port, signed_headers(webhooks.GITHUB, body, SECRETS), body)
    assert (status, client.signalled) == (503, [])
    assert "try again" in text
    route._in_flight = 0
    status, _ = await post(port, signed_headers(webhooks.GITHUB, body, SECRETS), body)
    assert status == 200
