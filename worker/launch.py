"""``python -m worker [--processes N|auto] [--clusters NAME,...] [--no-main-queue]`` (and ``bosun worker``).

The flags are the command-line face of environment settings (worker/config.py), so a Deployment
can use either: ``--clusters`` is BOSUN_WORKER_CLUSTERS, ``--no-main-queue`` is
BOSUN_WORKER_MAIN_QUEUE=false. One process (the default) runs the worker here; more run under
:mod:`worker.supervisor`, whose children inherit those settings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import NoReturn

from activities.temporal_connection import TemporalConnectionError
from worker.config import WorkerConfig

PROCESS_ENV = "BOSUN_WORKER_PROCESS"
"""Set by the supervisor: the child's index (0 runs the watches)."""


def process_count(value: str) -> int:
    """``auto``: the CPUs this process may run on (a container's cpuset included); else a number ≥ 1."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more) or 'auto', got {value!r}")
    return count


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bosun worker",
        description="Run the Bosun worker: it hosts Bosun's workflows and activities. "
        "Settings come from the environment (BOSUN_*, TEMPORAL_*); see worker/config.py.",
    )
    parser.add_argument(
        "--processes",
        type=process_count,
        default=1,
        metavar="N|auto",
        help="worker processes sharing the task queues (auto: one per CPU; default 1). "
        "The GIL limits one process to about one core.",
    )
    parser.add_argument(
        "--clusters",
        metavar="NAME,...",
        help="poll only these clusters' task queues (BOSUN_WORKER_CLUSTERS; default: every cluster)",
    )
    parser.add_argument(
        "--no-main-queue",
        action="store_true",
        help="poll only cluster task queues: no workflows, renders or watches (BOSUN_WORKER_MAIN_QUEUE=false)",
    )
    return parser


def _exit_without_finalizing(code: int) -> NoReturn:
    """Flush the logs and leave at once, skipping the interpreter's finalization.

    After a failed connect the Temporal runtime's native threads are still alive; a normal exit
    finalizes the interpreter under them, which now and then aborts the process
    (``PyGILState_Release: thread state … must be current``) with SIGABRT instead of the exit code
    the caller checks for.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if os.environ.get(PROCESS_ENV):
        from worker.supervisor import follow_supervisor

        follow_supervisor()
    if args.clusters is not None:
        os.environ["BOSUN_WORKER_CLUSTERS"] = args.clusters
    if args.no_main_queue:
        os.environ["BOSUN_WORKER_MAIN_QUEUE"] = "false"
    process = os.environ.get(PROCESS_ENV)  # a child of the supervisor: say which in every line
    where = f" [process {process}]" if process else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s{where} %(name)s: %(message)s")
    try:
        config = WorkerConfig.from_env()
    except TemporalConnectionError as exc:  # a bad profile or certificate file: one line, exit 5
        logging.error("bosun worker cannot start: %s", exc)
        raise SystemExit(TemporalConnectionError.EXIT_CODE) from None
    except ValueError as exc:
        raise SystemExit(f"bosun worker: {exc}") from exc
    if not config.main_queue and config.clusters is None:
        logging.warning("no main queue and no --clusters: this worker polls every cluster's queue only")
    if args.processes == 1:
        from worker.bytecode import ensure_workflow_bytecode
        from worker.main import run  # imported here: the supervisor needs none of Temporal's machinery

        ensure_workflow_bytecode()

        try:
            asyncio.run(run(config))
        except TemporalConnectionError as exc:  # unreachable, wrong CA: one line, not a traceback
            logging.error("bosun worker cannot start: %s", exc)
            _exit_without_finalizing(TemporalConnectionError.EXIT_CODE)
        return
    from worker.supervisor import Supervisor

    supervisor = Supervisor(
        args.processes, http_port=config.http_port, shutdown_seconds=config.shutdown_seconds, watches=config.watches
    )
    raise SystemExit(asyncio.run(supervisor.run()))
