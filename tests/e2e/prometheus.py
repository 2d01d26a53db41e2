"""Real metric sources for analysis tests, all on loopback:

- :class:`Exporter`: a tiny Prometheus exporter (``/metrics``) serving gauges the test sets;
- :class:`Prometheus`: Debian's ``/usr/bin/prometheus`` (``scripts/setup`` installs it) with a
  temp config scraping the exporter every second, its TSDB in a temp directory;
- :class:`JsonServer`: an HTTP server answering JSON the test sets (the Web provider), and
  recording the requests' paths and headers.

Fixtures: ``exporter`` and ``prometheus`` (module scope: Prometheus takes a few seconds to
start), ``json_server`` (per test).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PROMETHEUS = Path("/usr/bin/prometheus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    """A ThreadingHTTPServer on a free loopback port, in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _ExporterHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        owner: Exporter = self.server.owner  # type: ignore[attr-defined]
        body = owner.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Exporter(_Server):
    """Gauges ``name{labels} value`` the test sets with :meth:`set`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[tuple[str, str], float] = {}
        super().__init__(_ExporterHandler)

    def set(self, name: str, value: float, **labels: str) -> None:
        rendered = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        with self._lock:
            self._gauges[(name, rendered)] = value

    def render(self) -> str:
        with self._lock:
            lines = [
                f"{n}{{{labels}}} {value}" if labels else f"{n} {value}" for (n, labels), value in self._gauges.items()
            ]
        return "\n".join(lines) + "\n"


class Prometheus:
    """``/usr/bin/prometheus`` scraping ``targets`` every second."""

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [{"job_name": "test", "static_configs": [{"targets": targets}]}],
                }
            )
        )
        self.log = workdir / "prometheus.log"
        self.process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, query: str) -> Any:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]["result"]

    def wait_for(self, query: str, value: float, *, timeout: float = 60) -> None:
        """Until ``query`` answers ``value`` (the exporter's latest value has been scraped)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = self.query(query)
            if last and float(last[0]["value"][1]) == value:
                return
            time.sleep(0.5)
        raise AssertionError(f"prometheus never answered {query} = {value}; last {last!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class _JsonHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        owner: JsonServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        owner.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
        )
        status, document = owner.answer
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer  # noqa: N815 - http.server's names
    do_POST = _answer  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JsonServer(_Server):
    """Answers every request with :attr:`answer` (status, JSON document)."""

    def __init__(self) -> None:
        self.answer: tuple[int, Any] = (200, {})
        self.requests: list[dict[str, Any]] = []
        super().__init__(_JsonHandler)


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if not PROMETHEUS.exists():
        pytest.fail("/usr/bin/prometheus is missing: run scripts/setup (it installs Debian's prometheus)")
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{exporter.port}"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    try:
        yield server
    finally:
        server.close()
