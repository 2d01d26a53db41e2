"""A TCP proxy on loopback that can hold one connection: a Git server that hangs while a
worker fetches from it, so that a test can kill the worker at that moment."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StallingProxy:
    """Forwards every connection to ``127.0.0.1:target``, except the first one after
    :meth:`stall_next`, which it holds for ``seconds`` and then closes (``held`` is set when
    that connection arrives)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.held = threading.Event()
        self._stall_for = 0.0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._closed = False

    def stall_next(self, seconds: float) -> None:
        with self._lock:
            self._stall_for = seconds
        self.held.clear()

    def start(self) -> None:
        threading.Thread(target=self._accept, name="stalling-proxy", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            stall, self._stall_for = self._stall_for, 0.0
        with client:
            if stall:
                self.held.set()
                threading.Event().wait(stall)
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=30)
            except OSError:
                return
            with upstream:
                upstream.settimeout(None)
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join(timeout=60)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextmanager
def stalling_proxy(target: int) -> Iterator[StallingProxy]:
    proxy = StallingProxy(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
