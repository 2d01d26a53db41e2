"""Chaos, measured (issue #16): syncs of apps with hooks and waves while the worker is
SIGKILLed, the Temporal dev server restarted (its SQLite file kept) and the kube-apiserver
restarted, at random points; then the counts the issue asks for.

One module for both forms: ``tests/chaos/test_chaos.py`` (a short run in CI) and
``bench/chaos.py`` (100 syncs, 10 kills, 3 + 3 restarts). Each gets a :class:`ChaosStack`
(a Temporal dev server it may restart, a devcluster whose API server it may restart, a
worker it may kill, a Basic-auth git server) and a :class:`ChaosPlan`, and gets back a
:class:`ChaosReport`.

How each count is made, so that a fault cannot hide what it should reveal:

* **Syncs**: every app is automated; a driver per app commits generation ``g`` and waits
  until the app's last operation is at that commit and the app is idle. A generation not
  finished within ``sync_timeout`` is *stuck*. After the run no SyncWorkflow may still run.
* **Hooks created twice**: every hook Bosun creates carries ``bosun.dev/operation`` (the
  operation attempt). A watch on Jobs in every namespace, resumed from its last
  resourceVersion across API server restarts (relisting only after a 410), plus a final
  list, collects the uid of every hook Job ever created, grouped by (namespace, hook,
  operation). Two uids in one group is a hook created twice, even if the first was deleted
  and the second has the same name. The PreSync hook has a ``generateName`` (one Job per
  operation, never deleted in the run); the PostSync hook has a fixed name, so each new
  operation deletes the previous one (BeforeHookCreation) and only the watch sees them all.
* **Objects lost / wrong revision**: every object of generation ``g`` carries ``g``; after
  the run each app's objects must exist with the generation of its last successful sync,
  and the app must be Synced at that commit.
* **Credentials**: the repositories are served over HTTP with Basic auth, through a
  repo-creds template; the password, its base64 and the Basic header's base64 are looked
  for in every event of every workflow history, the worker's and the Temporal server's
  logs and every file under the worker's ``BOSUN_HOME``.
* **Recovery**: the time from a fault's injection to the first sync that finished
  (``finished_at`` of its operation, workflow time) after it; and the fault's downtime (until
  the restarted component answered again).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bosun.hooks import OPERATION_ANNOTATION
from bosun.protocol import AppQuery, app_workflow_id
from devstack import cluster as devcluster
from devstack import temporal as devtemporal
from tests.e2e.bosun_stack import Bosun, GitRepo
from tests.e2e.gitservers import HttpGitServer, push
from workflows.state import AppStatus

GEN_ANNOTATION = "chaos.bosun.dev/generation"
PRE_HOOK_PREFIX = "pre-"
POST_HOOK_NAME = "smoke"
FAULT_KINDS = ("worker SIGKILL", "Temporal restart", "apiserver restart")


@dataclass(frozen=True)
class ChaosPlan:
    apps: int
    syncs_per_app: int
    worker_kills: int
    temporal_restarts: int
    apiserver_restarts: int
    seed: int = 16
    jitter: float = 4.0
    """Seconds of random delay before each fault, after a sync finished since the last one."""
    first_fault_after: float = 5.0
    sync_timeout: float = 300.0

    @property
    def syncs(self) -> int:
        return self.apps * self.syncs_per_app

    def faults(self) -> list[str]:
        kinds = (
            [FAULT_KINDS[0]] * self.worker_kills
            + [FAULT_KINDS[1]] * self.temporal_restarts
            + [FAULT_KINDS[2]] * self.apiserver_restarts
        )
        random.Random(self.seed).shuffle(kinds)
        return kinds


@dataclass
class ChaosStack:
    """What a chaos run drives: ``bosun`` (its worker is killed and started again),
    the Temporal dev server's directory (restarted with its SQLite file), the devcluster's
    state (its API server restarted), and the Basic-auth git server of the apps' repos."""

    bosun: Bosun
    temporal_dir: Path
    cluster: devcluster.ClusterState
    git_server: HttpGitServer
    work: Path
    """A directory for the run's source repositories and files."""


@dataclass
class Fault:
    kind: str
    injected_at: datetime
    in_flight: int
    """Apps with an operation running when the fault was injected (as last seen)."""
    downtime: float = 0.0
    """Seconds until the component answered again (the worker polled, the server was ready)."""
    recovery: float | None = None
    """Seconds from the injection to the first sync that finished after it."""
    resumed: float | None = None
    """Seconds from the injection until every sync committed before it and not yet finished
    had finished (the interrupted work done); None when none was pending or one never finished."""
    note: str = ""


@dataclass
class SyncRecord:
    app: str
    generation: int
    commit: str
    phase: str = ""
    """Succeeded, Failed, Error; "" if it never finished (stuck)."""
    message: str = ""
    workflow_id: str = ""
    committed_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def seconds(self) -> float | None:
        """From the commit (pushed) to the end of its sync: detection, render, hooks, waves."""
        if self.committed_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.committed_at).total_seconds()


@dataclass
class ChaosReport:
    plan: ChaosPlan
    syncs: list[SyncRecord] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    hook_jobs: int = 0
    hooks_twice: list[str] = field(default_factory=list)
    hooks_missing: list[str] = field(default_factory=list)
    objects_lost: list[str] = field(default_factory=list)
    wrong_revision: list[str] = field(default_factory=list)
    running_sync_workflows: list[str] = field(default_factory=list)
    credential_leaks: list[str] = field(default_factory=list)
    histories_scanned: int = 0
    authenticated_fetches: int = 0
    """Git requests the Basic-auth server answered 200: the credential was in use."""
    credential_control: bool = False
    """The repo-creds Secret holds the password in the encoding scanned for (the scan can find it)."""
    worker_exits: list[str] = field(default_factory=list)
    """The worker exiting on its own (not killed by the run)."""
    seconds: float = 0.0

    def count(self, phase: str) -> int:
        return sum(1 for s in self.syncs if s.phase == phase)

    @property
    def stuck(self) -> list[SyncRecord]:
        return [s for s in self.syncs if not s.phase]

    def problems(self) -> list[str]:
        """What makes the run fail: the issue's zeros, and every fault injected."""
        found: list[str] = []
        found += [f"sync stuck: {s.app} generation {s.generation} ({s.commit[:12]})" for s in self.stuck]
        found += [
            f"sync {s.app} generation {s.generation}: {s.phase} {s.message!r}" for s in self.syncs if s.phase == "Error"
        ]
        found += [f"hook created twice: {h}" for h in self.hooks_twice]
        found += [f"hook missing: {h}" for h in self.hooks_missing]
        found += [f"object lost: {o}" for o in self.objects_lost]
        found += [f"wrong revision: {o}" for o in self.wrong_revision]
        found += [f"sync workflow still running: {w}" for w in self.running_sync_workflows]
        found += [f"credential leak: {c}" for c in self.credential_leaks]
        found += [f"the worker exited on its own: {e}" for e in self.worker_exits]
        if not self.authenticated_fetches or not self.credential_control:
            found.append("the credential scan proves nothing: no authenticated fetch, or the Secret control failed")
        if len(self.faults) != len(self.plan.faults()):
            found.append(f"only {len(self.faults)} of {len(self.plan.faults())} faults injected")
        found += [
            f"fault with no sync finished after it: {f.kind} at {f.injected_at:%H:%M:%S}"
            for f in self.faults
            if f.recovery is None
        ]
        return found

    def table(self) -> str:
        rows = [
            (f"syncs (at least {self.plan.syncs})", str(len(self.syncs))),
            ("  Succeeded", str(self.count("Succeeded"))),
            ("  Failed (a clear failure)", str(self.count("Failed"))),
            ("  Error", str(self.count("Error"))),
            ("  stuck (not finished in time)", str(len(self.stuck))),
            ("sync workflows still running after", str(len(self.running_sync_workflows))),
            ("hook Jobs created (distinct uids)", str(self.hook_jobs)),
            ("hooks created twice", str(len(self.hooks_twice))),
            ("hooks missing from a Succeeded sync", str(len(self.hooks_missing))),
            ("objects lost", str(len(self.objects_lost))),
            ("objects at a wrong revision", str(len(self.wrong_revision))),
            ("workflow histories scanned", str(self.histories_scanned)),
            ("git requests served with the credential", str(self.authenticated_fetches)),
            ("credentials found in histories/logs/files", str(len(self.credential_leaks))),
            ("worker exits not caused by the run", str(len(self.worker_exits))),
            ("wall time", f"{self.seconds:.0f} s"),
        ]
        durations = sorted(d for d in (s.seconds for s in self.syncs) if d is not None)
        if durations:
            rows.append(
                ("commit to sync finished", f"median {durations[len(durations) // 2]:.1f} s, max {durations[-1]:.1f} s")
            )
        width = max(len(r[0]) for r in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [
            "",
            "recovery: from the fault to the first sync finished after it; resumed: to the end of the last",
            "sync that was pending (committed, not finished) when the fault struck",
            "",
            "fault                injected  in flight  downtime   recovery    resumed",
        ]

        def seconds(value: float | None) -> str:
            return f"{value:7.1f} s" if value is not None else "        -"

        for f in self.faults:
            lines.append(
                f"{f.kind:<20} {f.injected_at:%H:%M:%S}  {f.in_flight:9d}  {f.downtime:6.1f} s"
                f"  {seconds(f.recovery)}  {seconds(f.resumed)}"
            )
        for kind in FAULT_KINDS:
            for label, values in (
                ("recovery", [f.recovery for f in self.faults if f.kind == kind]),
                ("resumed", [f.resumed for f in self.faults if f.kind == kind]),
            ):
                times = sorted(v for v in values if v is not None)
                if times:
                    lines.append(
                        f"{kind}: {label} median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s (n={len(times)})"
                    )
        return "\n".join(lines)

    def details(self) -> str:
        """One line per sync, in commit order: for finding the slow or failed one in a history."""
        lines = []
        for s in sorted(self.syncs, key=lambda s: s.committed_at or datetime.min.replace(tzinfo=UTC)):
            took = f"{s.seconds:6.1f} s" if s.seconds is not None else "   stuck"
            committed = f"{s.committed_at:%H:%M:%S}" if s.committed_at else "?"
            lines.append(
                f"{committed}  {s.app} g{s.generation} {s.commit[:8]}  {s.phase or '-':<9} {took}  {s.workflow_id}"
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------- the apps


def _job(name: str, *, hook: str, generate_name: bool, generation: int, run_ms: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "annotations": {"argocd.argoproj.io/hook": hook, GEN_ANNOTATION: str(generation)},
    }
    metadata["generateName" if generate_name else "name"] = name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"devcluster.bosun.dev/run-ms": str(run_ms)}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    }


def configmap(name: str, wave: int, generation: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "annotations": {"argocd.argoproj.io/sync-wave": str(wave), GEN_ANNOTATION: str(generation)},
        },
        "data": {"generation": str(generation)},
    }


def _deployment(generation: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "annotations": {"argocd.argoproj.io/sync-wave": "1", GEN_ANNOTATION: str(generation)},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                # a new generation rolls the pods, so wave 1 waits for a real rollout
                "metadata": {"labels": labels, "annotations": {GEN_ANNOTATION: str(generation)}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


def app_files(generation: int) -> dict[str, str | None]:
    """Generation ``generation`` of every app: a PreSync hook (generateName), waves 0-2, a
    PostSync hook (fixed name); every object carries the generation."""
    docs = {
        "pre.json": _job(PRE_HOOK_PREFIX, hook="PreSync", generate_name=True, generation=generation, run_ms=1500),
        "config.json": configmap("config", 0, generation),
        "web.json": _deployment(generation),
        "done.json": configmap("done", 2, generation),
        "post.json": _job(POST_HOOK_NAME, hook="PostSync", generate_name=False, generation=generation, run_ms=500),
    }
    return {name: json.dumps(doc) for name, doc in docs.items()}


TRACKED = (("configmap", "config"), ("deployment", "web"), ("configmap", "done"))
"""The objects of an app that must exist after the run (hooks are counted apart)."""


# ----------------------------------------------------------------------------- counting (pure)

HookUids = dict[tuple[str, str, str], set[str]]
"""(namespace, hook, operation) -> the uids of the Jobs seen: ``hook`` is the generateName
prefix or the fixed name, ``operation`` the ``bosun.dev/operation`` annotation."""


def count_hooks(
    seen: HookUids, namespaces: dict[str, str], syncs: list[SyncRecord]
) -> tuple[int, list[str], list[str]]:
    """(hook Jobs created, hooks created twice, hooks missing) for the apps of ``namespaces``
    (app -> namespace): two uids for one hook of one operation attempt is a second creation,
    whatever their names; a Succeeded sync without each hook is a hook missing."""
    ours = {k: v for k, v in seen.items() if k[0] in namespaces.values()}
    twice = [
        f"{namespace} {hook} of {operation}: {len(uids)} Jobs {sorted(uids)}"
        for (namespace, hook, operation), uids in sorted(ours.items())
        if len(uids) > 1
    ]
    missing = [
        f"{record.app} {hook} of {record.workflow_id}"
        for record in syncs
        if record.phase == "Succeeded"
        for hook in (PRE_HOOK_PREFIX, POST_HOOK_NAME)
        if not any(
            ns == namespaces[record.app] and h == hook and op.split("#")[0] == record.workflow_id for ns, h, op in ours
        )
    ]
    return sum(len(v) for v in ours.values()), twice, missing


def measure_recovery(fault: Fault, syncs: list[SyncRecord]) -> None:
    """Set ``fault.recovery`` (to the first sync finished after it) and ``fault.resumed`` (to
    the end of the last sync pending when it struck)."""
    after = sorted(s.finished_at for s in syncs if s.finished_at is not None and s.finished_at > fault.injected_at)
    if after:
        fault.recovery = (after[0] - fault.injected_at).total_seconds()
    pending = [
        s
        for s in syncs
        if s.committed_at is not None
        and s.committed_at < fault.injected_at
        and (s.finished_at is None or s.finished_at > fault.injected_at)
    ]
    if pending and all(s.finished_at is not None for s in pending):
        last = max(s.finished_at for s in pending if s.finished_at is not None)
        fault.resumed = (last - fault.injected_at).total_seconds()


# ----------------------------------------------------------------------------- hook Jobs seen


class HookJobWatch:
    """Every hook Job (one carrying ``bosun.dev/operation``) created in the cluster, by uid.

    A thread lists Jobs in every namespace, then watches from that resourceVersion; a broken
    watch (an API server restart) resumes from the last version it saw, so no event is lost;
    only a 410 (history compacted) makes it list again, and objects are never deleted by
    this run except the fixed-name hook, whose deletion is an event seen before.
    """

    def __init__(self, kubeconfig: Path) -> None:
        self._api = k8s.BatchV1Api(k8s_config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.uids: HookUids = {}
        """(namespace, hook, operation) -> uids: ``hook`` is the generateName prefix or the name."""
        self.relists = 0
        self._thread = threading.Thread(target=self._run, name="chaos-hook-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def snapshot(self) -> HookUids:
        self._record_all(self._api.list_job_for_all_namespaces(_request_timeout=30).items)
        with self._lock:
            return {k: set(v) for k, v in self.uids.items()}

    def _record_all(self, jobs: list[Any]) -> None:
        for job in jobs:
            self._record(job)

    def _record(self, job: Any) -> None:
        meta = job.metadata
        operation = (meta.annotations or {}).get(OPERATION_ANNOTATION)
        if not operation:
            return
        hook = PRE_HOOK_PREFIX if meta.name.startswith(PRE_HOOK_PREFIX) else meta.name
        with self._lock:
            self.uids.setdefault((meta.namespace, hook, operation), set()).add(meta.uid)

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = self._api.list_job_for_all_namespaces(_request_timeout=30)
                    self._record_all(listing.items)
                    version = listing.metadata.resource_version if listing.metadata else None
                    self.relists += 1
                stream = k8s_watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self._api.list_job_for_all_namespaces,
                    resource_version=version,
                    timeout_seconds=5,  # how long stop() may wait
                    _request_timeout=30,
                )
                for event in stream:
                    self._record(event["object"])
                    version = event["object"].metadata.resource_version
                    if self._stop.is_set():
                        return
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                self._stop.wait(0.5)
            except Exception:  # noqa: BLE001 - the API server is down: try again
                self._stop.wait(0.5)


# ----------------------------------------------------------------------------- the run


class _Run:
    def __init__(self, stack: ChaosStack, plan: ChaosPlan, client: Client) -> None:
        self.stack = stack
        self.plan = plan
        self.client = client
        self.report = ChaosReport(plan=plan)
        self.rng = random.Random(plan.seed)
        self.suffix = secrets.token_hex(3)
        self.apps = [f"chaos-{self.suffix}-{i}" for i in range(plan.apps)]
        self.namespaces = {app: f"{app}-ns" for app in self.apps}
        self.operation: dict[str, str] = {app: "idle" for app in self.apps}
        self.drivers_done = False
        self.faults_over: datetime | None = None
        """When the last fault was over (the component back): syncs committed after it end the run."""
        self.worker_lock = asyncio.Lock()
        self.user = "chaos"
        self.password = "chaos-pw-" + secrets.token_hex(16)
        self.repos: dict[str, GitRepo] = {}
        self.created: dict[str, datetime] = {}
        """When each app was created: its first generation's "commit" time."""

    # --- setup

    def credentials_needles(self) -> list[str]:
        basic = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return [self.password, base64.b64encode(self.password.encode()).decode(), basic]

    def prefix(self) -> str:
        return f"http://127.0.0.1:{self.stack.git_server.port}/chaos-{self.suffix}"

    def setup(self) -> None:
        bosun = self.stack.bosun
        self.stack.git_server.users[self.user] = self.password
        bosun_repo = [sys.executable, "-m", "cli.main", "repo"]
        subprocess.run(
            [*bosun_repo, "add", self.prefix(), "--creds-template", "--username", self.user, "--password", "-"],
            input=self.password + "\n",
            env=bosun.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for app in self.apps:
            repo = GitRepo.create(self.stack.work / app, app_files(1))
            self.repos[app] = repo
            url = self.stack.git_server.publish(repo, f"chaos-{self.suffix}/{app}")
            self.created[app] = datetime.now(UTC)
            bosun.create_app(
                app,
                repo,
                namespace=self.namespaces[app],
                extra_spec={"source": {"repoURL": url, "path": ".", "targetRevision": "HEAD"}},
            )

    def teardown(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "cli.main", "repo", "rm", self.prefix(), "--creds-template"],
            env=self.stack.bosun.env,
            capture_output=True,
            timeout=60,
        )

    # --- statuses

    async def status(self, app: str) -> AppStatus | None:
        try:
            handle = self.client.get_workflow_handle(app_workflow_id(app))
            result: AppStatus = await handle.query(
                AppQuery.STATUS, result_type=AppStatus, rpc_timeout=timedelta(seconds=10)
            )
            return result
        except Exception:  # noqa: BLE001 - a fault is being injected: ask again
            return None

    def _synced_after_faults(self, app: str) -> bool:
        over = self.faults_over
        return over is not None and any(
            s.app == app and s.committed_at is not None and s.committed_at > over for s in self.report.syncs
        )

    async def drive(self, app: str) -> None:
        """Commit each generation and wait until a sync of it finished; at least
        ``syncs_per_app`` of them, and on until every fault is injected and one sync of this
        app ran after the last (so no fault falls after the work, and each one's recovery is
        seen). A stuck generation ends the app's run."""
        repo = self.repos[app]
        bare = self.stack.git_server.bare(f"chaos-{self.suffix}/{app}")
        for generation in range(1, self.plan.syncs_per_app * 10 + 1):
            if generation > self.plan.syncs_per_app and self._synced_after_faults(app):
                return
            if generation == 1:
                commit = await asyncio.to_thread(repo.git, "rev-parse", "HEAD")
            else:
                commit = await asyncio.to_thread(repo.write, app_files(generation), f"generation {generation}")
                await asyncio.to_thread(push, repo, bare)
            committed_at = self.created[app] if generation == 1 else datetime.now(UTC)
            record = SyncRecord(app=app, generation=generation, commit=commit, committed_at=committed_at)
            self.report.syncs.append(record)
            deadline = time.monotonic() + self.plan.sync_timeout
            while time.monotonic() < deadline:
                status = await self.status(app)
                if status is not None:
                    self.operation[app] = status.operation
                    op = status.last_operation
                    if op is not None and op.revision == commit and status.operation == "idle":
                        record.phase, record.message = str(op.phase), op.message
                        record.workflow_id, record.finished_at = op.workflow_id, op.finished_at
                        break
                await asyncio.sleep(1.0)
            self.operation[app] = "idle"
            if not record.phase:
                return

    # --- faults

    async def watch_worker(self) -> None:
        """A worker that exits on its own is a finding; it is started again so the run goes on."""
        bosun = self.stack.bosun
        while not self.drivers_done:
            async with self.worker_lock:
                if bosun.worker is not None and bosun.worker.poll() is not None:
                    self.report.worker_exits.append(
                        f"exit {bosun.worker.returncode} at {datetime.now(UTC):%H:%M:%S}; log tail:\n"
                        + bosun.worker_log.read_text(errors="replace")[-2000:]
                    )
                    bosun.worker = None
                    await asyncio.to_thread(bosun.start_worker)
            await asyncio.sleep(1.0)

    async def inject(self) -> None:
        try:
            await self._inject()
        finally:  # the drivers stop after their next sync, even when a restart failed
            self.faults_over = datetime.now(UTC)

    async def _inject(self) -> None:
        await asyncio.sleep(self.plan.first_fault_after)
        for kind in self.plan.faults():
            if self.report.faults:  # a sync finished after the last fault: its recovery is measured apart
                last = self.report.faults[-1].injected_at
                while not self.drivers_done and not any(
                    s.finished_at is not None and s.finished_at > last for s in self.report.syncs
                ):
                    await asyncio.sleep(0.5)
            await asyncio.sleep(self.rng.uniform(0, self.plan.jitter))
            if self.drivers_done:
                return
            fault = Fault(
                kind=kind,
                injected_at=datetime.now(UTC),
                in_flight=sum(1 for op in self.operation.values() if op != "idle"),
            )
            began = time.monotonic()
            await self.apply(fault)
            fault.downtime = time.monotonic() - began
            self.report.faults.append(fault)

    async def apply(self, fault: Fault) -> None:
        bosun = self.stack.bosun
        if fault.kind == "worker SIGKILL":
            async with self.worker_lock:
                if bosun.worker is not None:
                    await asyncio.to_thread(bosun.kill_worker)
                await asyncio.to_thread(bosun.start_worker)
        elif fault.kind == "Temporal restart":
            await asyncio.to_thread(devtemporal.restart, directory=self.stack.temporal_dir)
        else:
            await asyncio.to_thread(devcluster.restart_apiserver, self.stack.cluster)

    # --- checks

    def measure_recovery(self) -> None:
        for fault in self.report.faults:
            measure_recovery(fault, self.report.syncs)

    async def check_objects(self) -> None:
        core = self.stack.cluster
        for app in self.apps:
            done = [s for s in self.report.syncs if s.app == app and s.phase == "Succeeded"]
            if not done:
                continue
            last = done[-1]
            if last is not [s for s in self.report.syncs if s.app == app][-1]:
                continue  # a later generation failed: some of its waves may be applied, as Argo CD
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline:
                status = await self.status(app)
                if status is not None and status.sync.value == "Synced" and status.operation == "idle":
                    break
                await asyncio.sleep(1.0)
            if status is None or status.sync.value != "Synced" or status.revision != last.commit:
                got = "no answer" if status is None else f"{status.sync.value} at {status.revision[:12]}"
                self.report.wrong_revision.append(f"{app}: {got}, expected Synced at {last.commit[:12]}")
            for kind, name in TRACKED:
                out = await asyncio.to_thread(
                    devcluster.kubectl,
                    core,
                    "-n",
                    self.namespaces[app],
                    "get",
                    kind,
                    name,
                    "-o",
                    "json",
                    "--ignore-not-found",
                )
                if not out.strip():
                    self.report.objects_lost.append(f"{app}: {kind}/{name}")
                    continue
                annotations = json.loads(out)["metadata"].get("annotations") or {}
                if annotations.get(GEN_ANNOTATION) != str(last.generation):
                    self.report.wrong_revision.append(
                        f"{app}: {kind}/{name} at generation {annotations.get(GEN_ANNOTATION)},"
                        f" expected {last.generation}"
                    )

    def check_hooks(self, seen: HookUids) -> None:
        self.report.hook_jobs, self.report.hooks_twice, self.report.hooks_missing = count_hooks(
            seen, self.namespaces, self.report.syncs
        )

    async def check_workflows_and_credentials(self) -> None:
        running = [
            e.id
            async for e in self.client.list_workflows("WorkflowType = 'SyncWorkflow' AND ExecutionStatus = 'Running'")
        ]
        self.report.running_sync_workflows = [w for w in running if any(w.startswith(f"app:{a}:") for a in self.apps)]
        needles = [n.encode() for n in self.credentials_needles()]
        limit = asyncio.Semaphore(8)

        async def scan(workflow_id: str, run_id: str) -> list[str]:
            async with limit:
                history = await self.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            raw = b"".join(event.SerializeToString() for event in history.events)
            return [f"history of {workflow_id} ({run_id}): {n[:6]!r}…" for n in needles if n in raw]

        served = list(self.stack.git_server.requests)
        self.report.authenticated_fetches = sum(
            1 for _, path, status in served if status == 200 and path.startswith(f"/chaos-{self.suffix}/")
        )
        secrets_json = await asyncio.to_thread(
            devcluster.kubectl, self.stack.cluster, "-n", "bosun", "get", "secrets", "-o", "json"
        )
        self.report.credential_control = needles[1].decode() in secrets_json  # data.password, base64
        runs = [(e.id, e.run_id) async for e in self.client.list_workflows()]
        self.report.histories_scanned = len(runs)
        for found in await asyncio.gather(*(scan(*run) for run in runs)):
            self.report.credential_leaks += found
        files = [self.stack.bosun.worker_log, self.stack.temporal_dir / "temporal.log"]
        files += [p for p in self.stack.bosun.home.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in dict.fromkeys(files):
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                self.report.credential_leaks += [f"{path}: {n[:6]!r}…" for n in needles if n in data]


async def _run(stack: ChaosStack, plan: ChaosPlan) -> ChaosReport:
    client = await Client.connect(stack.bosun.temporal.address, data_converter=pydantic_data_converter)
    run = _Run(stack, plan, client)
    watch = HookJobWatch(stack.cluster.kubeconfig)
    watch.start()
    began = time.monotonic()
    try:
        await asyncio.to_thread(run.setup)
        injector = asyncio.create_task(run.inject())
        keeper = asyncio.create_task(run.watch_worker())
        try:
            await asyncio.gather(*(run.drive(app) for app in run.apps))
        finally:
            run.drivers_done = True
            await injector
            await keeper
        run.report.seconds = time.monotonic() - began
        run.measure_recovery()
        await run.check_objects()
        run.check_hooks(await asyncio.to_thread(watch.snapshot))
        await run.check_workflows_and_credentials()
    finally:
        watch.stop()
        await asyncio.to_thread(run.teardown)
        await _terminate_apps(client, run.apps)
    return run.report


async def _terminate_apps(client: Client, apps: list[str]) -> None:
    for app in apps:
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(app_workflow_id(app)).terminate("the chaos run is over")


def run(stack: ChaosStack, plan: ChaosPlan) -> ChaosReport:
    """The whole run, in its own event loop (callable from a test or a script)."""
    return asyncio.run(_run(stack, plan))


@contextlib.contextmanager
def git_server(root: Path) -> Iterator[HttpGitServer]:
    server = HttpGitServer(root=root, users={})
    server.start()
    try:
        yield server
    finally:
        server.stop()
