"""Run a Bosun worker in the background for the local stack (``bosun dev up``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bosun.paths import bosun_home
from devstack import processes


def worker_dir() -> Path:
    return bosun_home() / "worker"


def up(*, kubeconfig: Path, temporal_address: str, task_queue: str = "bosun") -> int:
    """Start ``python -m worker`` (or return the running one's pid)."""
    directory = worker_dir()
    directory.mkdir(parents=True, exist_ok=True)
    state_file = directory / "state.json"
    if state_file.exists():
        pid = int(json.loads(state_file.read_text()).get("pid", 0))
        if pid and processes.alive(pid):
            return pid
    log = directory / "worker.log"
    pid = processes.start(
        "worker",
        [sys.executable, "-m", "worker"],
        log=log,
        env={
            "BOSUN_KUBECONFIG": str(kubeconfig),
            "BOSUN_TEMPORAL_ADDRESS": temporal_address,
            "BOSUN_TASK_QUEUE": task_queue,
            "BOSUN_HOME": str(bosun_home()),
            # The local stack deploys from repositories on this machine (file://, paths).
            "BOSUN_ALLOW_LOCAL_REPOS": "true",
            # No /healthz server for the local stack unless asked: port 8080 is often taken on a laptop.
            "BOSUN_HTTP_PORT": os.environ.get("BOSUN_HTTP_PORT", "0"),
        },
    )
    state_file.write_text(json.dumps({"pid": pid, "log": str(log)}))
    processes.wait_until(lambda: "polling" in log.read_text(), what="Bosun worker", pid=pid, log=log, timeout=60)
    return pid


def down() -> bool:
    state_file = worker_dir() / "state.json"
    if not state_file.exists():
        return False
    pid = int(json.loads(state_file.read_text()).get("pid", 0))
    if pid and processes.alive(pid):
        processes.stop(pid)
        return True
    return False
