"""Chaos, measured (issue #16): the full run on a local stack of its own.

100 syncs (10 apps x 10 generations; each app has a PreSync hook with a generateName,
waves 0-2 and a PostSync hook) while the worker is SIGKILLed 10 times, the Temporal dev
server restarted 3 times (its SQLite file kept) and the kube-apiserver restarted 3 times,
each at a random point after a sync finished since the previous fault. Prints a table of
the counts (syncs finished, hooks created twice, objects lost or at a wrong revision,
credentials in any history, log or file) and each fault's downtime and recovery, then one
line per sync. Exits 1 if a count the issue wants at zero is not.

Run: .venv/bin/python bench/chaos.py [--apps 10] [--syncs-per-app 10] [--kills 10]
     [--temporal-restarts 3] [--apiserver-restarts 3] [--seed 16] [--keep]
It starts its own Temporal dev server, devcluster, git server and worker in a temporary
directory (kept with --keep, for reading the worker log and the Temporal database after).
The logic is shared with the CI test: tests/chaos/chaos_run.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from devstack import cluster as devcluster  # noqa: E402
from devstack import processes  # noqa: E402
from devstack import temporal as devtemporal  # noqa: E402
from tests.chaos.chaos_run import ChaosPlan, ChaosStack, git_server, run  # noqa: E402
from tests.conftest import TemporalServer  # noqa: E402
from tests.e2e.bosun_stack import Bosun, prepare_management_cluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument("--syncs-per-app", type=int, default=10)
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of the worker")
    parser.add_argument("--temporal-restarts", type=int, default=3)
    parser.add_argument("--apiserver-restarts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--jitter", type=float, default=8.0, help="random delay (s) before each fault, at most")
    parser.add_argument("--sync-timeout", type=float, default=600.0, help="a sync not finished by then is stuck")
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory")
    args = parser.parse_args()
    plan = ChaosPlan(
        apps=args.apps,
        syncs_per_app=args.syncs_per_app,
        worker_kills=args.kills,
        temporal_restarts=args.temporal_restarts,
        apiserver_restarts=args.apiserver_restarts,
        seed=args.seed,
        jitter=args.jitter,
        sync_timeout=args.sync_timeout,
    )
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # kubectl, git
    root = Path(tempfile.mkdtemp(prefix="bosun-chaos-"))
    print(f"stack in {root}", flush=True)
    began = time.monotonic()
    temporal_dir, cluster_dir = root / "temporal", root / "devcluster"
    try:
        port, ui_port = processes.free_ports(2)
        temporal = devtemporal.up(port=port, ui_port=ui_port, directory=temporal_dir)
        cluster = devcluster.up("chaos", directory=cluster_dir, nodes=2, pod_run_ms=500)
        prepare_management_cluster(cluster.kubeconfig)
        home = root / "home"
        home.mkdir()
        bosun = Bosun(
            temporal=TemporalServer(address=temporal.address, ui_url=temporal.ui_url),
            home=home,
            kubeconfigs=[cluster.kubeconfig],
            task_queue=f"bosun-chaos-{uuid.uuid4().hex[:6]}",
            worker_log=home / "worker.log",
        )
        print(f"stack up in {time.monotonic() - began:.0f} s; {plan}", flush=True)
        with git_server(root / "git") as server:
            bosun.start_worker()
            try:
                (root / "work").mkdir()
                stack = ChaosStack(
                    bosun=bosun, temporal_dir=temporal_dir, cluster=cluster, git_server=server, work=root / "work"
                )
                report = run(stack, plan)
            finally:
                bosun.stop_worker()
    finally:
        devtemporal.down(directory=temporal_dir)
        devcluster.down("chaos", directory=cluster_dir)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(report.table())
    print()
    print(report.details())
    problems = report.problems()
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(problems))
        if not args.keep:
            print("(run again with --keep to read the worker log and the Temporal database)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
