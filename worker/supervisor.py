"""``python -m worker --processes N``: N worker processes on one machine, kept running.

Why processes: the GIL lets one Python process use about one core, so a machine (or a pod with
several CPUs) runs one worker process per core. Every child is a plain ``python -m worker`` that
polls the same task queues; Temporal spreads the tasks over all pollers.

The supervisor (this process, no Temporal client of its own):
- starts the children (``BOSUN_WORKER_PROCESS=i``), and restarts one that dies with exponential
  backoff (1 s doubling to 30 s; reset after a child ran a minute);
- runs the Application and Rollout watches in child 0 only (``BOSUN_WORKER_WATCHES=false`` for the
  others): a duplicate watch would be harmless — a poke is idempotent — but costs a watch connection
  per process on the API servers and duplicate signals. Across machines (Deployment replicas) each
  pod's child 0 watches; leader election for that is not worth its cost;
- serves ``/healthz`` (its loop answers), ``/readyz`` (every child says it polls, told through a
  pipe, ``worker.health_server.Readiness``) and ``/metrics`` (the children's, summed:
  ``worker.metrics_processes``); children serve no HTTP;
- has the kernel send SIGTERM to the children if it dies itself (Linux ``PR_SET_PDEATHSIG``, set by
  each child, :func:`follow_supervisor`), so a killed supervisor leaves no orphan polling;
- forwards SIGTERM/SIGINT to the children, waits for them (their grace period plus a margin),
  SIGKILLs any left, and exits 0 when all stopped cleanly (1 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from worker import health_server
from worker.health_server import READY_FD_ENV
from worker.launch import PROCESS_ENV
from worker.metrics_processes import ProcessMetrics
from worker.shutdown import WATCHDOG_MARGIN_SECONDS

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
SUPERVISOR_PID_ENV = "BOSUN_SUPERVISOR_PID"
CLEAN_EXITS = (0, -signal.SIGTERM)
"""A child stops cleanly with 0; one still importing when SIGTERM came dies of it, which is fine too."""


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0
    limit: float = 30.0
    healthy_after: float = 60.0
    """A child that ran this long before dying starts again from ``first``."""

    def delay(self, failures: int) -> float:
        return float(min(self.limit, self.first * 2 ** max(0, failures - 1)))


@dataclass
class Child:
    index: int
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    failures: int = 0
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)


def follow_supervisor(env: dict[str, str] | None = None) -> None:
    """Called first thing in a child: SIGTERM this process when its supervisor dies (Linux).

    Done by the child itself rather than in a ``preexec_fn`` (unsafe between fork and exec); a
    supervisor that died before this ran is seen as a changed parent pid, and the child exits.
    """
    supervisor = (os.environ if env is None else env).get(SUPERVISOR_PID_ENV, "")
    if not supervisor.isdigit():
        return
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):
        raise SystemExit("the worker supervisor is gone: not starting")


class Supervisor:
    def __init__(
        self,
        processes: int,
        *,
        http_port: int,
        shutdown_seconds: float,
        watches: bool = True,
        backoff: Backoff = Backoff(),
        env: dict[str, str] | None = None,
    ) -> None:
        self.children = [Child(i) for i in range(processes)]
        self._http_port = http_port
        self._shutdown_seconds = shutdown_seconds
        self._watches = watches
        self._backoff = backoff
        self._env = dict(os.environ if env is None else env)
        self._stop = asyncio.Event()
        self._metrics = ProcessMetrics()

    def ready(self) -> bool:
        return all(child.ready for child in self.children)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            async with health_server.serving(self._http_port, self.ready, metrics=self._metrics.render):
                log.info("bosun worker supervisor: %d processes", len(self.children))
                await asyncio.gather(*(self._keep(child) for child in self.children))
        finally:
            self._metrics.close()
        clean = all(child.exit_codes and child.exit_codes[-1] in CLEAN_EXITS for child in self.children)
        log.info("bosun worker supervisor stopped (%s)", "clean" if clean else "a child did not stop cleanly")
        return 0 if clean else 1

    def _on_signal(self, signum: int) -> None:
        if self._stop.is_set():
            return
        log.info("%s: stopping %d worker processes", signal.Signals(signum).name, len(self.children))
        self._stop.set()  # each _run_once forwards SIGTERM to its child

    def _child_env(self, child: Child, ready_fd: int) -> dict[str, str]:
        return {
            **self._env,
            PROCESS_ENV: str(child.index),
            SUPERVISOR_PID_ENV: str(os.getpid()),
            "BOSUN_WORKER_WATCHES": "true" if self._watches and child.index == 0 else "false",
            "BOSUN_HTTP_PORT": "0",
            "BOSUN_WEBHOOK_PORT": self._env.get("BOSUN_WEBHOOK_PORT", "0") if child.index == 0 else "0",
            READY_FD_ENV: str(ready_fd),
            **self._metrics.env(),
        }

    async def _keep(self, child: Child) -> None:
        """Run ``child`` until stopped, restarting it (with backoff) when it dies."""
        while not self._stop.is_set():
            started = time.monotonic()
            code = await self._run_once(child)
            child.exit_codes.append(code)
            if self._stop.is_set():
                break
            child.failures = 1 if time.monotonic() - started >= self._backoff.healthy_after else child.failures + 1
            delay = self._backoff.delay(child.failures)
            log.warning("worker process %d exited with %d; restarting in %.0f s", child.index, code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            child.restarts += 1

    async def _run_once(self, child: Child) -> int:
        read_fd, write_fd = os.pipe()
        try:
            child.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "worker",
                "--processes",
                "1",
                env=self._child_env(child, write_fd),
                pass_fds=(write_fd,),
            )
        finally:
            os.close(write_fd)
        log.info("worker process %d started (pid %d)", child.index, child.process.pid)
        reading = asyncio.create_task(self._read_readiness(child, read_fd))
        stopping = asyncio.create_task(self._stop.wait())
        waiting = asyncio.create_task(child.process.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():  # stopping: forward SIGTERM and wait for the child's own shutdown
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(
                    asyncio.shield(waiting), timeout=self._shutdown_seconds + WATCHDOG_MARGIN_SECONDS + 2
                )
            except TimeoutError:
                log.warning("worker process %d did not stop in time: SIGKILL", child.index)
                child.process.kill()
        code = await waiting
        self._metrics.child_exited(child.process.pid)
        stopping.cancel()
        await reading
        child.ready = False
        return code

    @staticmethod
    async def _read_readiness(child: Child, read_fd: int) -> None:
        """Follow the child's readiness reports until it closes its end of the pipe (it exited)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        try:
            while line := await reader.readline():
                child.ready = line.strip() == b"1"
        finally:
            transport.close()
