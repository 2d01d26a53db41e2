"""Private Helm repositories end to end: Argo CD's repository Secrets with ``type: helm``.

A chart repository behind Basic auth on loopback (:class:`tests.e2e.gitservers.HelmChartServer`,
charts packaged by the real helm). First the render activity as the worker builds it
(its :class:`~activities.gitrepo.GitCache` holds the credential store): with credentials
the chart renders, without them or with a wrong password it fails naming the repository.
Then the whole stack: an app on a private chart fails with a clear condition, ``bosun repo
add --type helm`` with a wrong password is refused, the right one syncs it. No password
may appear in a message, the worker's log or files, or a workflow history.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.contracts import RenderInput
from activities.credentials import RepoCredentials, StaticCredentialStore
from activities.gitrepo import GitCache
from activities.source import SourceActivities
from activities.store import ContentStore
from tests.conftest import Cluster
from tests.e2e import gitservers, test_private_repos
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import kubectl
from tests.e2e.gitservers import HelmChartServer
from tests.e2e.test_app_lifecycle import live, wait_status
from tests.e2e.test_private_repos import Added, condition, repo_cli

helm_chart_server = gitservers.helm_chart_server  # the fixtures, for this module
added = test_private_repos.added
SECRETS_NAMESPACE = "bosun"
USED: list[str] = []
"""Every password this module used: the last test looks for each."""


def secret_value(prefix: str) -> str:
    value = f"{prefix}-{secrets.token_hex(12)}"
    USED.extend([value, base64.b64encode(value.encode()).decode()])
    return value


def publish(server: HelmChartServer, root: Path, name: str, version: str) -> None:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "values.yaml").write_text("origin: a private Helm repository\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-settings'}\n"
        "data: {origin: '{{ .Values.origin }}', chart: '{{ .Chart.Name }}-{{ .Chart.Version }}'}\n"
    )
    server.publish(chart)


@pytest.fixture
def user(helm_chart_server: HelmChartServer) -> Iterator[tuple[str, str]]:
    """A user of the chart server (name, password), removed afterwards."""
    name, password = unique("deploy"), secret_value("pw")
    helm_chart_server.users[name] = password
    yield name, password
    helm_chart_server.users.pop(name, None)


def test_render_activity_pulls_a_private_chart_with_the_workers_credentials(
    helm_chart_server: HelmChartServer,
    user: tuple[str, str],
    tmp_path: Path,
) -> None:
    name, password = user
    wrong = secret_value("wrong")
    chart = unique("vault")
    publish(helm_chart_server, tmp_path / "charts", chart, "0.4.0")
    url = helm_chart_server.url
    source = {"repoURL": url, "chart": chart, "targetRevision": "0.4.0"}
    request = RenderInput(app="shop", repo_url=url, commit="0.4.0", source=source, destination_namespace="prod")

    def render(entries: list[RepoCredentials], label: str) -> SourceActivities:
        git = GitCache(tmp_path / label / "git", credentials=StaticCredentialStore(entries))
        return SourceActivities(
            git=git, store=ContentStore(tmp_path / label / "store"), workdir=tmp_path / label / "work"
        )

    def failure(entries: list[RepoCredentials], label: str) -> str:
        with pytest.raises(ApplicationError) as info:
            render(entries, label).render(request)
        assert info.value.type == "RenderError" and info.value.non_retryable
        return str(info.value)

    message = failure([], "none")
    assert f"Helm repository {url} requires credentials and none are configured" in message
    assert f"bosun repo add {url} --type helm" in message

    creds = RepoCredentials(url=url, repo_type="helm", secret="charts", username=name, password=wrong)
    message = failure([creds], "wrong")
    assert f"Helm repository {url} refused the credentials from Secret charts" in message
    assert wrong not in message and password not in message

    activities = render(
        [RepoCredentials(url=url, repo_type="helm", secret="charts", username=name, password=password)], "right"
    )
    result = activities.render(request)
    objects = ContentStore(tmp_path / "right" / "store").get_json(result.manifests_digest)
    assert objects == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shop-settings"},
            "data": {"origin": "a private Helm repository", "chart": f"{chart}-0.4.0"},
        }
    ]
    assert not list((tmp_path / "right" / "work").iterdir())  # the scratch space, with the login, is gone


def test_private_chart_app_fails_clearly_then_syncs_with_bosun_repo_add_type_helm(
    bosun: Bosun,
    devcluster_a: Cluster,
    helm_chart_server: HelmChartServer,
    user: tuple[str, str],
    tmp_path: Path,
    added: Added,
) -> None:
    name, password = user
    wrong = secret_value("wrong")
    chart = unique("private-web")
    publish(helm_chart_server, tmp_path / "charts", chart, "1.0.0")
    url = helm_chart_server.url
    app, ns = unique("helm"), unique("ns")
    added.apps.append(app)
    bosun.create_app(
        app,
        GitRepo(Path("/nonexistent")),
        namespace=ns,
        extra_spec={"source": {"repoURL": url, "chart": chart, "targetRevision": "1.0.0"}},
    )

    message = condition(bosun, app, containing="requires credentials")
    assert f"Helm repository {url}" in message and "bosun repo add" in message

    added.repos.append((url, False))
    out = repo_cli(
        bosun,
        "add",
        url,
        "--type",
        "helm",
        "--username",
        name,
        "--password",
        "-",
        "--name",
        "private-charts",
        stdin=wrong + "\n",
    )
    assert "helm repository" in out.stdout and wrong not in out.stdout + out.stderr
    message = condition(bosun, app, containing="refused the credentials")
    assert f"Helm repository {url}" in message and wrong not in message

    repo_cli(
        bosun, "add", url, "--type", "helm", "--username", name, "--password", "-", "--upsert", stdin=password + "\n"
    )
    status = wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    assert status["revision"] == "1.0.0"
    settings = live(devcluster_a, ns, "configmap", f"{app}-settings")
    assert settings is not None and settings["data"]["chart"] == f"{chart}-1.0.0"

    table = repo_cli(bosun, "list").stdout
    row = next(line for line in table.splitlines() if url in line)
    assert row.split()[:2] == ["helm", "repository"] and f"basic ({name})" in row
    listed = json.loads(repo_cli(bosun, "list", "-o", "json").stdout)
    entry = next(r for r in listed if r["url"] == url)
    assert entry["type"] == "helm" and password not in table + json.dumps(listed)
    stored = json.loads(kubectl(devcluster_a, "-n", SECRETS_NAMESPACE, "get", "secret", entry["secret"], "-o", "json"))
    assert base64.b64decode(stored["data"]["type"]).decode() == "helm"


async def test_no_password_reached_the_worker_log_files_or_histories(bosun: Bosun) -> None:
    assert USED, "run with the tests above"
    needles = [v.encode() for v in USED]
    log = bosun.worker_log.read_bytes()
    assert not [n for n in needles if n in log]
    leaks = [
        f"{path}: {n[:6]!r}…"
        for path in bosun.home.rglob("*")
        if path.is_file() and not path.is_symlink()
        for n in needles
        if n in path.read_bytes()
    ]
    assert not leaks
    client = await Client.connect(bosun.temporal.address)
    async for execution in client.list_workflows():
        if not execution.id.startswith("app:helm-"):
            continue
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert not [n for n in needles if n in raw], execution.id
