"""Launcher errors name the port or quote the dying component's log."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from devstack import processes
from devstack.processes import StackError


def test_taken_port_is_refused_with_its_number() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} for the API server"):
            processes.require_free(port, "the API server")


def test_component_dying_at_start_shows_its_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "apiserver.log"
    pid = processes.start(
        "apiserver",
        [sys.executable, "-c", "print('E0101 unable to load client CA file'); raise SystemExit(1)"],
        log=log,
    )
    with pytest.raises(StackError) as failure:
        processes.wait_until(lambda: False, what="kube-apiserver", pid=pid, log=log, timeout=20)
    assert "kube-apiserver exited during start-up" in str(failure.value)
    assert "unable to load client CA file" in str(failure.value)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = processes.free_ports(5)
    assert len(set(ports)) == 5
    assert all(processes.port_is_free(p) for p in ports)
