"""Benchmark: Bosun's first sync and no-op reconcile of a 100-resource app, on the local stack.

Baselines, run in the same process against the same devcluster:
  * ``kubectl apply --server-side -f DIR`` of the same manifests, then
    ``kubectl wait --for=condition=Available deployment --all`` (what a person runs to
    deploy and know it is up; Bosun's sync also waits for health, wave by wave);
  * the same ``kubectl apply --server-side`` alone.
Bosun: ``bosun app sync`` of a new manual app (resolve, render, compare, apply, wait for
health, compare again), then ``refresh_now`` updates on the synced app (no-op
reconciles), with the worker's CPU time read from /proc.

Run: .venv/bin/python bench/bench_sync.py [--resources 100] [--reconciles 10]
It starts its own Temporal dev server, devcluster and worker in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from devstack import cluster as devcluster  # noqa: E402
from devstack import processes  # noqa: E402
from devstack import temporal as devtemporal  # noqa: E402


def manifests(count: int) -> dict[str, str]:
    """count objects: half ConfigMaps, a quarter Services, a quarter Deployments."""
    files: dict[str, str] = {}
    deployments = count // 4
    services = count // 4
    configmaps = count - deployments - services
    for i in range(configmaps):
        files[f"cm-{i:03}.yaml"] = json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:03}"}, "data": {"i": str(i)}}
        )
    for i in range(services):
        files[f"svc-{i:03}.yaml"] = json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"app-{i:03}"},
                "spec": {"selector": {"app": f"app-{i:03}"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
    for i in range(deployments):
        files[f"deploy-{i:03}.yaml"] = json.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"app-{i:03}"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": f"app-{i:03}"}},
                    "template": {
                        "metadata": {"labels": {"app": f"app-{i:03}"}},
                        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
                    },
                },
            }
        )
    return files


def git_repo(path: Path, files: dict[str, str]) -> str:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text + "\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return f"file://{path}"


def kubectl(kubeconfig: Path, *args: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        check=True,
        capture_output=True,
        timeout=600,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bosun_run(
    env: dict[str, str], kubeconfig: Path, repo_url: str, resources: int, reconciles: int, worker_pid: int
) -> dict[str, float]:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from bosun.models import parse_application
    from bosun.protocol import RefreshRequest
    from cli.app import start_application
    from workflows.state import AppStatus, OperationResult, SyncRequest

    client = await Client.connect(env["BOSUN_TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "bench"},
        "spec": {
            "source": {"repoURL": repo_url, "path": ".", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "bosun-bench"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        },
    }
    await start_application(
        client,
        parse_application(manifest),
        manifest,
        task_queue=env["BOSUN_TASK_QUEUE"],
        refresh_seconds=3600,
        upsert=False,
    )
    handle = client.get_workflow_handle("app:bench")
    # the first reconcile (before any sync) is part of creating the app, not of the sync
    await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)
    started = time.perf_counter()
    result = await handle.execute_update("sync", SyncRequest(), result_type=OperationResult)
    first_sync = time.perf_counter() - started
    assert result.phase == "Succeeded", result.message
    applied = [r for r in result.resources if r.status == "created"]
    assert len(applied) == resources, f"{len(applied)} created, expected {resources}"
    status = await handle.query("status", result_type=AppStatus)
    assert str(status.sync) == "Synced" and str(status.health) == "Healthy", (status.sync, status.health)

    await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)  # warm caches
    cpu_before = cpu_seconds(worker_pid)
    started = time.perf_counter()
    for _ in range(reconciles):
        status = await handle.execute_update("refresh_now", RefreshRequest(), result_type=AppStatus)
        assert str(status.sync) == "Synced"
    wall = (time.perf_counter() - started) / reconciles
    cpu = (cpu_seconds(worker_pid) - cpu_before) / reconciles
    return {"first_sync": first_sync, "noop_wall": wall, "noop_cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=100)
    parser.add_argument("--reconciles", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bosun-bench-"))
    temporal_port, ui_port = processes.free_ports(2)
    temporal = devtemporal.up(port=temporal_port, ui_port=ui_port, directory=work / "temporal")
    cluster = devcluster.up("bench", directory=work / "cluster", nodes=3, pod_run_ms=500)
    worker = None
    try:
        files = manifests(args.resources)
        repo_url = git_repo(work / "repo", files)

        kubectl(cluster.kubeconfig, "create", "namespace", "kubectl-bench")
        started = time.perf_counter()
        kubectl(cluster.kubeconfig, "-n", "kubectl-bench", "apply", "--server-side", "-f", str(work / "repo"))
        apply_only = time.perf_counter() - started
        kubectl(
            cluster.kubeconfig,
            "-n",
            "kubectl-bench",
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all",
            "--timeout=600s",
        )
        apply_and_wait = time.perf_counter() - started

        env = {
            **os.environ,
            "BOSUN_TEMPORAL_ADDRESS": temporal.address,
            "BOSUN_HOME": str(work / "home"),
            "BOSUN_TASK_QUEUE": "bench",
            "BOSUN_ALLOW_LOCAL_REPOS": "true",  # the benchmark's repositories are local
            "BOSUN_KUBECONFIG": str(cluster.kubeconfig),
        }
        log = work / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=env, cwd=REPO_ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        while "polling" not in log.read_text():
            time.sleep(0.1)
        os.environ.update(env)
        results = asyncio.run(bosun_run(env, cluster.kubeconfig, repo_url, args.resources, args.reconciles, worker.pid))
    finally:
        if worker:
            worker.terminate()
            worker.wait()
        devcluster.down("bench", directory=work / "cluster")
        devtemporal.down(directory=work / "temporal")

    n = args.resources
    print(f"app of {n} resources ({n - 2 * (n // 4)} ConfigMaps, {n // 4} Services, {n // 4} Deployments)")
    print(f"baseline  kubectl apply --server-side + wait Available: {apply_and_wait:7.2f} s")
    print(f"baseline  kubectl apply --server-side alone:            {apply_only:7.2f} s")
    print(f"bosun     first sync (bosun app sync):                  {results['first_sync']:7.2f} s")
    print(f"ratio     first sync / (kubectl apply + wait):          {results['first_sync'] / apply_and_wait:7.2f}x")
    print(f"ratio     first sync / kubectl apply alone:             {results['first_sync'] / apply_only:7.2f}x")
    print(
        f"bosun     no-op reconcile: {results['noop_wall'] * 1000:7.0f} ms wall, "
        f"{results['noop_cpu'] * 1000:6.0f} ms worker CPU (mean of {args.reconciles})"
    )
    print(f"ratio     no-op reconcile / kubectl apply alone:        {results['noop_wall'] / apply_only:7.2f}x")


if __name__ == "__main__":
    main()
