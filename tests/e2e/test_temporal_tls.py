"""The CLI and the worker reach a Temporal endpoint that needs mutual TLS, configured as for the
``temporal`` CLI: ``TEMPORAL_TLS_*`` variables or a ``temporal.toml`` profile (issue 14, item 3).

``temporal server start-dev`` serves plaintext only (it has no TLS flags), so the test fronts it
with a TLS-terminating TCP proxy that demands a client certificate signed by its CA and offers
ALPN ``h2`` (gRPC's HTTP/2 then passes through unchanged to the dev server, which speaks h2c).
The certificates are the devcluster's kind (:func:`devstack.pki.generate`): a CA, a serving
certificate for 127.0.0.1, a client certificate; a second, unrelated PKI gives the wrong CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hpack
import pytest

from devstack.pki import Pki, generate
from tests.conftest import Cluster, TemporalServer
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import kubectl
from tests.e2e.test_app_lifecycle import configmap, live, wait_status

CLIENT_USER = "admin"  # a client certificate devstack.pki makes (CN=admin)
BOSUN_TEMPORAL_VARIABLES = ("BOSUN_TEMPORAL_ADDRESS", "BOSUN_NAMESPACE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")


@dataclass
class TlsProxy:
    """A TLS-terminating proxy in front of a plaintext gRPC server, on its own event loop thread.

    ``clients`` records the common name of the client certificate of every connection whose TLS
    handshake completed (a failed handshake never reaches ``_handle``); ``authorizations`` the
    ``authorization`` header of every gRPC call (:class:`HeaderReader`).
    """

    upstream: tuple[str, int]
    pki: Pki
    port: int = 0
    clients: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.AbstractServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        context.load_verify_locations(cafile=str(self.pki.ca_cert))
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=context)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            loop.run_forever()

        threading.Thread(target=run, name="tls-proxy", daemon=True).start()
        assert ready.wait(30), "the TLS proxy did not start"

    def stop(self) -> None:
        if self._loop is not None:
            if self._server is not None:
                self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        subject = dict(item[0] for item in peer.get("subject", ()))
        self.clients.append(str(subject.get("commonName", "")))
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        headers = HeaderReader(self.authorizations)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, inspect: bool = False) -> None:
            try:
                while data := await src.read(65536):
                    if inspect:
                        headers.feed(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer, inspect=True), pipe(up_reader, writer))


class HeaderReader:
    """Reads the HTTP/2 frames a client sends and records the ``authorization`` header of each request.

    After the connection preface, a frame is a 9-byte header (length, type, flags, stream) and its
    payload (RFC 9113 section 4.1); a request's headers are a HEADERS frame and its CONTINUATIONs,
    HPACK-encoded with one dynamic table per connection, so every header block is decoded in order.
    """

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    HEADERS, CONTINUATION = 0x1, 0x9
    END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20

    def __init__(self, found: list[str]) -> None:
        self.found = found
        self.buffer = b""
        self.preface_seen = False
        self.block = b""
        self.decoder = hpack.Decoder()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if not self.preface_seen:
            if len(self.buffer) < len(self.PREFACE):
                return
            assert self.buffer.startswith(self.PREFACE), "not HTTP/2 (ALPN h2 expected)"
            self.buffer = self.buffer[len(self.PREFACE) :]
            self.preface_seen = True
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            kind, flags, payload = self.buffer[3], self.buffer[4], self.buffer[9 : 9 + length]
            self.buffer = self.buffer[9 + length :]
            if kind == self.HEADERS:
                if flags & self.PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if flags & self.PRIORITY:
                    payload = payload[5:]
                self.block = payload
            elif kind == self.CONTINUATION:
                self.block += payload
            else:
                continue
            if flags & self.END_HEADERS:
                for name, value in self.decoder.decode(self.block, raw=True):
                    if name.lower() == b"authorization":
                        self.found.append(value.decode())
                self.block = b""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate(tmp_path_factory.mktemp("temporal-pki"))


@pytest.fixture(scope="module")
def proxy(temporal_server: TemporalServer, pki: Pki) -> Iterator[TlsProxy]:
    host, port = temporal_server.address.rsplit(":", 1)
    tls_proxy = TlsProxy(upstream=(host, int(port)), pki=pki)
    tls_proxy.start()
    try:
        yield tls_proxy
    finally:
        tls_proxy.stop()


def tls_env(proxy: TlsProxy, pki: Pki, *, ca: Path | None = None) -> dict[str, str]:
    """The variables a ``temporal`` CLI user sets for this endpoint."""
    return {
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pki.client_cert(CLIENT_USER)),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pki.client_key(CLIENT_USER)),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca or pki.ca_cert),
    }


def without_temporal_settings(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in BOSUN_TEMPORAL_VARIABLES and not k.startswith("TEMPORAL_")}


@pytest.fixture(scope="module")
def tls_bosun(
    proxy: TlsProxy, pki: Pki, devcluster_a: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bosun]:
    """A worker of its own (own task queue and home) that reaches Temporal only through the TLS proxy."""
    home = tmp_path_factory.mktemp("bosun-tls-home")
    kubectl(devcluster_a, "apply", "-f", str(Path(__file__).resolve().parents[2] / "deploy" / "crds"))
    kubectl(devcluster_a, "create", "namespace", "bosun", check=False)
    stack = Bosun(
        temporal=TemporalServer(address=proxy.address, ui_url=None),
        home=home,
        kubeconfigs=[devcluster_a.kubeconfig],
        task_queue=f"bosun-tls-{uuid.uuid4().hex[:6]}",
        worker_log=home / "worker.log",
    )
    stack.env = {**without_temporal_settings(stack.env), **tls_env(proxy, pki)}
    stack.start_worker()
    try:
        yield stack
    finally:
        stack.stop_worker()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_worker_and_cli_over_mutual_tls_from_the_temporal_variables(
    tls_bosun: Bosun, proxy: TlsProxy, devcluster_a: Cluster, tmp_path: Path
) -> None:
    name, ns = unique("tls"), unique("tls-ns")
    repo = GitRepo.create(tmp_path / "repo", {"cm.yaml": configmap("settings", {"mode": "tls"})})

    tls_bosun.create_app(name, repo, namespace=ns)  # the CLI, with TEMPORAL_TLS_* only
    wait_status(tls_bosun, name, sync="Synced", health="Healthy", timeout=180)
    assert (live(devcluster_a, ns, "configmap", "settings") or {}).get("data") == {"mode": "tls"}

    listed = tls_bosun.cli("app", "list")
    assert name in listed.stdout
    log = tls_bosun.worker_log.read_text()
    assert f"on {proxy.address} namespace default (TLS, client certificate)" in log
    assert "admin.key" not in log and "PRIVATE KEY" not in log
    assert CLIENT_USER in proxy.clients  # the worker and the CLI presented the client certificate


def test_cli_from_a_temporal_toml_profile(tls_bosun: Bosun, proxy: TlsProxy, pki: Pki, tmp_path: Path) -> None:
    name = unique("tls-profile")
    repo = GitRepo.create(tmp_path / "repo", {"cm.yaml": configmap("settings", {"mode": "profile"})})
    tls_bosun.create_app(name, repo, namespace=unique("tls-ns"))
    tls = (
        f'client_cert_path = "{pki.client_cert(CLIENT_USER)}"\n'
        f'client_key_path = "{pki.client_key(CLIENT_USER)}"\n'
        f'server_ca_cert_path = "{pki.ca_cert}"\n'
    )
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.bosun-tls]\naddress = "{proxy.address}"\nnamespace = "default"\n'
        f"[profile.bosun-tls.tls]\n{tls}"
        f'[profile.stale]\naddress = "127.0.0.1:1"\n'  # nothing listens on port 1
        f"[profile.stale.tls]\n{tls}"
    )
    env = {
        **without_temporal_settings(tls_bosun.env),
        "TEMPORAL_CONFIG_FILE": str(config),
        "TEMPORAL_PROFILE": "bosun-tls",
    }
    got = run_cli(env, "app", "get", name, "-o", "json")
    assert got.returncode == 0, got.stderr
    assert f'"name": "{name}"' in got.stdout
    listed = run_cli(env, "app", "list")
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout
    # The same profile serves the temporal CLI.
    described = subprocess.run(
        [str(Path(sys.executable).parent / "temporal"), "workflow", "describe", "--workflow-id", f"app:{name}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert described.returncode == 0, described.stderr
    assert "ApplicationWorkflow" in described.stdout

    # The profile's address is used when nothing overrides it; --address and BOSUN_TEMPORAL_ADDRESS
    # win over it, and the profile's TLS settings still apply.
    stale = {**env, "TEMPORAL_PROFILE": "stale"}
    unreachable = run_cli(stale, "app", "list")
    assert unreachable.returncode == 5, unreachable.stderr
    assert "cannot reach Temporal at 127.0.0.1:1 namespace default (TLS, client certificate)" in unreachable.stderr
    flagged = run_cli(stale, "app", "list", "--address", proxy.address)
    assert flagged.returncode == 0, flagged.stderr
    assert name in flagged.stdout
    overridden = run_cli({**stale, "BOSUN_TEMPORAL_ADDRESS": proxy.address}, "app", "get", name)
    assert overridden.returncode == 0, overridden.stderr

    missing = run_cli({**env, "TEMPORAL_PROFILE": "nope"}, "app", "list")
    assert missing.returncode == 5
    assert missing.stderr.strip().splitlines() == [
        f"error: Temporal client configuration ({config}): Profile 'nope' not found"
    ]


def test_wrong_ca_is_a_clear_error_with_exit_code_5(
    tls_bosun: Bosun, proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    other = generate(tmp_path / "other-pki")
    env = {**without_temporal_settings(tls_bosun.env), **tls_env(proxy, pki, ca=other.ca_cert)}
    connections_before = len(proxy.clients)

    listed = run_cli(env, "app", "list")
    assert listed.returncode == 5, listed.stderr
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in listed.stderr, listed.stderr
    assert lines[0].startswith(f"error: cannot reach Temporal at {proxy.address} namespace default (TLS")
    assert "TEMPORAL_TLS_SERVER_CA_CERT_PATH" in lines[0], lines[0]  # the hint of what to check
    assert len(proxy.clients) == connections_before  # no handshake completed

    # The worker: one clear log line and exit code 5, no traceback.
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env={**env, "BOSUN_HOME": str(tmp_path / "home")},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            code = worker.wait(timeout=120)
        finally:
            if worker.poll() is None:
                worker.kill()
    text = log.read_text()
    assert code == 5, text
    assert "Traceback" not in text, text
    assert f"bosun worker cannot start: cannot reach Temporal at {proxy.address}" in text


def test_a_missing_client_certificate_file_is_named(
    tls_bosun: Bosun, proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    env = {
        **without_temporal_settings(tls_bosun.env),
        **tls_env(proxy, pki),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "missing.crt"),
    }
    started = time.monotonic()
    listed = run_cli(env, "app", "list")
    assert listed.returncode == 5
    assert listed.stderr.strip().splitlines() == [
        f"error: cannot read the Temporal client certificate (TEMPORAL_TLS_CLIENT_CERT_*) {tmp_path / 'missing.crt'}: "
        "No such file or directory"
    ]
    assert time.monotonic() - started < 60  # refused before any connection attempt


def test_an_api_key_is_sent_as_the_authorization_header_and_never_shown(
    tls_bosun: Bosun, proxy: TlsProxy, pki: Pki
) -> None:
    secret = f"bosun-test-key-{uuid.uuid4().hex}"
    env = {**without_temporal_settings(tls_bosun.env), **tls_env(proxy, pki), "TEMPORAL_API_KEY": secret}
    listed = run_cli(env, "app", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"Bearer {secret}" in proxy.authorizations
    assert secret not in listed.stdout + listed.stderr

    unreachable = run_cli({**env, "TEMPORAL_ADDRESS": "127.0.0.1:1"}, "app", "list")
    assert unreachable.returncode == 5
    assert "(TLS, client certificate, API key)" in unreachable.stderr
    assert secret not in unreachable.stdout + unreachable.stderr
