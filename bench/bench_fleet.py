"""Benchmark: a fleet of Applications on the local stack (issue #15), each figure beside its baseline.

It starts its own Temporal dev server, devcluster and worker (``--processes``, default one per
CPU, as ``worker/launch.py``) in a temporary directory, then measures, in one process:

  cold     N one-ConfigMap Applications declared at once with ``kubectl apply`` into the control
           namespace → seconds until all are Synced/Healthy in their written-back status (and the
           first one). Baseline: ``kubectl apply --server-side`` of the same N ConfigMaps.
  idle     worker processes' and the Temporal server's CPU seconds per minute with the fleet synced,
           at the default refresh (180 s). Baseline: the same stack with no apps, measured first.
  noop     worker CPU per no-op reconcile (``refresh_now``) of a 20-resource app, the fleet's idle
           CPU subtracted. Baseline: ``kubectl apply --server-side --dry-run=server`` of the same
           20 objects (wall time; what a no-op reconcile must at least ask the API server).
  drift    ``kubectl scale`` of a selfHeal app's Deployment → spec.replicas back to the Git value,
           p50 of ``--samples`` (the app refreshes every 180 s; a sample not healed within
           ``--drift-timeout`` is reported as such and healed by a refresh). Baseline: a
           ``kubectl scale`` back to the Git value (the API round trip).
  webhook  a commit to a one-Deployment app's repository, then a GitHub push payload POSTed to
           ``/api/webhook`` (``BOSUN_WEBHOOK_PORT``, else the HTTP port) → the app Synced/Healthy at that commit, p50.
           Skipped with a message when the endpoint answers 404 (not built) or cannot be reached.
           Baseline: ``kubectl apply --server-side`` of the changed Deployment + ``rollout status``.
  rss      resident memory of the worker processes with the fleet. Baseline: right after start.

Run (parts: cold, idle, noop, drift, webhook, rss; default all):
    .venv/bin/python bench/bench_fleet.py --apps 100
    .venv/bin/python bench/bench_fleet.py --apps 100,1000 --only cold,idle,rss
    .venv/bin/python bench/bench_fleet.py --apps 100 --only drift,webhook --samples 3
    .venv/bin/python bench/bench_fleet.py --apps 100 --only idle --env BOSUN_REVISION_CACHE_SECONDS=0
With several ``--apps`` sizes the stack is started afresh for each. ``idle``, ``noop`` and
``rss`` run with the fleet declared (untimed when ``cold`` is not asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import manifests as mixed_manifests  # noqa: E402

from devstack import cluster as devcluster  # noqa: E402
from devstack import processes  # noqa: E402
from devstack import temporal as devtemporal  # noqa: E402

PARTS = ("cold", "idle", "noop", "drift", "webhook", "rss")
CONTROL_NAMESPACE = "bosun"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@x",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@x",
}


# -- processes: CPU and memory from /proc


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants now (a supervisor's worker children, restarted ones included)."""
    found = [pid]
    for parent in found:
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            with suppress(FileNotFoundError):
                found += [int(c) for c in Path(f"/proc/{parent}/task/{task}/children").read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants, with the children they ran and waited for
    (git, helm, kubectl: a worker's subprocesses are part of its cost)."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def rss_bytes(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


# -- git and kubectl


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def git_repo(path: Path, files: dict[str, str]) -> str:
    path.mkdir(parents=True)
    write(path, files)
    git(path, "init", "-q", "-b", "main")
    commit(path, "bench")
    return f"file://{path}"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, timeout: float = 600) -> str:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={kubeconfig}", *args],
        check=True,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    ).stdout


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def configmap(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"app": name}})


def deployment(name: str, replicas: int, version: str = "1") -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {"name": "main", "image": "nginx:1.27", "env": [{"name": "V", "value": version}]}
                        ]
                    },
                },
            },
        }
    )


def application(name: str, repo_url: str, path: str, namespace: str, *, self_heal: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": CONTROL_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "path": path, "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": self_heal},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the stack


@dataclass
class Stack:
    work: Path
    kubeconfig: Path
    env: dict[str, str]
    temporal_pid: int
    http_port: int
    webhook_port: int
    worker: subprocess.Popen[bytes]
    rss_at_start: int = 0
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)


@contextmanager
def stack(processes_count: int, worker_env: dict[str, str]) -> Iterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="bosun-fleet-"))
    temporal_port, ui_port, http_port, webhook_port = processes.free_ports(4)
    temporal = devtemporal.up(port=temporal_port, ui_port=ui_port, directory=work / "temporal")
    name = f"fleet-{uuid.uuid4().hex[:6]}"
    worker: subprocess.Popen[bytes] | None = None
    try:
        cluster = devcluster.up(name, directory=work / "cluster", nodes=3, pod_run_ms=500)
        kubectl(cluster.kubeconfig, "apply", "-f", str(REPO_ROOT / "deploy" / "crds"))
        kubectl(cluster.kubeconfig, "create", "namespace", CONTROL_NAMESPACE)
        env = {
            **os.environ,
            "BOSUN_TEMPORAL_ADDRESS": temporal.address,
            "BOSUN_HOME": str(work / "home"),
            "BOSUN_TASK_QUEUE": "fleet",
            "BOSUN_ALLOW_LOCAL_REPOS": "true",  # the benchmark's repositories are local
            "BOSUN_KUBECONFIG": str(cluster.kubeconfig),
            "BOSUN_HTTP_PORT": str(http_port),
            # with --processes N the supervisor holds BOSUN_HTTP_PORT; process 0 serves webhooks here
            "BOSUN_WEBHOOK_PORT": str(webhook_port),
            **worker_env,
        }
        log = work / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", "--processes", str(processes_count)],
            env=env,
            cwd=REPO_ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("bosun worker polling") < processes_count:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        os.environ.update(env)
        yield Stack(
            work=work,
            kubeconfig=cluster.kubeconfig,
            env=env,
            temporal_pid=temporal.pid,
            http_port=http_port,
            webhook_port=webhook_port,
            worker=worker,
        )
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=40)
            except subprocess.TimeoutExpired:
                worker.kill()
        devcluster.down(name, directory=work / "cluster")
        devtemporal.down(directory=work / "temporal")


# -- the parts


def application_statuses(kubeconfig: Path) -> dict[str, tuple[str, str]]:
    items = json.loads(kubectl(kubeconfig, "-n", CONTROL_NAMESPACE, "get", "applications.argoproj.io", "-o", "json"))
    result = {}
    for item in items["items"]:
        status = item.get("status") or {}
        result[item["metadata"]["name"]] = (
            (status.get("sync") or {}).get("status", ""),
            (status.get("health") or {}).get("status", ""),
        )
    return result


def cold_fleet(s: Stack, apps: int, timeout: float, timed_run: bool) -> None:
    names = [f"fleet-{i:04}" for i in range(apps)]
    repo = s.work / "fleet-repo"
    repo_url = git_repo(repo, {f"apps/{n}/cm.json": configmap(n) for n in names})

    if timed_run:
        kubectl(s.kubeconfig, "create", "namespace", "kubectl-fleet")
        baseline = timed(
            lambda: kubectl(
                s.kubeconfig, "-n", "kubectl-fleet", "apply", "--server-side", "-R", "-f", str(repo / "apps")
            )
        )
    documents = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [application(n, repo_url, f"apps/{n}", "fleet") for n in names],
    }
    cpu_before = cpu_seconds(s.worker.pid), cpu_seconds(s.temporal_pid)
    started = time.perf_counter()
    kubectl(s.kubeconfig, "apply", "-f", "-", input=json.dumps(documents))
    declared = time.perf_counter() - started
    first = None
    next_progress = 60.0
    while True:
        statuses = application_statuses(s.kubeconfig)
        done = sum(1 for n in names if statuses.get(n) == ("Synced", "Healthy"))
        elapsed = time.perf_counter() - started
        if done and first is None:
            first = elapsed
        if done == apps:
            break
        if elapsed > timeout:
            s.say(f"cold      NOT REACHED: {done}/{apps} Synced/Healthy after {elapsed:.0f} s")
            return
        if elapsed >= next_progress:
            s.say(f"cold      … {done}/{apps} Synced/Healthy after {elapsed:.0f} s")
            next_progress += 60.0
        time.sleep(1.0)
    worker_cpu = cpu_seconds(s.worker.pid) - cpu_before[0]
    temporal_cpu = cpu_seconds(s.temporal_pid) - cpu_before[1]
    if timed_run:
        s.say(f"baseline  kubectl apply --server-side of {apps} ConfigMaps:        {baseline:8.2f} s")
        s.say(f"cold      {apps} apps declared ({declared:.1f} s) → all Synced/Healthy: {elapsed:8.2f} s")
        s.say(f"cold      first app Synced/Healthy:                              {first:8.2f} s")
        s.say(f"ratio     all Synced/Healthy / kubectl apply:                    {elapsed / baseline:8.2f}x")
        s.say(f"cold      CPU meanwhile: worker {worker_cpu:.1f} s, Temporal {temporal_cpu:.1f} s")
        app_events, sync_events, activity_tasks = asyncio.run(history_cost(names[: min(10, apps)]))
        s.say(
            f"cold      history of one app when all are synced: {app_events:.0f} events in its workflow, "
            f"{sync_events:.0f} in its sync's, {activity_tasks:.0f} activity tasks (mean of {min(10, apps)})"
        )


async def history_cost(names: list[str]) -> tuple[float, float, float]:
    """Mean events in each app workflow's history and in its first sync's, and activity tasks in both:
    what the Temporal server stores and dispatches per app (its CPU follows them)."""
    from temporalio.api.enums.v1 import EventType

    c = await client()
    app_events = sync_events = tasks = 0
    for name in names:
        for workflow_id in (f"app:{name}", f"app:{name}:sync:1"):
            events = [e async for e in c.get_workflow_handle(workflow_id).fetch_history_events()]
            tasks += sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
            if workflow_id.endswith(":1"):
                sync_events += len(events)
            else:
                app_events += len(events)
    return app_events / len(names), sync_events / len(names), tasks / len(names)


def cpu_per_minute(s: Stack, seconds: float) -> tuple[float, float]:
    before = cpu_seconds(s.worker.pid), cpu_seconds(s.temporal_pid)
    time.sleep(seconds)
    return (
        (cpu_seconds(s.worker.pid) - before[0]) * 60 / seconds,
        (cpu_seconds(s.temporal_pid) - before[1]) * 60 / seconds,
    )


async def client() -> Any:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    return await Client.connect(os.environ["BOSUN_TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)


async def create_app(manifest: dict[str, Any], refresh_seconds: float) -> Any:
    """An app started as ``bosun app create`` does; its workflow handle."""
    from bosun.models import parse_application
    from cli.app import start_application

    c = await client()
    await start_application(
        c,
        parse_application(manifest),
        manifest,
        task_queue=os.environ["BOSUN_TASK_QUEUE"],
        refresh_seconds=refresh_seconds,
        upsert=False,
    )
    return c.get_workflow_handle(f"app:{manifest['metadata']['name']}")


async def wait_app(handle: Any, *, revision: str = "", timeout: float = 300) -> float:
    """Seconds until the app is Synced/Healthy (at ``revision`` when given)."""
    from workflows.state import AppStatus

    started = time.perf_counter()
    while True:
        status = await handle.query("status", result_type=AppStatus)
        if (
            str(status.sync) == "Synced"
            and str(status.health) == "Healthy"
            and (not revision or status.revision == revision)
        ):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(
                f"{handle.id}: {status.sync}/{status.health} at {status.revision[:12]} after {timeout} s"
            )
        await asyncio.sleep(0.2)


def noop_reconcile(s: Stack, reconciles: int, idle_worker_per_minute: float) -> None:
    from bosun.protocol import RefreshRequest
    from workflows.state import AppStatus, OperationResult, SyncRequest

    files = mixed_manifests(20)
    repo = s.work / "noop-repo"
    repo_url = git_repo(repo, files)
    kubectl(s.kubeconfig, "create", "namespace", "kubectl-noop")
    kubectl(s.kubeconfig, "-n", "kubectl-noop", "apply", "--server-side", "-f", str(repo))
    baseline = timed(
        lambda: kubectl(
            s.kubeconfig, "-n", "kubectl-noop", "apply", "--server-side", "--dry-run=server", "-f", str(repo)
        )
    )

    async def run() -> tuple[float, float]:
        manifest = application("noop", repo_url, ".", "bench-noop")
        del manifest["spec"]["syncPolicy"]["automated"]
        handle = await create_app(manifest, refresh_seconds=3600)
        await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)
        result = await handle.execute_update("sync", SyncRequest(), result_type=OperationResult)
        assert result.phase == "Succeeded", result.message
        await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)  # warm caches
        cpu_before = cpu_seconds(s.worker.pid)
        started = time.perf_counter()
        for _ in range(reconciles):
            status = await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)
            assert str(status.sync) == "Synced", status.sync
        wall = time.perf_counter() - started
        cpu = cpu_seconds(s.worker.pid) - cpu_before - idle_worker_per_minute * wall / 60
        return wall / reconciles, cpu / reconciles

    wall, cpu = asyncio.run(run())
    s.say(f"baseline  kubectl apply --server-side --dry-run=server, 20 objects: {baseline * 1000:7.0f} ms wall")
    s.say(
        f"noop      no-op reconcile of a 20-resource app: {wall * 1000:7.0f} ms wall, {cpu * 1000:6.0f} ms worker CPU "
        f"(mean of {reconciles}, fleet idle CPU subtracted)"
    )
    s.say(f"ratio     no-op reconcile wall / kubectl dry-run apply:          {wall / baseline:8.2f}x")


def drift_to_healed(s: Stack, samples: int, timeout: float) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from bosun.protocol import RefreshRequest
    from workflows.state import AppStatus

    repo = s.work / "drift-repo"
    repo_url = git_repo(repo, {"deploy.json": deployment("drift", 2)})
    apps = k8s.AppsV1Api(k8s_config.new_client_from_config(config_file=str(s.kubeconfig)))

    def replicas() -> int:
        return int(apps.read_namespaced_deployment("drift", "bench-drift").spec.replicas)

    def scale(to: int) -> None:
        kubectl(s.kubeconfig, "-n", "bench-drift", "scale", "deployment/drift", f"--replicas={to}")

    async def run() -> tuple[list[float], list[float], int]:
        handle = await create_app(application("drift", repo_url, ".", "bench-drift", self_heal=True), 180)
        await wait_app(handle)
        healed, baselines, missed = [], [], 0
        for _ in range(samples):
            scale(5)
            started = time.perf_counter()
            while replicas() != 2 and time.perf_counter() - started < timeout:
                await asyncio.sleep(0.1)
            if replicas() == 2:
                healed.append(time.perf_counter() - started)
            else:
                missed += 1
                await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)
                while replicas() != 2:
                    await asyncio.sleep(0.2)
            await wait_app(handle)
            scale(5)
            baselines.append(timed(lambda: scale(2)))
        return healed, baselines, missed

    healed, baselines, missed = asyncio.run(run())
    s.say(f"baseline  kubectl scale back to the Git value:                   {p50(baselines):8.2f} s p50")
    if healed:
        s.say(f"drift     kubectl scale → healed (selfHeal, refresh 180 s): {p50(healed):8.2f} s p50 of {len(healed)}")
        s.say(f"ratio     healed / kubectl scale back:                           {p50(healed) / p50(baselines):8.2f}x")
    if missed:
        s.say(f"drift     {missed} of {samples} samples not healed within {timeout:.0f} s (healed by a refresh)")


def push_payload(repo_url: str, before: str, after: str) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": before,
            "after": after,
            "repository": {
                "name": "hooked",
                "full_name": "bench/hooked",
                "html_url": repo_url,
                "clone_url": repo_url,
                "default_branch": "main",
            },
            "commits": [{"id": after, "added": [], "removed": [], "modified": ["deploy.json"]}],
        }
    ).encode()


def post_webhook(port: int, body: bytes) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/webhook",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/bench",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def commit_to_healthy(s: Stack, samples: int, timeout: float) -> None:
    repo = s.work / "hooked-repo"
    repo_url = git_repo(repo, {"deploy.json": deployment("hooked", 1)})
    kubectl(s.kubeconfig, "create", "namespace", "kubectl-hooked")
    baselines = []
    path = s.work / "kubectl-hooked.json"
    for i in range(samples):
        path.write_text(deployment("hooked", 1, version=f"k{i}"))
        baselines.append(
            timed(
                lambda: (
                    kubectl(s.kubeconfig, "-n", "kubectl-hooked", "apply", "--server-side", "-f", str(path)),
                    kubectl(s.kubeconfig, "-n", "kubectl-hooked", "rollout", "status", "deployment/hooked"),
                )
            )
        )
    s.say(f"baseline  kubectl apply --server-side + rollout status:          {p50(baselines):8.2f} s p50")

    async def run() -> list[float] | str:
        handle = await create_app(application("hooked", repo_url, ".", "bench-hooked"), 180)
        await wait_app(handle)
        results = []
        for i in range(samples):
            before = git(repo, "rev-parse", "HEAD")
            write(repo, {"deploy.json": deployment("hooked", 1, version=f"b{i}")})
            after = commit(repo, f"version b{i}")
            started = time.perf_counter()
            body = push_payload(repo_url, before, after)
            try:
                code = post_webhook(s.webhook_port, body)
            except OSError:  # no BOSUN_WEBHOOK_PORT in this build: the probes' port, as one process serves it
                try:
                    code = post_webhook(s.http_port, body)
                except OSError as exc:
                    return f"webhook   SKIPPED: nothing answers on the worker's HTTP ports ({exc})"
            if code == 404:
                return "webhook   SKIPPED: POST /api/webhook answered 404 (the webhook endpoint is not in this build)"
            if code >= 300:
                return f"webhook   SKIPPED: POST /api/webhook answered {code}"
            try:
                await wait_app(handle, revision=after, timeout=timeout)
            except TimeoutError as exc:  # the push matched no app, or the refresh did not happen
                return f"webhook   NOT LIVE: answered {code}, but {exc}"
            results.append(time.perf_counter() - started)
        return results

    outcome = asyncio.run(run())
    if isinstance(outcome, str):
        s.say(outcome)
        return
    s.say(f"webhook   commit + push webhook → Synced/Healthy at it:         {p50(outcome):8.2f} s p50 of {samples}")
    s.say(f"ratio     webhook to healthy / kubectl apply + rollout status:   {p50(outcome) / p50(baselines):8.2f}x")


# -- main


def run(apps: int, parts: set[str], args: argparse.Namespace) -> None:
    settings = "".join(f", {item}" for item in args.env)
    chosen = ", ".join(p for p in PARTS if p in parts)
    print(f"\n== {apps} apps, {args.processes} worker processes{settings}, parts: {chosen}")
    worker_env = dict(item.split("=", 1) for item in args.env)
    with stack(args.processes, worker_env) as s:
        rss_start = rss_bytes(s.worker.pid)
        idle_baseline = None
        if "idle" in parts:
            idle_baseline = cpu_per_minute(s, args.idle_seconds / 3)
        fleet = bool(parts & {"cold", "idle", "noop", "rss"})
        if fleet:
            cold_fleet(s, apps, args.cold_timeout, timed_run="cold" in parts)
        idle = (0.0, 0.0)
        if "idle" in parts or "noop" in parts:
            idle = cpu_per_minute(s, args.idle_seconds)
        if "idle" in parts and idle_baseline is not None:
            s.say(
                f"baseline  idle, no apps: worker {idle_baseline[0]:6.2f} CPU-s/min, "
                f"Temporal {idle_baseline[1]:6.2f} CPU-s/min"
            )
            s.say(
                f"idle      {apps} synced apps (refresh 180 s): worker {idle[0]:6.2f} CPU-s/min, "
                f"Temporal {idle[1]:6.2f} CPU-s/min (over {args.idle_seconds:.0f} s)"
            )
        if "rss" in parts:
            rss = rss_bytes(s.worker.pid)
            s.say(
                f"baseline  worker RSS at start ({args.processes} processes + supervisor): {rss_start / 2**20:7.0f} MiB"
            )
            s.say(f"rss       worker RSS with {apps} apps:                        {rss / 2**20:7.0f} MiB")
        if "noop" in parts:
            noop_reconcile(s, args.reconciles, idle[0])
        if "drift" in parts:
            drift_to_healed(s, args.samples, args.drift_timeout)
        if "webhook" in parts:
            commit_to_healthy(s, args.samples, args.webhook_timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", default="100", help="fleet sizes, comma-separated (default 100)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, comma-separated ({', '.join(PARTS)})")
    parser.add_argument(
        "--processes",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="worker processes (default: one per CPU, as `--processes auto`)",
    )
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument("--reconciles", type=int, default=10, help="no-op reconciles measured (default 10)")
    parser.add_argument("--samples", type=int, default=5, help="drift and webhook samples (default 5)")
    parser.add_argument(
        "--drift-timeout", type=float, default=30.0, help="seconds a drift sample may take (default 30)"
    )
    parser.add_argument(
        "--webhook-timeout", type=float, default=60.0, help="seconds a pushed commit may take to be live (default 60)"
    )
    parser.add_argument(
        "--cold-timeout", type=float, default=600.0, help="seconds the cold fleet may take (default 600)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the worker, e.g. BOSUN_REVISION_CACHE_SECONDS=0 (repeatable)",
    )
    args = parser.parse_args()
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    try:
        sizes = [int(n) for n in args.apps.split(",")]
    except ValueError:
        parser.error(f"--apps takes numbers, comma-separated, got {args.apps!r}")
    # `timeout` and `kill` end the benchmark with SIGTERM: stop the stack it started on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for apps in sizes:
        run(apps, parts, args)


if __name__ == "__main__":
    main()
