"""Scale-out of the worker on the real stack (issue 14, item 5): several processes, cluster sharding,
graceful SIGTERM, /healthz and /readyz.

Each test runs its own ``bosun worker ...`` (the CLI verb, which execs ``python -m worker``) on a task
queue of its own, next to the session's worker, and asks the Temporal server who polls which queue
(DescribeTaskQueue: a poller's identity is ``<pid>@<host>``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from temporalio.api.enums.v1 import PendingActivityState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.conftest import Cluster
from tests.e2e.bosun_stack import Bosun, GitRepo, unique
from tests.e2e.conftest import eventually
from tests.e2e.test_app_lifecycle import configmap, wait_status

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # away from pytest-asyncio's event loop
        return pool.submit(asyncio.run, coroutine).result(timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


@dataclass
class Worker:
    """One ``bosun worker`` process tree (the CLI execs into it, so ``process`` is the worker)."""

    process: subprocess.Popen[bytes]
    log: Path
    port: int

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, pattern: str, *, count: int = 1, timeout: float = 300) -> list[re.Match[str]]:
        def found() -> list[re.Match[str]] | None:
            assert self.process.poll() is None, f"worker exited {self.process.returncode}:\n{self.text()[-4000:]}"
            matches = list(re.finditer(pattern, self.text()))
            return matches if len(matches) >= count else None

        return eventually(found, timeout=timeout, what=f"{count} x {pattern!r} in the worker log")  # type: ignore[no-any-return]

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the supervisor forwards it to its children
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


@dataclass
class Stack:
    bosun: Bosun
    """The CLI on this test's task queue (its ``start_worker`` is not used)."""
    cluster: Cluster
    workers: list[Worker]

    @property
    def queue(self) -> str:
        return self.bosun.task_queue

    def start(self, *args: str, env: dict[str, str] | None = None) -> Worker:
        log = self.bosun.home / f"worker-{len(self.workers)}.log"
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", *args],
            env={**self.bosun.env, "BOSUN_HTTP_PORT": str(port), **(env or {})},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(process, log, port)
        self.workers.append(worker)
        return worker

    def pollers(self, queue: str, kind: TaskQueueType.ValueType) -> set[int]:
        """The pids polling ``queue`` (for ``kind`` tasks) on this machine, as Temporal saw them lately."""

        async def describe() -> set[int]:
            client = await Client.connect(self.bosun.temporal.address)
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind)
            )
            return {int(p.identity.split("@")[0]) for p in response.pollers if p.identity.split("@")[0].isdigit()}

        return run_async(describe())


@pytest.fixture
def stack(bosun: Bosun, devcluster_a: Cluster, tmp_path: Path) -> Iterator[Stack]:
    own = Bosun(
        temporal=bosun.temporal,
        home=tmp_path / "home",
        kubeconfigs=bosun.kubeconfigs,
        task_queue=unique("bosun-scaleout"),
        worker_log=tmp_path / "unused.log",
    )
    own.home.mkdir()
    result = Stack(own, devcluster_a, [])
    try:
        yield result
    finally:
        for worker in result.workers:
            worker.stop()


WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


def child_pids(worker: Worker) -> dict[int, int]:
    """Process index → pid of its latest start, from the supervisor's log."""
    return {int(m[1]): int(m[2]) for m in re.finditer(r"worker process (\d+) started \(pid (\d+)\)", worker.text())}


def test_two_processes_share_the_queues_and_a_dead_one_is_restarted(stack: Stack, tmp_path: Path) -> None:
    worker = stack.start("--processes", "2")
    worker.wait_log(r"bosun worker polling", count=2)
    eventually(lambda: http_status(worker.port, "/readyz") == 200, what="supervisor /readyz 200")
    assert http_status(worker.port, "/healthz") == 200
    first = child_pids(worker)
    assert set(first) == {0, 1} and worker.process.pid not in first.values()
    # Each poller shows in Temporal's list only after its first poll: the workflow and activity
    # pollers of a just-started process start moments apart (CI saw them 150 ms apart).
    children = set(first.values())
    eventually(lambda: children <= stack.pollers(stack.queue, WORKFLOW), what="both children poll workflows")
    eventually(lambda: children <= stack.pollers(stack.queue, ACTIVITY), what="both children poll activities")
    # Only process 0 watches Applications (and Rollouts).
    worker.wait_log(r"\[process 0\] worker.app_watch: watching Applications")
    assert "[process 1] worker.app_watch" not in worker.text()

    os.kill(first[1], signal.SIGKILL)
    worker.wait_log(r"worker process 1 exited with -9; restarting", timeout=120)
    worker.wait_log(r"worker process 1 started", count=2, timeout=120)
    worker.wait_log(r"bosun worker polling", count=3)
    restarted = child_pids(worker)[1]
    assert restarted != first[1]
    eventually(lambda: restarted in stack.pollers(stack.queue, WORKFLOW), what="the restarted child polls")
    eventually(lambda: http_status(worker.port, "/readyz") == 200, what="/readyz 200 again")

    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("scaled", {"by": "two processes"})})
    app = unique("procs")
    stack.bosun.create_app(app, repo, namespace=app)
    wait_status(stack.bosun, app, sync="Synced", health="Healthy", timeout=180)

    started = time.monotonic()
    assert worker.stop() == 0, worker.text()[-4000:]
    assert time.monotonic() - started < 30
    assert worker.text().count("bosun worker stopped") == 2


def test_children_stop_when_the_supervisor_is_killed(stack: Stack) -> None:
    worker = stack.start("--processes", "2")
    worker.wait_log(r"bosun worker polling", count=2)
    children = child_pids(worker)
    worker.process.kill()  # SIGKILL: the supervisor cannot forward anything
    worker.process.wait()
    eventually(
        lambda: not any(Path(f"/proc/{pid}").exists() and _running(pid) for pid in children.values()),
        timeout=120,
        what="the orphaned children to stop",
    )
    assert worker.text().count("bosun worker stopped") == 2  # gracefully: they got SIGTERM


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie lingers until init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_clusters_limit_a_worker_to_those_clusters_queues(stack: Stack, tmp_path: Path) -> None:
    context = str(yaml.safe_load(stack.cluster.kubeconfig.read_text())["current-context"])
    in_cluster_queue = f"{stack.queue}/cluster:in-cluster"
    context_queue = f"{stack.queue}/cluster:{context}"

    main = stack.start("--clusters", "in-cluster")
    main.wait_log(r"bosun worker polling .*\(clusters: in-cluster\)")
    eventually(lambda: main.process.pid in stack.pollers(in_cluster_queue, ACTIVITY), what="in-cluster polled")
    eventually(lambda: main.process.pid in stack.pollers(stack.queue, WORKFLOW), what="the main queue polled")
    repo = GitRepo.create(tmp_path / "repo", {"cm.json": configmap("sharded", {"to": "in-cluster"})})
    app = unique("shard")
    stack.bosun.create_app(app, repo, namespace=app)  # destination https://kubernetes.default.svc: in-cluster
    wait_status(stack.bosun, app, sync="Synced", health="Healthy", timeout=180)
    assert stack.pollers(context_queue, ACTIVITY) == set(), "no worker may poll the other cluster's queue"

    shard = stack.start("--clusters", context, "--no-main-queue")
    shard.wait_log(rf"bosun worker polling no main queue .*\(clusters: {re.escape(context)}\)")
    eventually(lambda: stack.pollers(context_queue, ACTIVITY) == {shard.process.pid}, what="the shard polls")
    assert shard.process.pid not in stack.pollers(stack.queue, WORKFLOW) | stack.pollers(stack.queue, ACTIVITY)
    assert shard.process.pid not in stack.pollers(in_cluster_queue, ACTIVITY)
    assert "worker.app_watch" not in shard.text()
    assert shard.stop() == 0


def slow_job(name: str, run_ms: int) -> str:
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": {"devcluster.bosun.dev/run-ms": str(run_ms)}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]},
                },
            },
        }
    )


async def _running_wait_healthy(address: str, queue: str) -> str | None:
    """The id of a SyncWorkflow on ``queue`` whose wait_healthy activity is running, if any."""
    client = await Client.connect(address)
    async for execution in client.list_workflows(f"WorkflowType = 'SyncWorkflow' AND TaskQueue = '{queue}'"):
        description = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        pending = description.raw_description.pending_activities
        if any(
            a.activity_type.name == "wait_healthy" and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for a in pending
        ):
            return execution.id
    return None


async def _completed_activities(address: str, workflow_id: str) -> list[str]:
    client = await Client.connect(address)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, str] = {}
    completed: list[str] = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        if event.HasField("activity_task_completed_event_attributes"):
            completed.append(scheduled[event.activity_task_completed_event_attributes.scheduled_event_id])
    return completed


def test_sigterm_lets_a_running_activity_finish_then_exits_0(stack: Stack, tmp_path: Path) -> None:
    grace = 45  # the 12 s Job may start late on a loaded machine (28 s once with 25)
    worker = stack.start(env={"BOSUN_SHUTDOWN_SECONDS": str(grace)})
    eventually(lambda: http_status(worker.port, "/readyz") == 200, timeout=300, what="/readyz 200")
    assert http_status(worker.port, "/healthz") == 200
    repo = GitRepo.create(tmp_path / "repo", {"job.json": slow_job("slow", run_ms=12_000)})
    app = unique("graceful")
    stack.bosun.create_app(app, repo, namespace=app)
    sync_id = eventually(
        lambda: run_async(_running_wait_healthy(stack.bosun.temporal.address, stack.queue)),
        timeout=120,
        what="wait_healthy running for the slow Job",
    )

    address = stack.bosun.temporal.address
    finished_before = run_async(_completed_activities(address, sync_id)).count("wait_healthy")
    started = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    code = worker.process.wait(timeout=grace + 15)
    elapsed = time.monotonic() - started
    log = worker.text()
    assert code == 0, log[-4000:]
    assert elapsed < grace, f"stopped after {elapsed:.1f}s"
    assert "exiting anyway" not in log and "bosun worker stopped" in log
    # The activity running at SIGTERM completed on this worker, within the grace period.
    assert run_async(_completed_activities(address, sync_id)).count("wait_healthy") == finished_before + 1

    again = stack.start()
    again.wait_log(r"bosun worker polling")
    wait_status(stack.bosun, app, sync="Synced", health="Healthy", timeout=180)


def test_readyz_says_503_until_temporal_answers(stack: Stack) -> None:
    worker = stack.start(
        "--processes", "2", env={"BOSUN_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "TEMPORAL_ADDRESS": ""}
    )
    worker.wait_log(r"worker process 1 exited with \d+; restarting")
    assert http_status(worker.port, "/healthz") == 200
    assert http_status(worker.port, "/readyz") == 503
    assert worker.stop() is not None
    assert "bosun worker supervisor stopped" in worker.text()
