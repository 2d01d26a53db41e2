"""Starting, watching and stopping the background processes of the local stack.

Each process runs in its own session (so it outlives the command that started it and
can be stopped as a group), writes to its own log file, and is recorded by pid in the
owner's state file. Errors quote the tail of the log, because "apiserver exited 1" is
useless without the reason the apiserver printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class StackError(RuntimeError):
    """A part of the local stack failed to start or stopped; the message says why."""


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, avoid: set[int] | None = None) -> list[int]:
    """``count`` distinct ports that are free now (the kernel's choice, then checked)."""
    ports: list[int] = []
    avoid = avoid or set()
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in ports and port not in avoid:
            ports.append(port)
    return ports


def require_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise StackError(
            f"port {port} for {what} is already in use on 127.0.0.1; stop whatever holds it or choose another port"
        )


def start(name: str, argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    pid: int,
    log: Path,
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Poll ``ready`` until true; fail early, with the log tail, if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise StackError(f"{what} exited during start-up; last lines of {log}:\n{log_tail(log)}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
            pass
        time.sleep(interval)
    raise StackError(f"{what} was not ready after {timeout:.0f}s; last lines of {log}:\n{log_tail(log)}")


def stop(pid: int, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.1)
