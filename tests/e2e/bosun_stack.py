"""Fixtures that run Bosun itself for end-to-end tests: a worker process, the CLI, Git repos.

The worker runs as a real subprocess (``python -m worker``), so a test can SIGKILL it;
the CLI runs as a user runs it (``bosun ...``), against the real Temporal dev server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster, TemporalServer


@dataclass
class GitRepo:
    """A local repository the tests commit to; apps read it through ``file://``."""

    path: Path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        return subprocess.run(
            ["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def write(self, files: dict[str, str | None], message: str = "change") -> str:
        """Write (or, with None, delete) files and commit; returns the commit SHA."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    @classmethod
    def create(cls, path: Path, files: dict[str, str | None]) -> GitRepo:
        path.mkdir(parents=True)
        repo = cls(path)
        repo.git("init", "-q", "-b", "main")
        repo.write(files, "initial")
        return repo


@dataclass
class Bosun:
    """The CLI and worker of one test session."""

    temporal: TemporalServer
    home: Path
    kubeconfigs: list[Path]
    task_queue: str
    worker_log: Path
    worker: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "BOSUN_TEMPORAL_ADDRESS": self.temporal.address,
            "BOSUN_HOME": str(self.home),
            "BOSUN_TASK_QUEUE": self.task_queue,
            "BOSUN_KUBECONFIG": os.pathsep.join(str(p) for p in self.kubeconfigs),
            # Declared Applications (resources in the management cluster): found within
            # seconds, compared every few seconds, as apps the tests create with the CLI.
            "BOSUN_DISCOVERY_SECONDS": "2",
            "BOSUN_REFRESH_SECONDS": "3",
            # No /healthz server (default port 8080): tests run side by side on one machine.
            "BOSUN_HTTP_PORT": "0",
            # The tests' repositories are local (GitRepo.url is file://), as in the local stack.
            "BOSUN_ALLOW_LOCAL_REPOS": "true",
        }

    def machine(self, home: Path, *, task_queue: str | None = None, **env: str) -> Bosun:
        """The same stack seen from another machine: the same Temporal and clusters, its own
        ``BOSUN_HOME`` (store, git cache, worker log), no worker yet; ``env`` added to its environment."""
        home.mkdir(parents=True, exist_ok=True)
        other = dataclasses.replace(
            self, home=home, worker_log=home / "worker.log", worker=None, task_queue=task_queue or self.task_queue
        )
        other.env.update(env)
        return other

    def start_worker(self, *args: str) -> None:
        """``python -m worker`` with ``args`` (e.g. ``--processes 2``); returns once it polls."""
        log = self.worker_log.open("ab")
        offset = log.tell()  # a restarted worker: only what it logs says it is ready
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "worker", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while "polling" not in self.worker_log.read_bytes()[offset:].decode(errors="replace"):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.worker_log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill_worker(self) -> None:
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        self.worker = None

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker = None

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"bosun {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def status(self, app: str) -> dict[str, Any]:
        return dict(json.loads(self.cli("app", "get", app, "-o", "json").stdout))

    def create_app(
        self,
        name: str,
        repo: GitRepo,
        *,
        path: str = ".",
        namespace: str,
        automated: bool = True,
        prune: bool = False,
        self_heal: bool = False,
        refresh_seconds: float = 3.0,
        extra_spec: dict[str, Any] | None = None,
        server: str = "https://kubernetes.default.svc",
    ) -> None:
        policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
        if automated:
            policy["automated"] = {"prune": prune, "selfHeal": self_heal}
        spec: dict[str, Any] = {
            "project": "default",
            "source": {"repoURL": repo.url, "path": path, "targetRevision": "HEAD"},
            "destination": {"server": server, "namespace": namespace},
            "syncPolicy": policy,
            **(extra_spec or {}),
        }
        document = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name},
            "spec": spec,
        }
        app_file = self.home / f"{name}-{uuid.uuid4().hex[:6]}.yaml"
        app_file.write_text(json.dumps(document))
        self.cli("app", "create", "-f", str(app_file), "--refresh-seconds", str(refresh_seconds))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def prepare_management_cluster(kubeconfig: Path) -> None:
    """As ``bosun dev up`` does: the Application and AppProject CRDs, the control namespace."""
    kubectl = ["kubectl", f"--kubeconfig={kubeconfig}"]
    subprocess.run(
        [*kubectl, "apply", "-f", str(Path(__file__).resolve().parents[2] / "deploy" / "crds")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run([*kubectl, "create", "namespace", "bosun"], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def bosun(
    temporal_server: TemporalServer, devcluster_a: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bosun]:
    home = tmp_path_factory.mktemp("bosun-home")
    prepare_management_cluster(devcluster_a.kubeconfig)
    stack = Bosun(
        temporal=temporal_server,
        home=home,
        kubeconfigs=[devcluster_a.kubeconfig],
        task_queue=f"bosun-e2e-{uuid.uuid4().hex[:6]}",
        worker_log=home / "worker.log",
    )
    stack.start_worker()
    try:
        yield stack
    finally:
        stack.stop_worker()
