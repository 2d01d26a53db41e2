"""Private Git servers on loopback for end-to-end tests: smart HTTP with Basic auth, and SSH;
and a private Helm chart repository.

:class:`HttpGitServer` is ``git http-backend`` run as CGI behind a Basic-auth check, in a
thread of this process (plain HTTP: it only listens on 127.0.0.1). :class:`SshGitServer`
is Debian's OpenSSH ``sshd`` on a free loopback port with its own host key, a temp config
and an ``authorized_keys`` holding a key generated for the test; it logs in as the user
running the tests (root in CI), so ``git-upload-pack`` runs as that user.

Both serve bare repositories from their own directory; :meth:`publish` pushes a
:class:`~tests.e2e.bosun_stack.GitRepo` there and returns the URL an app uses.

:class:`HelmChartServer` is a Helm chart repository (``index.yaml`` and ``.tgz`` files,
made by the real ``helm package`` and ``helm repo index``) served as static files behind
the same Basic-auth check; :meth:`HelmChartServer.publish` packages a chart into it.
"""

from __future__ import annotations

import base64
import getpass
import hmac
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from tests.e2e.bosun_stack import GitRepo

SSHD = "/usr/sbin/sshd"


def _http_backend() -> str:
    path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    return str(Path(path) / "git-http-backend")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bare_copy(repo: GitRepo, root: Path, name: str) -> Path:
    target = root / f"{name}.git"
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(target)], check=True, capture_output=True)
    return target


def push(repo: GitRepo, bare: Path) -> None:
    """Send the repo's current branches to the served bare copy (after ``repo.write``)."""
    repo.git("push", "-q", "--force", str(bare), "refs/heads/*:refs/heads/*")


# ----------------------------------------------------------------------------- HTTP


@dataclass
class HttpGitServer:
    """Smart-HTTP git with Basic auth; ``users`` maps a username to its password/token."""

    root: Path
    users: dict[str, str]
    port: int = 0
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status) of every request served."""
    _server: ThreadingHTTPServer | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def publish(self, repo: GitRepo, name: str) -> str:
        _bare_copy(repo, self.root, name)
        return self.url(name)

    def bare(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def start(self) -> None:
        backend = _http_backend()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _authorized(self) -> bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False
                expected = server.users.get(user)
                return expected is not None and hmac.compare_digest(expected, password)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _serve(self) -> None:
                path, _, query = self.path.partition("?")
                if not self._authorized():
                    self._reply(401, b"authentication required\n", {"WWW-Authenticate": 'Basic realm="bosun-test"'})
                    return
                body = self._body()
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": "127.0.0.1",
                    "REMOTE_USER": "test",
                    "GATEWAY_INTERFACE": "CGI/1.1",
                    "SERVER_PROTOCOL": "HTTP/1.1",
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                proc = subprocess.run([backend], input=body, env=env, capture_output=True, timeout=60)
                head, _, payload = proc.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = proc.stdout.partition(b"\n\n")
                status, headers = 200, {}
                for line in head.decode(errors="replace").splitlines():
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers[key.strip()] = value.strip()
                self._reply(status, payload, headers)

            def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                server.requests.append((self.command, self.path, status))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class HelmChartServer:
    """A Helm chart repository behind Basic auth; ``users`` maps a username to its password."""

    root: Path
    users: dict[str, str]
    port: int = 0
    requests: list[tuple[str, int]] = field(default_factory=list)
    """(path, status) of every request served."""
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/charts"

    def publish(self, chart: Path) -> None:
        """``helm package`` the chart directory ``chart`` into the repository; index it again."""
        from devstack import tools

        helm = str(tools.helm())
        served = self.root / "charts"
        env = {"HOME": str(self.root / "helm-home"), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for args in (["package", str(chart), "-d", str(served)], ["repo", "index", str(served), "--url", self.url]):
            subprocess.run([helm, *args], env=env, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        (self.root / "charts").mkdir(parents=True, exist_ok=True)
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(server.root), **kwargs)

            def do_GET(self) -> None:
                if self._authorized():
                    super().do_GET()

            def do_HEAD(self) -> None:
                if self._authorized():
                    super().do_HEAD()

            def _authorized(self) -> bool:
                if _basic_auth_ok(self.headers.get("Authorization", ""), server.users):
                    server.requests.append((self.path, 200))
                    return True
                server.requests.append((self.path, 401))
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="bosun-charts"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _basic_auth_ok(header: str, users: dict[str, str]) -> bool:
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    expected = users.get(user)
    return expected is not None and hmac.compare_digest(expected, password)


# ----------------------------------------------------------------------------- SSH


@dataclass
class SshGitServer:
    """OpenSSH's sshd on a loopback port; the client key pair is ``client_key``(``.pub``)."""

    root: Path
    port: int = 0
    user: str = field(default_factory=getpass.getuser)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def client_key(self) -> Path:
        return self.root / "client" / "id_ed25519"

    @property
    def host_key(self) -> Path:
        return self.root / "etc" / "ssh_host_ed25519_key"

    @property
    def log(self) -> Path:
        return self.root / "sshd.log"

    def private_key(self) -> str:
        return self.client_key.read_text()

    def known_hosts_line(self) -> str:
        """This server's host key as a known_hosts line (Argo CD's ssh_known_hosts)."""
        key = (self.host_key.parent / (self.host_key.name + ".pub")).read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}"

    def url(self, name: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.repos / (name + '.git')}"

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    def publish(self, repo: GitRepo, name: str) -> str:
        _bare_copy(repo, self.repos, name)
        return self.url(name)

    def start(self) -> None:
        etc, client = self.host_key.parent, self.client_key.parent
        for directory in (etc, client, self.repos):
            directory.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bosun-test", "-f", str(key)],
                check=True,
                capture_output=True,
            )
        authorized = etc / "authorized_keys"
        pub = (client / "id_ed25519.pub").read_text().strip()
        authorized.write_text(f"restrict {pub}\n")
        authorized.chmod(0o600)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        self.port = _free_port()
        config = etc / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {authorized}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        self._proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start:\n{self.log.read_text()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


# ----------------------------------------------------------------------------- fixtures


class _Server(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


def _running(server: S) -> Iterator[S]:
    """Start ``server`` for the session, stop it after."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpGitServer]:
    """A smart-HTTP git server with Basic auth; add users with ``server.users[u] = p``."""
    yield from _running(HttpGitServer(root=tmp_path_factory.mktemp("http-git"), users={}))


@pytest.fixture(scope="session")
def ssh_git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    if not Path(SSHD).exists():
        pytest.fail(f"{SSHD} not found: install openssh-server (scripts/setup does)")
    yield from _running(SshGitServer(root=tmp_path_factory.mktemp("ssh-git")))


@pytest.fixture(scope="session")
def helm_chart_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmChartServer]:
    """A private Helm chart repository; add users with ``server.users[u] = p``."""
    yield from _running(HelmChartServer(root=tmp_path_factory.mktemp("helm-charts"), users={}))
