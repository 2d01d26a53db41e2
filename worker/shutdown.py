"""Graceful shutdown on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).

The signal sets ``stop``: the workers stop polling and give running activities
``BOSUN_SHUTDOWN_SECONDS`` (the SDK's ``graceful_shutdown_timeout``) to finish; after that the SDK
cancels them, which a heartbeating activity sees at its next heartbeat and hands back to Temporal
(retried by another worker). A thread blocked without heartbeating cannot be cancelled, so a
watchdog ends the process a few seconds after the grace period whatever is left: Temporal retries
such an activity after its heartbeat or start-to-close timeout. Either way the exit status is 0 —
the process did what SIGTERM asked — and the whole stays within Kubernetes' default 30 s
``terminationGracePeriodSeconds`` when the grace is the default 25 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

WATCHDOG_MARGIN_SECONDS = 3.0
"""After the grace period: time for the SDK to cancel activities and report them to Temporal."""


def stop_on_signals(stop: asyncio.Event, grace_seconds: float) -> None:
    """SIGTERM/SIGINT set ``stop`` and arm the watchdog (the event loop must be running)."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            return
        log.info("%s: stopping; running activities have %.0f s to finish", signal.Signals(signum).name, grace_seconds)
        stop.set()
        loop.call_later(grace_seconds + WATCHDOG_MARGIN_SECONDS, _exit_now, grace_seconds)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


def _exit_now(grace_seconds: float) -> None:
    log.warning(
        "activities still running %.0f s after the stop signal: exiting anyway; "
        "Temporal retries them after their heartbeat timeout",
        grace_seconds + WATCHDOG_MARGIN_SECONDS,
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
