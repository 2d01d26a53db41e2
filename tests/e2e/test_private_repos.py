"""Private repositories end to end (issue 7): credentials from Argo CD's repository Secrets.

A smart-HTTP git server with Basic auth and an OpenSSH server, both on loopback
(:mod:`tests.e2e.gitservers`); credentials are added with ``bosun repo add`` into the
management cluster (the devcluster) and read by the worker. Each app first fails with a
clear condition, then syncs once its credentials are there. The last tests scan every
workflow history in the Temporal server, the worker's log and its files for the secrets
used here: none may appear.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.credentials import KNOWN_HOSTS_CONFIGMAP, KNOWN_HOSTS_KEY
from tests.conftest import Cluster
from tests.e2e import gitservers
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.gitservers import HttpGitServer, SshGitServer, push
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

http_git_server = gitservers.http_git_server  # the servers' fixtures, for this module
ssh_git_server = gitservers.ssh_git_server
SECRETS_NAMESPACE = "bosun"
USED: list[str] = []
"""Every secret value this module used: the scans at the end look for each."""


def remember(*values: str) -> None:
    for value in values:
        USED.append(value)
        USED.append(base64.b64encode(value.encode()).decode())  # as a Secret's data holds it
        USED.extend(
            line.strip() for line in value.splitlines() if len(line.strip()) >= 16 and "PRIVATE KEY" not in line
        )


def files(name: str) -> dict[str, str | None]:
    return {
        "web.yaml": deployment(name, replicas=1) + "\n",
        "settings.json": configmap(f"{name}-settings", {"repo": "private"}),
    }


def create_app(bosun: Bosun, added: Added, name: str, url: str, namespace: str) -> None:
    added.apps.append(name)
    placeholder = GitRepo(Path("/nonexistent"))  # the source below replaces its file:// URL
    bosun.create_app(
        name,
        placeholder,
        namespace=namespace,
        extra_spec={"source": {"repoURL": url, "path": ".", "targetRevision": "HEAD"}},
    )


def condition(bosun: Bosun, app: str, *, containing: str, timeout: float = 60) -> str:
    def check() -> str | None:
        for cond in bosun.status(app).get("conditions") or []:
            if cond["type"] == "ComparisonError" and containing in cond["message"]:
                return str(cond["message"])
        return None

    return str(eventually(check, timeout=timeout, what=f"{app}: ComparisonError {containing!r}"))


def repo_cli(
    bosun: Bosun, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "repo", *args],
        env=bosun.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"bosun repo {args[0]} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@dataclass
class Added:
    """What a test created, removed after it: apps first, then their credentials."""

    apps: list[str] = field(default_factory=list)
    repos: list[tuple[str, bool]] = field(default_factory=list)
    """(URL, is a repo-creds template)."""


@pytest.fixture
def added(bosun: Bosun) -> Iterator[Added]:
    created = Added()
    yield created
    for app in created.apps:
        bosun.cli("app", "delete", app, check=False)
    for url, template in created.repos:
        repo_cli(bosun, "rm", url, *(["--creds-template"] if template else []), check=False)


def test_https_basic_auth_fails_clearly_without_credentials_and_syncs_with_them(
    bosun: Bosun,
    devcluster_a: Cluster,
    http_git_server: HttpGitServer,
    tmp_path: Path,
    added: Added,
) -> None:
    user, password, wrong = "deploy", "pw-" + secrets.token_hex(12), "pw-" + secrets.token_hex(12)
    remember(password, wrong)
    http_git_server.users[user] = password
    source = GitRepo.create(tmp_path / "src", files("web"))
    name = unique("private-http")
    url = http_git_server.publish(source, name)
    app, ns = unique("http"), unique("ns")

    create_app(bosun, added, app, url, ns)
    message = condition(bosun, app, containing="authentication failed")
    assert url in message and "no credentials are configured" in message
    assert "bosun repo add" in message

    added.repos.append((url, False))
    repo_cli(bosun, "add", url, "--username", user, "--password", "-", "--name", "web", stdin=wrong + "\n")
    message = condition(bosun, app, containing="credentials from Secret")
    assert "authentication failed" in message and wrong not in message

    out = repo_cli(bosun, "add", url, "--username", user, "--password", "-", "--upsert", stdin=password + "\n")
    assert password not in out.stdout + out.stderr
    status = wait_status(bosun, app, sync="Synced", health="Healthy")
    assert status["revision"] == source.git("rev-parse", "HEAD")
    assert live(devcluster_a, ns, "configmap", "web-settings") is not None
    assert not [c for c in status["conditions"] if c["type"] == "ComparisonError"]

    commit = source.write({"settings.json": configmap("web-settings", {"repo": "v2"})}, "v2")
    push(source, http_git_server.bare(name))
    wait_status(bosun, app, sync="Synced", health="Healthy", revision=commit)

    table = repo_cli(bosun, "list").stdout
    assert url in table and "basic (deploy)" in table
    listed = json.loads(repo_cli(bosun, "list", "-o", "json").stdout)
    assert any(r["url"] == url and r["auth"] == "basic" for r in listed)
    assert password not in table and password not in json.dumps(listed)
    secret = next(r["secret"] for r in listed if r["url"] == url)
    stored = json.loads(kubectl(devcluster_a, "-n", SECRETS_NAMESPACE, "get", "secret", secret, "-o", "json"))
    assert stored["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert base64.b64decode(stored["data"]["password"]).decode() == password
    assert base64.b64decode(stored["data"]["type"]).decode() == "git"

    repo_cli(bosun, "rm", url)
    added.repos.clear()
    assert repo_cli(bosun, "rm", url, check=False).returncode == 3  # gone


def test_ssh_key_fails_clearly_without_it_and_syncs_with_it(
    bosun: Bosun,
    devcluster_a: Cluster,
    ssh_git_server: SshGitServer,
    tmp_path: Path,
    added: Added,
) -> None:
    key = ssh_git_server.private_key()
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    remember(key, other.read_text())
    source = GitRepo.create(tmp_path / "src", files("api"))
    url = ssh_git_server.publish(source, unique("private-ssh"))
    app, ns = unique("ssh"), unique("ns")

    create_app(bosun, added, app, url, ns)
    message = condition(bosun, app, containing="no credentials are configured")
    assert "bosun repo add" in message

    added.repos.append((url, False))
    repo_cli(bosun, "add", url, "--ssh-private-key-path", str(other))
    # The worker re-reads repository Secrets at most every 5 s: wait for the message that names
    # them, not for the first "authentication failed", which may predate the Secret.
    message = condition(bosun, app, containing="credentials from Secret")
    assert "authentication failed" in message and "bosun repo add" in message

    repo_cli(bosun, "add", url, "--ssh-private-key-path", str(ssh_git_server.client_key), "--upsert")
    wait_status(bosun, app, sync="Synced", health="Healthy")
    assert live(devcluster_a, ns, "deployment", "api") is not None
    listed = repo_cli(bosun, "list").stdout
    assert "ssh-key" in listed and "PRIVATE KEY" not in listed


def test_ssh_host_keys_are_verified_against_argocd_known_hosts_configmap(
    bosun: Bosun,
    devcluster_a: Cluster,
    ssh_git_server: SshGitServer,
    tmp_path: Path,
    added: Added,
) -> None:
    source = GitRepo.create(tmp_path / "src", files("known"))
    url = ssh_git_server.publish(source, unique("known-hosts"))
    added.repos.append((url, False))
    repo_cli(bosun, "add", url, "--ssh-private-key-path", str(ssh_git_server.client_key))
    # another server's key for this address: a man in the middle, as ssh sees it
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    algo, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    wrong = f"[127.0.0.1]:{ssh_git_server.port} {algo} {blob}"

    def known_hosts(content: str) -> None:
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": KNOWN_HOSTS_CONFIGMAP, "namespace": SECRETS_NAMESPACE},
            "data": {KNOWN_HOSTS_KEY: content + "\n"},
        }
        kubectl(devcluster_a, "apply", "-f", "-", input=json.dumps(manifest))

    app, ns = unique("known"), unique("ns")
    try:
        known_hosts(wrong)
        create_app(bosun, added, app, url, ns)
        # The Secret and ConfigMap are read through a 5 s cache: a first fetch may not see them
        # yet ("no credentials are configured"); the message to wait for names the ConfigMap.
        message = condition(bosun, app, containing=KNOWN_HOSTS_CONFIGMAP)
        assert "host key verification failed" in message
        known_hosts(ssh_git_server.known_hosts_line())
        wait_status(bosun, app, sync="Synced", health="Healthy")
    finally:
        kubectl(
            devcluster_a, "-n", SECRETS_NAMESPACE, "delete", "configmap", KNOWN_HOSTS_CONFIGMAP, "--ignore-not-found"
        )


def test_repo_creds_template_serves_every_repository_under_its_prefix(
    bosun: Bosun,
    devcluster_a: Cluster,
    http_git_server: HttpGitServer,
    tmp_path: Path,
    added: Added,
) -> None:
    team = unique("team")
    token = "tok-" + secrets.token_hex(16)
    remember(token)
    http_git_server.users["x-access-token"] = token
    prefix = f"http://127.0.0.1:{http_git_server.port}/{team}"
    added.repos.append((prefix, True))
    repo_cli(
        bosun, "add", prefix, "--creds-template", "--username", "x-access-token", "--password", "-", stdin=token + "\n"
    )
    apps = []
    for index in range(2):
        source = GitRepo.create(tmp_path / f"src{index}", files(f"svc{index}"))
        url = http_git_server.publish(source, f"{team}/svc{index}")
        app, ns = unique(f"tmpl{index}"), unique("ns")
        create_app(bosun, added, app, url, ns)
        apps.append((app, ns, index))
    for app, ns, index in apps:
        wait_status(bosun, app, sync="Synced", health="Healthy")
        assert live(devcluster_a, ns, "deployment", f"svc{index}") is not None
    listed = json.loads(repo_cli(bosun, "list", "-o", "json").stdout)
    assert any(r["url"] == prefix and r["kind"] == "repo-creds" for r in listed)


def test_worker_log_and_files_hold_none_of_the_credentials(bosun: Bosun) -> None:
    assert USED, "run with the tests above"
    log = bosun.worker_log.read_bytes()
    assert not [v for v in USED if v.encode() in log]
    leaks = []
    for path in bosun.home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            leaks += [f"{path}: {v[:6]}…" for v in USED if v.encode() in data]
    assert not leaks


async def test_no_workflow_history_holds_any_of_the_credentials(bosun: Bosun) -> None:
    """Every workflow in the Temporal server, every event's raw bytes (payloads included)."""
    assert USED, "run with the tests above"
    client = await Client.connect(bosun.temporal.address)
    needles = [v.encode() for v in USED]
    limit = asyncio.Semaphore(16)

    async def scan(workflow_id: str, run_id: str | None) -> list[str]:
        async with limit:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        return [f"{workflow_id}: {n[:6]!r}…" for n in needles if n in raw]

    runs = [(e.id, e.run_id) async for e in client.list_workflows()]
    assert any(workflow_id.startswith("app:http-") for workflow_id, _ in runs)
    leaks = [leak for found in await asyncio.gather(*(scan(*run) for run in runs)) for leak in found]
    assert not leaks, leaks
