"""``/metrics`` of ``--processes N``: the children's metrics summed by the supervisor.

Each child's prometheus_client writes its counters, histograms and gauges to files in a directory
the supervisor makes (``PROMETHEUS_MULTIPROC_DIR``, prometheus_client's multiprocess mode); the
supervisor, which serves HTTP for all of them, sums them at scrape time (gauges as their
``multiprocess_mode`` in :mod:`bosun.metrics` says). The scrape-time facts (``argocd_app_info``,
cluster connection status) are read by child 0 alone, every :data:`worker.metrics.CACHE_SECONDS`
while someone scrapes, into :data:`SCRAPE_TIME_FILE`, so several processes never count an app twice.

Kept apart from :mod:`worker.metrics` so the supervisor imports no Temporal machinery.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from worker.launch import PROCESS_ENV

DIRECTORY_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: set, every metric of the process is kept in files there."""
SCRAPE_TIME_FILE = "scrape-time.prom"
SCRAPED_FILE = "scraped"
"""Touched by the supervisor at each scrape: child 0 reads the scrape-time facts (a visibility list
of every app) only while someone scrapes."""
STALE_SECONDS = 120.0
"""Scrape-time facts older than this (child 0 is down) are left out rather than served stale."""


class ProcessMetrics:
    """The multiprocess directory of one supervisor, made when the first child starts, removed at exit."""

    @functools.cached_property
    def directory(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="bosun-metrics-"))

    def env(self) -> dict[str, str]:
        """What a child's environment gets."""
        return {DIRECTORY_ENV: str(self.directory)}

    def child_exited(self, pid: int) -> None:
        """Forget a dead child's live gauges (its counters stay: they count what happened)."""
        mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]

    async def render(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
        (self.directory / SCRAPED_FILE).touch()
        scrape_time = self.directory / SCRAPE_TIME_FILE
        try:
            if time.time() - scrape_time.stat().st_mtime < STALE_SECONDS:
                text += scrape_time.read_bytes()
        except FileNotFoundError:
            pass
        return text

    def close(self) -> None:
        if "directory" in self.__dict__:  # made
            shutil.rmtree(self.directory, ignore_errors=True)


def scrape_time_file() -> Path | None:
    """Where this child writes the scrape-time facts: in the supervisor's directory, for child 0 only."""
    directory = os.environ.get(DIRECTORY_ENV)
    index = os.environ.get(PROCESS_ENV, "")
    return Path(directory) / SCRAPE_TIME_FILE if directory and index == "0" else None


def scraped_recently(scrape_time: Path) -> bool:
    """Whether the supervisor beside ``scrape_time`` was scraped within :data:`STALE_SECONDS`."""
    try:
        return time.time() - (scrape_time.parent / SCRAPED_FILE).stat().st_mtime < STALE_SECONDS
    except FileNotFoundError:
        return False
