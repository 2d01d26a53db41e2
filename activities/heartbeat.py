"""A heartbeat for activities that spend their time in one blocking call (a git fetch, a
``helm template``), so that the server notices within seconds when their worker is gone.

Why: an activity that has only a start-to-close timeout and whose worker died (SIGKILL,
OOM kill, a lost node) is retried only when that timeout expires — 150 s for
``resolve_revision``, 180 s for ``render`` — and its app does nothing meanwhile (the chaos
run of issue #16 found an app stalled 150 s after a worker SIGKILL). With a heartbeat
timeout the retry comes within it. The work runs in subprocesses that cannot heartbeat,
so a thread does, for as long as the ``with`` block runs.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")
HEARTBEAT_EVERY_SECONDS = 5.0
"""Far below the heartbeat timeouts of ``workflows/activity_calls.py`` (the SDK throttles
what it sends to the server to 80% of the timeout anyway)."""


@contextmanager
def heartbeating(what: str, every: float | None = None) -> Iterator[None]:
    """Heartbeat ``what`` every ``every`` seconds while the block runs; outside an
    activity (``bosun app diff --local``, a test) it does nothing."""
    if not activity.in_activity():
        yield
        return
    interval = HEARTBEAT_EVERY_SECONDS if every is None else every
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                activity.heartbeat(what)
            except Exception:  # noqa: BLE001 - the worker's loop is busy or shutting down: beat next time
                continue

    # The activity's context (what activity.heartbeat reports to) lives in a contextvar.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), name=f"heartbeat: {what}")
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def heartbeats(fn: Callable[P, R]) -> Callable[P, R]:
    """A (synchronous) activity method that heartbeats while it runs (see :func:`heartbeating`)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with heartbeating(fn.__name__):
            return fn(*args, **kwargs)

    return run
