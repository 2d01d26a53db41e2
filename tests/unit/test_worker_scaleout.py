"""Scale-out settings of the worker: flags and environment, restart backoff, the probe server."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket

import pytest

from worker.config import WorkerConfig
from worker.health_server import Readiness, serving
from worker.launch import parser, process_count
from worker.supervisor import Backoff, follow_supervisor


def test_defaults_poll_everything_with_probes_on_8080_and_25s_grace() -> None:
    config = WorkerConfig.from_env({})
    assert (config.clusters, config.main_queue, config.watches) == (None, True, True)
    assert (config.http_port, config.shutdown_seconds) == (8080, 25.0)


def test_cluster_sharding_and_switches_come_from_the_environment() -> None:
    config = WorkerConfig.from_env(
        {
            "BOSUN_WORKER_CLUSTERS": " eu-1, us-2 ,,",
            "BOSUN_WORKER_MAIN_QUEUE": "false",
            "BOSUN_WORKER_WATCHES": "0",
            "BOSUN_HTTP_PORT": "0",
            "BOSUN_SHUTDOWN_SECONDS": "10",
        }
    )
    assert config.clusters == frozenset({"eu-1", "us-2"})
    assert (config.main_queue, config.watches, config.http_port, config.shutdown_seconds) == (False, False, 0, 10.0)
    assert WorkerConfig.from_env({"BOSUN_WORKER_CLUSTERS": " , "}).clusters is None


def test_a_bad_switch_is_named() -> None:
    with pytest.raises(ValueError, match="BOSUN_WORKER_MAIN_QUEUE='maybe': expected true or false"):
        WorkerConfig.from_env({"BOSUN_WORKER_MAIN_QUEUE": "maybe"})


def test_processes_is_a_positive_number_or_auto() -> None:
    assert process_count("3") == 3
    assert process_count("auto") == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "many"):
        with pytest.raises(argparse.ArgumentTypeError, match="1 or more"):
            process_count(bad)
    args = parser().parse_args(["--processes", "2", "--clusters", "a,b", "--no-main-queue"])
    assert (args.processes, args.clusters, args.no_main_queue) == (2, "a,b", True)


def test_restart_backoff_doubles_up_to_its_limit() -> None:
    backoff = Backoff(first=1, limit=30)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]


def test_readiness_is_reported_through_the_supervisors_pipe() -> None:
    read_fd, write_fd = os.pipe()
    readiness = Readiness.from_env({"BOSUN_READY_FD": str(write_fd)})
    readiness.set(True)
    readiness.set(False)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        assert pipe.read() == b"1\n0\n"
    readiness.set(True)  # the supervisor is gone: no error, still known locally
    assert readiness.ready


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    status = int(response.split()[1])
    return status, response.split("\r\n\r\n", 1)[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_probes_say_healthy_and_ready_only_once_polling() -> None:
    readiness = Readiness()
    port = _free_port()
    async with serving(port, lambda: readiness.ready, host="127.0.0.1"):
        assert await _get(port, "/healthz") == (200, "ok\n")
        status, body = await _get(port, "/readyz")
        assert (status, "not connected to Temporal" in body) == (503, True)
        readiness.set(True)
        assert await _get(port, "/readyz?verbose") == (200, "ready\n")
        assert (await _get(port, "/metrics"))[0] == 404


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} \\(BOSUN_HTTP_PORT\\)"):
            async with serving(port, lambda: True, host="127.0.0.1"):
                pass


async def test_port_zero_serves_nothing() -> None:
    async with serving(0, lambda: True) as port:
        assert port == 0


def test_a_child_whose_supervisor_is_gone_does_not_start() -> None:
    follow_supervisor({})  # not a child of a supervisor: nothing to follow
    follow_supervisor({"BOSUN_SUPERVISOR_PID": str(os.getppid())})
    with pytest.raises(SystemExit, match="supervisor is gone"):
        follow_supervisor({"BOSUN_SUPERVISOR_PID": str(os.getppid() + 100_000)})
