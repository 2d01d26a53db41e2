"""A cluster that stops answering after discovery: lookups that go back to the server
(a miss refreshes discovery) say "cluster unreachable" and are retryable, like every
other call, rather than escaping as a bare connection error."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes.client import ApiClient, Configuration

from activities import kubeaccess
from activities.kube import KubeClient, KubeError

DISCOVERY = {
    "/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
}


class _Discovery(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = DISCOVERY.get(self.path.split("?")[0])
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


def test_a_discovery_miss_on_a_stopped_cluster_is_retryable_and_says_unreachable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    client = KubeClient(ApiClient(config), name="doomed")
    assert client.served_kinds(namespaced=True) == []  # discovery worked while the server ran
    server.shutdown()
    server.server_close()

    with pytest.raises(KubeError) as raised:
        client.resource("example.com/v1", "Widget")  # a miss: discovery is fetched again
    assert raised.value.retryable
    assert "discovery of example.com/v1 Widget: cluster unreachable" in str(raised.value)


NAMESPACES = {
    **DISCOVERY,
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [{"name": "namespaces", "kind": "Namespace", "namespaced": False, "verbs": ["get"]}],
    },
}


class _Hangs(BaseHTTPRequestHandler):
    """Discovery answers (it serves Namespaces); any other request is accepted and never answered."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = NAMESPACES.get(self.path.split("?")[0])
        if body is None:
            threading.Event().wait(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


def test_a_cluster_that_never_answers_fails_the_call_within_the_request_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kubeaccess, "REQUEST_TIMEOUT", (1.0, 1.0))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hangs)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    client = KubeClient(kubeaccess.CountingApiClient(config), name="hung")
    started = time.monotonic()
    try:
        with pytest.raises(KubeError) as raised:
            client.get({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "stuck"}})
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.retryable
    assert time.monotonic() - started < 10
