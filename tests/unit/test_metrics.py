"""Bosun's Prometheus metrics (bosun/metrics.py, worker/metrics.py, the ApiClient that counts):
Argo CD's names and labels, no credentials in labels, and the exposition /metrics serves."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from activities.kubeaccess import CountingApiClient, KubeconfigAccess, client_from_dict
from bosun import metrics
from tests.unit.test_kubeaccess import write
from worker.health_server import serving
from worker.metrics import MetricsEndpoint, app_info_family, app_info_labels


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples named ``name`` in an exposition."""
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def exposition() -> str:
    return asyncio.run(MetricsEndpoint().render()).decode()


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/a/configmaps/x", "", ("get", "configmaps", "a", False)),
        ("GET", "/api/v1/namespaces/a/configmaps", "labelSelector=x", ("list", "configmaps", "a", False)),
        ("GET", "/apis/apps/v1/deployments", "", ("list", "deployments", "", False)),
        (
            "GET",
            "/apis/apps/v1/namespaces/a/deployments",
            "watch=True&resourceVersion=5",
            ("watch", "deployments", "a", False),
        ),
        ("GET", "/api/v1/watch/namespaces/a/pods", "", ("watch", "pods", "a", False)),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/a/deployments/web",
            "dryRun=All&fieldManager=bosun",
            ("patch", "deployments", "a", True),
        ),
        ("PATCH", "/apis/apps/v1/namespaces/a/deployments/web/status", "", ("patch", "deployments", "a", False)),
        ("POST", "/api/v1/namespaces", "", ("create", "namespaces", "", False)),
        ("GET", "/api/v1/namespaces/a", "", ("get", "namespaces", "", False)),
        ("PUT", "/apis/x.io/v1/namespaces/a/things/t", "", ("update", "things", "a", False)),
        ("DELETE", "/api/v1/namespaces/a/pods/p", "", ("delete", "pods", "a", False)),
        ("DELETE", "/api/v1/namespaces/a/pods", "", ("deletecollection", "pods", "a", False)),
        ("GET", "/version", "", ("get", "", "", False)),
        ("GET", "/apis", "", ("get", "", "", False)),
    ],
)
def test_kubernetes_requests_are_named_as_the_api_server_names_them(
    method: str, path: str, query: str, expected: tuple[str, str, str, bool]
) -> None:
    assert metrics.describe_k8s_request(method, path, query) == expected


@pytest.mark.parametrize(
    ("workflow_id", "expected"),
    [
        ("app:guestbook", ("bosun", "guestbook")),
        ("app:guestbook:sync:3", ("bosun", "guestbook")),
        ("app:team-a/web", ("team-a", "web")),
        ("app:team-a/web:sync:12", ("team-a", "web")),
        ("rollout:in-cluster:a/r", ("", "")),
    ],
)
def test_the_app_of_a_workflow(monkeypatch: pytest.MonkeyPatch, workflow_id: str, expected: tuple[str, str]) -> None:
    monkeypatch.setattr(metrics, "home_namespace", "bosun")
    assert metrics.app_of_workflow(workflow_id) == expected


class _FakeApiServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        found = self.path.startswith("/api/v1/namespaces/counted/configmaps/here")
        body = json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "here", "namespace": "counted"}}
            if found
            else {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
        ).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApiServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _requests(server: str) -> dict[tuple[str, str], float]:
    return {
        (labels["verb"], labels["response_code"]): value
        for labels, value in samples(exposition(), "argocd_app_k8s_request_total")
        if labels["server"] == server and labels["resource_namespace"] == "counted"
    }


def test_every_client_counts_its_requests_with_their_status(api_server: str, tmp_path: Path) -> None:
    user = {"token": "s3cr3t-token"}
    access = KubeconfigAccess.of(write(tmp_path / "config", "c", {"c": (api_server, user)}))
    client = access.api_client()
    assert isinstance(client, CountingApiClient)
    core = CoreV1Api(client)
    core.read_namespaced_config_map("here", "counted")
    core.read_namespaced_config_map("here", "counted")
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", "counted")
    assert _requests(api_server) == {("get", "200"): 2, ("get", "404"): 1}
    text = exposition()
    assert "s3cr3t-token" not in text and "missing" not in text and 'resource_kind="configmaps"' in text


def test_a_cluster_secret_client_counts_too(api_server: str, tmp_path: Path) -> None:
    document = json.loads(
        json.dumps(
            {
                "apiVersion": "v1",
                "clusters": [{"name": "x", "cluster": {"server": api_server}}],
                "users": [{"name": "x", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
            }
        )
    )
    client = client_from_dict(document, "x")
    assert isinstance(client, CountingApiClient)
    with pytest.raises(ApiException):  # the fake API server knows one ConfigMap only
        CoreV1Api(client).list_namespaced_config_map("counted")
    assert _requests(api_server).get(("list", "404")) == 1


def test_git_requests_and_reconciles_are_histograms_with_argo_cds_buckets() -> None:
    metrics.observe_git_request(repo="https://git.example/unit-test.git", request_type="ls-remote", seconds=0.3)
    metrics.observe_reconcile(app_namespace="unit-ns", dest_server="https://unit.example", seconds=3)
    text = exposition()
    git = samples(text, "argocd_git_request_total")
    assert ({"repo": "https://git.example/unit-test.git", "request_type": "ls-remote"}, 1.0) in git
    buckets = {
        labels["le"]: value
        for labels, value in samples(text, "argocd_git_request_duration_seconds_bucket")
        if labels["repo"] == "https://git.example/unit-test.git"
    }
    assert list(buckets) == ["0.1", "0.25", "0.5", "1.0", "2.0", "4.0", "10.0", "20.0", "+Inf"]
    assert (buckets["0.25"], buckets["0.5"]) == (0, 1)
    reconcile = {
        labels["le"]: value
        for labels, value in samples(text, "argocd_app_reconcile_bucket")
        if labels == {**labels, "namespace": "unit-ns", "dest_server": "https://unit.example"}
    }
    assert list(reconcile) == ["0.25", "0.5", "1.0", "2.0", "4.0", "8.0", "16.0", "+Inf"]
    assert (reconcile["2.0"], reconcile["4.0"]) == (0, 1)


def test_the_compare_activity_is_timed_failed_or_not() -> None:
    class Input:
        app = "team-t/timed"
        destination = type("D", (), {"server": "", "name": "timed-cluster"})()

    class Activities:
        @metrics.timed_reconcile
        def compare(self, input: Input) -> str:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Activities().compare(Input())
    counts = [
        value
        for labels, value in samples(exposition(), "argocd_app_reconcile_count")
        if labels == {"namespace": "team-t", "dest_server": "timed-cluster"}
    ]
    assert counts == [1]


def test_watch_cache_objects_add_up_per_cluster() -> None:
    metrics.set_watch_cache_objects(server="https://cache.example", kind="ConfigMap", count=7)
    metrics.set_watch_cache_objects(server="https://cache.example", kind="apps/Deployment", count=3)
    metrics.set_watch_cache_objects(server="https://cache.example", kind="ConfigMap", count=5)
    text = exposition()
    assert ({"server": "https://cache.example"}, 8.0) in samples(text, "argocd_cluster_api_resource_objects")
    assert ({"server": "https://cache.example", "kind": "ConfigMap"}, 5.0) in samples(text, "bosun_watch_cache_objects")


def test_webhook_requests_and_syncs_are_counted() -> None:
    metrics.count_webhook_request(provider="github", outcome="unauthorized")
    metrics.count_sync(app="s", app_namespace="bosun", project="p", dest_server="https://s.example", phase="Succeeded")
    text = exposition()
    assert ({"provider": "github", "outcome": "unauthorized"}, 1.0) in samples(text, "bosun_webhook_requests_total")
    synced = samples(text, "argocd_app_sync_total")
    assert (
        {"namespace": "bosun", "name": "s", "project": "p", "dest_server": "https://s.example", "phase": "Succeeded"},
        1.0,
    ) in synced


def test_app_info_has_argo_cds_labels() -> None:
    attributes = {
        "BosunProject": "default",
        "BosunCluster": "https://kubernetes.default.svc",
        "BosunNamespace": "web",
        "BosunSyncStatus": "Synced",
        "BosunHealthStatus": "Healthy",
        "BosunOperation": "idle",
        "BosunRepos": "github.com/org/web",
    }
    labels = app_info_labels("app:team-a/web", lambda name: attributes.get(name, ""), {"autosync": True})
    assert labels == {
        "namespace": "team-a",
        "name": "web",
        "project": "default",
        "repo": "github.com/org/web",
        "dest_server": "https://kubernetes.default.svc",
        "dest_namespace": "web",
        "sync_status": "Synced",
        "health_status": "Healthy",
        "operation": "idle",
        "autosync_enabled": "true",
    }
    family = app_info_family([labels])
    manual = app_info_labels("app:web", lambda name: attributes.get(name, ""), {"autosync": False})
    assert manual["autosync_enabled"] == "false"
    # a workflow that has not set the memo yet (or ran before it existed): unknown, not "false"
    assert app_info_labels("app:web", lambda name: attributes.get(name, ""))["autosync_enabled"] == ""
    assert family.name == "argocd_app_info" and family.samples[0].value == 1


async def test_the_http_server_serves_the_exposition() -> None:
    from tests.unit.test_worker_scaleout import _free_port

    port = _free_port()

    async def render() -> bytes:
        return b"# HELP x y\nx 1\n"

    async with serving(port, lambda: True, host="127.0.0.1", metrics=render):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        response = (await reader.read()).decode()
        writer.close()
    head, body = response.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 200") and "Content-Type: text/plain; version=0.0.4" in head
    assert body == "# HELP x y\nx 1\n"


async def test_a_failing_exposition_is_a_500_not_a_dead_server() -> None:
    from tests.unit.test_worker_scaleout import _free_port, _get

    port = _free_port()

    async def render() -> bytes:
        raise RuntimeError("visibility down")

    async with serving(port, lambda: True, host="127.0.0.1", metrics=render):
        assert (await _get(port, "/metrics"))[0] == 500
        assert await _get(port, "/healthz") == (200, "ok\n")


def test_the_dashboard_uses_only_metrics_we_export() -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana" / "bosun.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs

    for expr in exprs:
        names = set(re.findall(r"\b(?:argocd|bosun|temporal)_[a-z0-9_]+", expr))
        assert names, expr
        for name in names:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            exported = metrics.EXPORTED | metrics.SDK_EXPORTED
            assert name in exported or base in exported, f"{name} in {expr!r} is not exported"


async def test_a_fact_that_cannot_be_read_keeps_its_last_value() -> None:
    from worker.metrics import Cached

    answers: list[Any] = [["first"], RuntimeError("visibility down")]

    async def fetch() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cached = Cached(fetch, seconds=0)
    await cached.refresh()
    await cached.refresh()
    assert cached.value == ["first"] and not answers


def test_the_sdk_metrics_port_is_off_by_default_and_per_process_otherwise() -> None:
    from worker.config import WorkerConfig
    from worker.metrics import sdk_runtime

    assert WorkerConfig.from_env({}).sdk_metrics_port == 0
    assert sdk_runtime(0, 3) is None


async def test_the_supervisor_sums_its_childrens_metrics(tmp_path: Path) -> None:
    """Two children's counters (prometheus_client's multiprocess files) served as one, with process
    0's scrape-time facts; a stale scrape-time file is left out."""
    import os
    import subprocess
    import sys
    import time

    from worker.metrics_processes import SCRAPE_TIME_FILE, ProcessMetrics

    processes = ProcessMetrics()
    count = (
        "from bosun import metrics; "
        "metrics.count_webhook_request(provider='gitea', outcome='refreshed'); "
        "metrics.set_watch_cache_objects(server='https://multi.example', kind='ConfigMap', count=2)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env={**os.environ, **processes.env()}, check=True)
    (processes.directory / SCRAPE_TIME_FILE).write_text('argocd_app_info{name="once"} 1\n')
    try:
        text = (await processes.render()).decode()
        assert ({"provider": "gitea", "outcome": "refreshed"}, 2.0) in samples(text, "bosun_webhook_requests_total")
        assert 'argocd_app_info{name="once"} 1' in text
        stale = time.time() - 600
        os.utime(processes.directory / SCRAPE_TIME_FILE, (stale, stale))
        assert "argocd_app_info" not in (await processes.render()).decode()
    finally:
        processes.close()
    assert not processes.directory.exists()


async def test_process_0_reads_the_scrape_time_facts_only_while_someone_scrapes(tmp_path: Path) -> None:
    """Unscraped, listing every app from visibility each 15 s was a quarter of process 0's Python
    time at 1,000 apps: the facts are read once the supervisor has been scraped, and kept fresh."""
    import asyncio

    from worker.metrics import MetricsEndpoint
    from worker.metrics_processes import SCRAPE_TIME_FILE, ProcessMetrics, scraped_recently

    processes = ProcessMetrics()
    path = processes.directory / SCRAPE_TIME_FILE
    reads: list[int] = []

    class Endpoint:
        async def scrape_time(self) -> bytes:
            reads.append(1)
            return b'argocd_app_info{name="web"} 1\n'

    stop = asyncio.Event()
    try:
        writing = asyncio.create_task(
            MetricsEndpoint.write_scrape_time(Endpoint(), path, stop, lambda: scraped_recently(path))  # type: ignore[arg-type]
        )
        await asyncio.sleep(1.5)
        assert reads == [] and not path.exists()  # nobody scraped: nothing read
        first = (await processes.render()).decode()  # a scrape
        assert "argocd_app_info" not in first  # not read yet: left out, never invented
        for _ in range(30):
            await asyncio.sleep(0.1)
            if path.exists():
                break
        assert reads == [1] and 'argocd_app_info{name="web"} 1' in (await processes.render()).decode()
        stop.set()
        await writing
    finally:
        processes.close()
