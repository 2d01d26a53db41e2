"""Record the workflow histories that ``tests/workflows/test_replay_histories.py`` replays.

Run it (``.venv/bin/python -m tests.workflows.histories.record``) when a release is cut:
it starts a real stack of its own — a Temporal dev server, a devcluster, the worker
(``python -m worker``) — on free ports in a temporary directory, drives Bosun through
the CLI, ``kubectl`` and Temporal signals as a user and Argo CD tooling would, fetches
the histories and writes them here as JSON (Temporal's own history format, as
``temporal workflow show -o json`` writes it), with ``index.json`` naming each file's
workflow id, type, state and story. Identities are scrubbed of the host name and every
payload is scanned for secrets before anything is written.

The stories (each app's resources in Git repositories the script makes):

- ``declared``: an Application *resource* (DeclarativeAppsWorkflow): created, its spec
  changed (``update_spec``), Argo CD's ``operation.sync``, deleted without the finalizer.
  Its ApplicationWorkflow is completed; the DeclarativeAppsWorkflow is fetched while running.
- ``shop`` (CLI, automated with prune): first sync with two waves and a PreSync hook,
  a refresh on the timer, a commit synced after a ``refresh`` signal, ``app diff``
  (``refresh_now``), a manual sync, a rollback and ``unpin``, a sync by a batch
  schedule, then ``app delete`` with cascade: completed.
- ``billing`` (CLI, manual, ``bosun.dev/sync-schedule``, ``syncPolicy.retry``): a manual
  sync, a dry run, a sync by the batch, then a commit the API server rejects, synced by
  hand, failing after one retry. Fetched while running.
- the batch of ``bosun schedule trigger nightly`` (BatchSyncWorkflow, in order: shop,
  billing), and three SyncWorkflow children: shop's first (two waves and a PreSync hook),
  billing's dry run, billing's failed sync (a retry on a timer, then Failed).

To add a story: write it as a function below, call it from :func:`record_all`, and
re-record; keep the histories small (few refreshes, long refresh intervals).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from bosun.protocol import RefreshRequest
from devstack import cluster as devcluster
from devstack import processes
from devstack import temporal as devtemporal
from tests.conftest import Cluster, TemporalServer
from tests.e2e.bosun_stack import Bosun, GitRepo
from tests.e2e.conftest import eventually, kubectl
from tests.e2e.test_app_lifecycle import configmap, deployment, live, service, wait_status
from tests.e2e.test_sync_operations import job

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
INDEX = "index.json"
CONTROL_NAMESPACE = "bosun"
TASK_QUEUE = "bosun"
REFRESH_SECONDS = 60.0
"""Long enough that few timer refreshes land in a history, short enough to show one."""
DISCOVERY_SECONDS = 4.0
SECRET_PATTERNS = [
    r"-----BEGIN",
    r"client-key-data",
    r"client-certificate-data",
    r"\btoken\b\s*[:=]",
    r"password",
    r"BEGIN RSA",
    r"Bearer ",
]


@dataclass
class Recorded:
    file: str
    workflow_id: str
    workflow_type: str
    state: str
    story: str
    events: int = 0
    bytes: int = 0


@dataclass
class Recorder:
    bosun: Bosun
    cluster: Cluster
    workdir: Path
    recorded: list[Recorded] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)

    def fetch(self, file: str, workflow_id: str, story: str, *, state: str) -> None:
        """Fetch one workflow's history (``state``: "completed" waits for it to close)."""
        history, status, kind = asyncio.run(
            _fetch(self.bosun.temporal.address, workflow_id, wait_closed=state == "completed")
        )
        actual = "running" if status == WorkflowExecutionStatus.RUNNING else "completed"
        if actual != state:
            raise RuntimeError(f"{workflow_id}: expected a {state} workflow, it is {status}")
        text = scrub(history.to_json())
        self.texts[file] = text
        self.recorded.append(
            Recorded(
                file=file,
                workflow_id=workflow_id,
                workflow_type=kind,
                state=state,
                story=story,
                events=len(history.events),
                bytes=len(text),
            )
        )
        print(f"  {file}: {kind} {workflow_id}, {state}, {len(history.events)} events, {len(text)} bytes")

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.json"):
            stale.unlink()
        for file, text in self.texts.items():
            (out / file).write_text(text)
        index = {
            "recorded_from": _git("rev-parse", "HEAD")
            + (" (with local changes)" if _git("status", "--porcelain", "--", "workflows") else ""),
            "how": "python -m tests.workflows.histories.record (see its docstring)",
            "histories": [vars(r) for r in self.recorded],
        }
        (out / INDEX).write_text(json.dumps(index, indent=2) + "\n")


async def _fetch(address: str, workflow_id: str, *, wait_closed: bool) -> tuple[WorkflowHistory, Any, str]:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + 120
    while True:
        described = await handle.describe()
        if not wait_closed or described.status != WorkflowExecutionStatus.RUNNING:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workflow_id} still running")
        await asyncio.sleep(0.5)
    return await handle.fetch_history(), described.status, described.workflow_type


async def _signal(address: str, workflow_id: str, name: str, arg: Any) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    await client.get_workflow_handle(workflow_id).signal(name, arg)


async def _workflow_ids(address: str, query: str) -> list[str]:
    client = await Client.connect(address)
    return [w.id async for w in client.list_workflows(query)]


def scrub(history_json: str) -> str:
    """The history without the host name (worker identities), refusing one that holds a secret."""
    history = json.loads(history_json)
    host = f"@{socket.gethostname()}"  # identities are pid@host, sticky queues pid@host-uuid

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and key != "data":  # payload data (base64) is kept as it is
            return node.replace(host, "@recorder")
        return node

    history = walk(history)
    for text in _texts(history):
        for pattern in SECRET_PATTERNS:
            if re.search(pattern, text, re.IGNORECASE):
                raise RuntimeError(f"a history holds something like a secret ({pattern!r}): {text[:200]!r}")
    # One event a line: compact, and a diff shows which events changed.
    return '{"events": [\n' + ",\n".join(json.dumps(e, separators=(",", ":")) for e in history["events"]) + "\n]}\n"


def _texts(node: Any) -> Iterator[str]:
    """Every string of a history, payload data decoded."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                try:
                    yield base64.b64decode(value).decode("utf-8", "replace")
                    continue
                except ValueError:
                    pass
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)
    elif isinstance(node, str):
        yield node


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()


# --------------------------------------------------------------------------- the stack


@contextmanager
def stack(workdir: Path) -> Iterator[tuple[Bosun, Cluster]]:
    """Temporal dev server, devcluster and worker of this recording, stopped at the end."""
    port, ui_port = processes.free_ports(2)
    temporal = devtemporal.up(port=port, ui_port=ui_port, directory=workdir / "temporal")
    try:
        state = devcluster.up("histories", directory=workdir / "cluster", nodes=2, pod_run_ms=500)
        try:
            cluster = Cluster(name="histories", kubeconfig=state.kubeconfig)
            kubectl(cluster, "apply", "-f", str(REPO_ROOT / "deploy" / "crds"))
            kubectl(cluster, "create", "namespace", CONTROL_NAMESPACE)
            home = workdir / "home"
            home.mkdir()
            bosun = Bosun(
                temporal=TemporalServer(address=temporal.address, ui_url=None),
                home=home,
                kubeconfigs=[cluster.kubeconfig],
                task_queue=TASK_QUEUE,
                worker_log=home / "worker.log",
            )
            bosun.env["BOSUN_DISCOVERY_SECONDS"] = str(DISCOVERY_SECONDS)
            bosun.env["BOSUN_REFRESH_SECONDS"] = str(REFRESH_SECONDS)
            bosun.start_worker()
            try:
                yield bosun, cluster
            finally:
                bosun.stop_worker()
        finally:
            devcluster.down("histories", directory=workdir / "cluster")
    finally:
        devtemporal.down(directory=workdir / "temporal")


# --------------------------------------------------------------------------- the stories


def history_of(bosun: Bosun, app: str) -> list[dict[str, Any]]:
    return list(json.loads(bosun.cli("app", "history", app, "-o", "json").stdout))


def wait_history(bosun: Bosun, app: str, count: int, timeout: float = 180) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        entries = history_of(bosun, app)
        return entries if len(entries) >= count and bosun.status(app)["operation"] == "idle" else None

    return eventually(check, timeout=timeout, what=f"{count} operations of {app}")  # type: ignore[no-any-return]


def declared(rec: Recorder) -> None:
    """An Application resource, followed from creation to deletion."""
    bosun, cluster = rec.bosun, rec.cluster
    repo = GitRepo.create(
        rec.workdir / "repo-declared",
        {
            "one/cm.json": configmap("first", {"a": "b"}),
            "two/cm.json": configmap("second", {"c": "d"}),
        },
    )
    app = "declared"
    resource = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app, "namespace": CONTROL_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "path": "one", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "declared"},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }
    kubectl(cluster, "apply", "-f", "-", input=json.dumps(resource))
    eventually(lambda: _running(bosun, f"app:{app}"), timeout=60, what="a workflow for the Application")
    wait_status(bosun, app, sync="Synced", health="Healthy", timeout=120)
    kubectl(
        cluster,
        "-n",
        CONTROL_NAMESPACE,
        "patch",
        "application",
        app,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"source": {"path": "two"}}}),
    )
    eventually(lambda: live(cluster, "declared", "configmap", "first") is None, timeout=120, what="first pruned")
    kubectl(
        cluster,
        "-n",
        CONTROL_NAMESPACE,
        "patch",
        "application",
        app,
        "--type=merge",
        "-p",
        json.dumps(
            {"operation": {"initiatedBy": {"username": "release-bot"}, "sync": {"revision": "HEAD", "prune": True}}}
        ),
    )
    eventually(
        lambda: any(h["trigger"].startswith("operation.sync") for h in history_of(bosun, app)),
        timeout=120,
        what="the operation's sync",
    )
    wait_status(bosun, app, sync="Synced", timeout=120)
    kubectl(cluster, "-n", CONTROL_NAMESPACE, "delete", "application", app)
    rec.fetch(
        "application-declared-completed.json",
        f"app:{app}",
        state="completed",
        story="Application resource: created and synced, spec path changed (update_spec), "
        "operation.sync (sync update), deleted without finalizer",
    )
    rec.fetch(
        "declarative-apps-running.json",
        f"declarative-apps:{TASK_QUEUE}",
        state="running",
        story="the DeclarativeAppsWorkflow through the story of 'declared', fetched while running",
    )


def _running(bosun: Bosun, workflow_id: str) -> bool:
    async def describe() -> bool:
        client = await Client.connect(bosun.temporal.address)
        try:
            return (await client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.RUNNING
        except Exception:  # not there yet
            return False

    return asyncio.run(describe())


def shop_repo(rec: Recorder) -> GitRepo:
    return GitRepo.create(
        rec.workdir / "repo-shop",
        {
            "migrate.json": job("migrate", hook="PreSync", delete_policy="HookSucceeded", run_ms=500),
            "settings.json": configmap("settings", {"mode": "fast"}),
            "web.json": deployment("web", replicas=1, wave=1),
            "svc.yaml": service("web"),
        },
    )


def billing_file(rec: Recorder, repo: GitRepo) -> Path:
    document = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "billing", "annotations": {"bosun.dev/sync-schedule": "0 3 * * *"}},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url, "path": ".", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "billing"},
            "syncPolicy": {
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 1, "backoff": {"duration": "1s", "factor": 2}},
            },
        },
    }
    path = rec.workdir / "billing.json"
    path.write_text(json.dumps(document))
    return path


def cli_apps(rec: Recorder) -> None:
    """shop (automated) and billing (manual), a batch that syncs both, shop deleted."""
    bosun, address = rec.bosun, rec.bosun.temporal.address
    shop = shop_repo(rec)
    bosun.create_app("shop", shop, namespace="shop", prune=True, refresh_seconds=REFRESH_SECONDS)
    wait_history(bosun, "shop", 1)
    wait_status(bosun, "shop", sync="Synced", health="Healthy", timeout=120)
    before = bosun.status("shop")["reconciled_at"]
    eventually(
        lambda: bosun.status("shop")["reconciled_at"] != before,
        timeout=REFRESH_SECONDS * 3,
        what="a refresh on the timer",
    )
    commit = shop.write({"web.json": deployment("web", replicas=2, wave=1)}, "scale web to 2")
    asyncio.run(_signal(address, "app:shop", "refresh", RefreshRequest()))
    wait_history(bosun, "shop", 2)
    wait_status(bosun, "shop", sync="Synced", health="Healthy", revision=commit, timeout=120)
    bosun.cli("app", "diff", "shop")
    bosun.cli("app", "sync", "shop")
    bosun.cli("app", "rollback", "shop", "1")
    wait_history(bosun, "shop", 4)
    bosun.cli("app", "unpin", "shop")
    wait_history(bosun, "shop", 5)  # automated sync moves forward to the target again

    billing = GitRepo.create(
        rec.workdir / "repo-billing",
        {
            "web.json": deployment("invoices", replicas=1),
            "settings.json": configmap("billing", {"currency": "EUR"}),
        },
    )
    bosun.cli("app", "create", "-f", str(billing_file(rec, billing)), "--refresh-seconds", str(REFRESH_SECONDS))
    wait_status(bosun, "billing", sync="OutOfSync", timeout=120)
    bosun.cli("app", "sync", "billing")
    wait_status(bosun, "billing", sync="Synced", health="Healthy", timeout=120)
    bosun.cli("app", "sync", "billing", "--dry-run")

    bosun.cli("schedule", "create", "nightly", "--cron", "0 2 * * *", "--app", "shop", "--app", "billing", "--in-order")
    bosun.cli("schedule", "trigger", "nightly", "--wait", "--timeout", "300")
    (batch,) = asyncio.run(_workflow_ids(address, "WorkflowType = 'BatchSyncWorkflow'"))
    bosun.cli("schedule", "delete", "nightly")

    billing.write(
        {"web.json": deployment("invoices", replicas=1, labels={"tier": "not a valid label value!"})},
        "a label the API server rejects",
    )
    failed = bosun.cli("app", "sync", "billing", check=False)
    if failed.returncode != 1:
        raise RuntimeError(f"expected the billing sync to fail:\n{failed.stdout}\n{failed.stderr}")

    billing_ops = wait_history(bosun, "billing", 4)
    rec.fetch(
        "application-billing-running.json",
        "app:billing",
        state="running",
        story="manual app with bosun.dev/sync-schedule and syncPolicy.retry: manual sync, dry run, "
        "sync by the batch, a failed manual sync; fetched while running",
    )
    shop_ops = wait_history(bosun, "shop", 6)
    bosun.cli("app", "delete", "shop")
    rec.fetch(
        "application-shop-completed.json",
        "app:shop",
        state="completed",
        story="automated app with prune: first sync, timer refresh, refresh signal and auto-sync of a "
        "commit, app diff (refresh_now), manual sync, rollback, unpin, sync by the batch, "
        "deleted with cascade",
    )
    rec.fetch(
        "batch-nightly-completed.json",
        batch,
        state="completed",
        story="bosun schedule trigger nightly: shop then billing, in order",
    )
    # One SyncWorkflow of each shape (the others differ only in their payloads).
    dry_run = next(op for op in billing_ops if op["dry_run"])
    failed_op = next(op for op in billing_ops if op["phase"] == "Failed")
    for file, app, op in (
        ("sync-shop-first-completed.json", "shop", shop_ops[0]),
        ("sync-billing-dry-run-completed.json", "billing", dry_run),
        ("sync-billing-failed-completed.json", "billing", failed_op),
    ):
        rec.fetch(
            file,
            op["workflow_id"],
            state="completed",
            story=f"{app}'s sync #{op['id']} ({op['trigger']}): {op['phase']}"
            + (" (dry run)" if op["dry_run"] else "")
            + f", {op['message'][:300]}",
        )


def record_all(rec: Recorder) -> None:
    declared(rec)
    cli_apps(rec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the histories (default: here)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, repos)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bosun-histories-"))
    print(f"recording in {workdir}")
    try:
        with stack(workdir) as (bosun, cluster):
            rec = Recorder(bosun=bosun, cluster=cluster, workdir=workdir)
            record_all(rec)
        rec.write(args.out)
        print(f"wrote {len(rec.recorded)} histories to {args.out}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
