"""Bosun driven without the bosun CLI: every example of docs/temporal.md, run for real (issue 6).

The examples are parsed out of the doc's code blocks — ``sh`` blocks line by line,
the ``python`` block as a script — with ``NAME`` replaced by a test app, and run
against the test's Temporal server with the real ``temporal`` CLI and SDK. Each kind
of example has a check saying what the doc promises of it; an example the test has no
check for fails the test, so the doc cannot grow an untested example.

Search-attribute queries are checked for exactly the expected apps among this test's
apps: the server may hold other apps (a reused dev server), which a query rightly
lists too.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bosun import search_attributes
from devstack import processes
from tests.conftest import Cluster, TemporalServer
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, wait_status

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "temporal.md"
TEMPORAL = Path(sys.executable).parent / "temporal"


# ------------------------------------------------------------------------- the doc


def doc_examples() -> tuple[list[list[str]], str]:
    """The ``temporal`` commands (argv) of the doc's sh blocks, and its python block."""
    text = DOC.read_text()
    commands: list[list[str]] = []
    python = ""
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if lang == "sh":
            for line in body.replace("\\\n", " ").splitlines():
                argv = shlex.split(line, comments=True)
                if argv:
                    assert argv[0] == "temporal", f"doc example is not a temporal command: {line}"
                    commands.append(argv)
        elif lang == "python":
            assert not python, "one python example expected"
            python = body
    return commands, python


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def kind(argv: list[str]) -> str:
    """update:sync, signal:refresh, query:status, list, describe …"""
    verb = argv[2]
    if verb == "update":
        return f"update:{option(argv, '--name')}"
    if verb == "signal":
        return f"signal:{option(argv, '--name')}"
    if verb == "query":
        return f"query:{option(argv, '--type')}"
    return verb


def run_temporal(server: TemporalServer, argv: list[str], app: str) -> str:
    args = [a.replace("NAME", app) for a in argv[1:]]
    proc = subprocess.run(
        [str(TEMPORAL), *args, "--address", server.address], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def listed_ids(server: TemporalServer, argv: list[str], app: str) -> set[str]:
    """Workflow ids a ``temporal workflow list`` prints (its default table)."""
    out = run_temporal(server, argv, app)
    return {m.group(1) for m in re.finditer(r"^\s*\S+\s+((?:app|batch):\S+)\s", out, flags=re.M)}


def listed(server: TemporalServer, query: str) -> set[str]:
    return listed_ids(server, ["temporal", "workflow", "list", "--query", query], "")


def json_after(marker: str, out: str) -> Any:
    return json.loads(out[out.index(marker) + len(marker) :].strip())


# ------------------------------------------------------------------------- fixtures


def two_file_repo(path: Path) -> GitRepo:
    return GitRepo.create(
        path,
        {
            "settings.json": configmap("settings", {"mode": "fast"}),
            "web.yaml": deployment("web", replicas=1),
        },
    )


def test_doc_has_an_example_of_each_interface() -> None:
    commands, python = doc_examples()
    kinds = {kind(c) for c in commands}
    assert {
        "update:sync",
        "update:refresh_now",
        "update:delete",
        "signal:refresh",
        "query:status",
        "query:history",
        "list",
        "describe",
    } <= kinds
    queries = {option(c, "--query") for c in commands if kind(c) == "list"}
    assert 'BosunSyncStatus="OutOfSync"' in queries
    assert "execute_update" in python and "query(" in python and "list_workflows" in python


def test_every_documented_example_does_what_the_doc_says(
    bosun: Bosun, temporal_server: TemporalServer, devcluster_a: Cluster, tmp_path: Path
) -> None:
    commands, python = doc_examples()
    app, other = unique("tif"), unique("tif-other")
    ns = unique("ns")
    repo = two_file_repo(tmp_path / "repo")
    bosun.create_app(app, repo, namespace=ns, automated=False)
    bosun.create_app(other, repo, namespace=unique("ns"), automated=False)
    wait_status(bosun, app, sync="OutOfSync")
    wait_status(bosun, other, sync="OutOfSync")  # stays so: the control for the lists
    ours = {f"app:{app}", f"app:{other}"}
    checked: set[int] = set()

    def each(kind_name: str, check: Callable[[list[str], str], None]) -> None:
        for index, argv in enumerate(commands):
            if kind(argv) == kind_name:
                check(argv, run_temporal(temporal_server, argv, app))
                checked.add(index)

    # signal refresh: accepted at once
    each("signal:refresh", lambda argv, out: None)

    # update sync: waits for the sync and returns its OperationResult, Succeeded
    def sync_done(argv: list[str], out: str) -> None:
        result = json.loads(out)["result"]
        request = json.loads(option(argv, "--input"))
        assert result["phase"] == "Succeeded", result
        assert result["trigger"] == request["trigger"]
        assert result["workflow_id"].startswith(f"app:{app}:sync:")
        assert result["revision"] == repo.git("rev-parse", "HEAD")

    each("update:sync", sync_done)
    web = live(devcluster_a, ns, "deployment", "web")
    assert web and web["status"].get("availableReplicas") == 1

    # update refresh_now: the fresh AppStatus
    def refreshed(argv: list[str], out: str) -> None:
        status = json.loads(out)["result"]
        assert (status["name"], status["sync"], status["health"]) == (app, "Synced", "Healthy")

    each("update:refresh_now", refreshed)

    # queries: the status JSON, the history list
    def query_result(argv: list[str], out: str) -> Any:
        return json.loads(out)["queryResult"][0] if "-o" in argv else json_after("QueryResult", out)

    def status_query(argv: list[str], out: str) -> None:
        status = query_result(argv, out)
        assert (status["name"], status["sync"], status["health"]) == (app, "Synced", "Healthy")
        assert {r["key"]["kind"] for r in status["resources"]} == {"ConfigMap", "Deployment"}

    def history_query(argv: list[str], out: str) -> None:
        history = query_result(argv, out)
        syncs = sum(1 for argv in commands if kind(argv) == "update:sync")
        assert [h["phase"] for h in history] == ["Succeeded"] * syncs

    each("query:status", status_query)
    each("query:history", history_query)

    # lists: exactly the expected apps (among ours), once visibility has caught up
    history = json.loads(bosun.cli("app", "history", app, "-o", "json").stdout)
    sync_ids = {h["workflow_id"] for h in history}
    expected_lists: dict[str, set[str]] = {
        'BosunSyncStatus="OutOfSync"': {f"app:{other}"},
        'BosunHealthStatus!="Healthy" AND WorkflowType="ApplicationWorkflow"': {f"app:{other}"},
        'BosunApp="NAME"': {f"app:{app}"},
        'BosunOperation="running"': set(),
        'ParentWorkflowId="app:NAME"': sync_ids,
    }
    for index, argv in enumerate(commands):
        if kind(argv) != "list":
            continue
        query = option(argv, "--query")
        assert query in expected_lists, f"doc lists {query!r}: add what it returns to this test"
        expected = expected_lists[query]
        scope = sync_ids if "ParentWorkflowId" in query else ours

        def matches(argv: list[str] = argv, expected: set[str] = expected, scope: set[str] = scope) -> bool:
            return {i for i in listed_ids(temporal_server, argv, app) if i in scope} == expected

        eventually(matches, timeout=60, what=f"{query} lists {sorted(expected)}")
        checked.add(index)

    # describe: the summary and the search attributes
    def described(argv: list[str], out: str) -> None:
        assert f"Application {app}" in out
        assert "BosunSyncStatus" in out and "Synced" in out and "BosunHealthStatus" in out

    each("describe", described)

    # the Python example: sync, status, the out-of-sync list
    script = python.replace("127.0.0.1:7233", temporal_server.address).replace("NAME", app)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Succeeded successfully synced"), lines
    assert lines[1] == f"Synced Healthy {repo.git('rev-parse', 'HEAD')[:12]}", lines
    printed = {line.removeprefix("out of sync: ") for line in lines[2:]}
    assert printed & ours == {f"app:{other}"}, lines

    # update delete, last: the app ends and its resources go
    def deleted(argv: list[str], out: str) -> None:
        assert f"application {app} deleted" in out

    each("update:delete", deleted)
    assert bosun.cli("app", "get", app, check=False).returncode == 3
    eventually(lambda: live(devcluster_a, ns, "deployment", "web") is None, timeout=60, what="web deleted")

    unchecked = [shlex.join(c) for i, c in enumerate(commands) if i not in checked]
    assert not unchecked, f"doc examples this test does not check: {unchecked}"
    bosun.cli("app", "delete", other, "--no-cascade")


def test_search_attribute_queries_follow_sync_and_health_changes(
    bosun: Bosun, temporal_server: TemporalServer, devcluster_a: Cluster, tmp_path: Path
) -> None:
    names = {key: unique(f"sa{key}") for key in "abc"}
    namespaces = {key: unique("ns") for key in "abc"}
    for key, name in names.items():
        repo = two_file_repo(tmp_path / key)
        bosun.create_app(name, repo, namespace=namespaces[key])  # automated, no selfHeal
    for name in names.values():
        wait_status(bosun, name, sync="Synced", health="Healthy")
    ours = {f"app:{n}" for n in names.values()}

    def expect(query: str, *keys: str) -> None:
        want = {f"app:{names[k]}" for k in keys}
        eventually(
            lambda: listed(temporal_server, query) & ours == want,
            timeout=60,
            what=f"{query} lists exactly {sorted(want)}",
        )

    expect('BosunSyncStatus="Synced"', "a", "b", "c")
    expect('BosunSyncStatus="OutOfSync"')

    # a: changed by hand (no selfHeal) -> OutOfSync, still Healthy
    kubectl(
        devcluster_a,
        "-n",
        namespaces["a"],
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        '{"data": {"mode": "slow"}}',
    )
    expect('BosunSyncStatus="OutOfSync"', "a")
    expect('BosunSyncStatus="Synced"', "b", "c")
    expect('BosunHealthStatus="Healthy"', "a", "b", "c")

    # b: its Deployment deleted by hand -> OutOfSync and Missing
    kubectl(devcluster_a, "-n", namespaces["b"], "delete", "deployment", "web", "--wait=true")
    expect('BosunHealthStatus="Missing"', "b")
    expect('BosunSyncStatus="OutOfSync"', "a", "b")
    expect(f'BosunNamespace="{namespaces["b"]}" AND BosunSyncStatus="OutOfSync"', "b")

    # a synced again -> only b is out of sync
    bosun.cli("app", "sync", names["a"])
    expect('BosunSyncStatus="OutOfSync"', "b")
    expect('BosunHealthStatus="Healthy"', "a", "c")
    assert live(devcluster_a, namespaces["a"], "configmap", "settings")["data"]["mode"] == "fast"  # type: ignore[index]
    for name in names.values():
        bosun.cli("app", "delete", name)


# ------------------------------------------------------------------------- bosun setup


@pytest.fixture
def bare_temporal(tmp_path: Path) -> Iterator[str]:
    """A Temporal dev server without Bosun's search attributes (in memory)."""
    port, ui_port, http_port, metrics_port = processes.free_ports(4)
    log = (tmp_path / "temporal.log").open("wb")
    server = subprocess.Popen(
        [
            str(TEMPORAL),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--http-port",
            str(http_port),
            "--metrics-port",
            str(metrics_port),
            "--log-level",
            "warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            [str(TEMPORAL), "operator", "namespace", "describe", "-n", "default", "--address", address],
            capture_output=True,
            timeout=20,
        ).returncode:
            assert server.poll() is None and time.monotonic() < deadline, "bare Temporal did not start"
            time.sleep(0.3)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_setup_registers_search_attributes_once_on_any_server(bare_temporal: str) -> None:
    def setup() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "setup", "--address", bare_temporal],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )

    first = setup()
    assert first.returncode == 0, first.stderr
    second = setup()
    assert second.returncode == 0, second.stderr
    listing = subprocess.run(
        [str(TEMPORAL), "operator", "search-attribute", "list", "--address", bare_temporal],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    # Every attribute the registry names, each once: registered by the first run, found by the second.
    for name, kind in search_attributes.TYPES.items():
        assert re.search(rf"^{name}\s+{kind}\s+registered$", first.stdout, flags=re.M), first.stdout
        assert re.search(rf"^{name}\s+{kind}\s+already registered$", second.stdout, flags=re.M), second.stdout
        assert re.search(rf"^\s*{name}\s+{kind}\s*$", listing, flags=re.M), listing
    assert first.stdout.count("registered") == len(search_attributes.TYPES), first.stdout
    query = subprocess.run(
        [str(TEMPORAL), "workflow", "list", "--query", 'BosunSyncStatus="OutOfSync"', "--address", bare_temporal],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert query.returncode == 0, query.stderr
