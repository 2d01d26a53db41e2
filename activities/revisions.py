"""One ``git ls-remote`` per repository and revision per interval, shared by every app of a worker process.

A thousand apps on one repository used to run a thousand ``ls-remote`` calls per refresh period.
Argo CD caches resolved revisions for 3 minutes since v2.1 (the repo-server's revision cache,
``--revision-cache-expiration``): a periodic refresh (``CompareWithLatest``) uses it, while a refresh
someone asks for — the UI's button, the ``argocd.argoproj.io/refresh`` annotation, a webhook — resolves
again (``CompareWithLatestForceResolve``, argoproj/argo-cd#16624), and so does an app being created or
changed (argoproj/argo-cd#7244). The activity here cannot tell a periodic refresh from a requested one
(the workflow does not say). So this cache keeps Argo CD's default (``BOSUN_REVISION_CACHE_SECONDS``,
180; 0 turns it off) with a rule that needs no such flag, because Bosun's tests and users expect a
commit to be seen at an app's next refresh, however short its interval (3 s in the e2e tests):

    an app (the workflow that asked, ``caller``) is served a cached commit only if that
    ``ls-remote`` started after the app's previous answer.

So the age of what an app is served is at most its own refresh interval (the time since it last
asked), without the activity having to know that interval; an app alone on its repository runs
``ls-remote`` on every refresh, as before; a thousand apps on one repository at the default 180 s
share about one call per 180 s, since each of them last asked about one interval ago. A commit
pushed just after another app's ``ls-remote`` is seen at worst one refresh later. An app this
process has not answered before (a new app, or one whose last activity ran in another worker
process) takes only an ``ls-remote`` that started after it asked — a concurrent one it joins, or
its own — so a new app always starts from the newest commit.

A hard refresh (``ResolveRevisionInput.fresh``) always asks the repository, as Argo CD's.
Webhooks make the interval irrelevant: :func:`invalidate` (the webhook handler, for the pushed
repository through :func:`stale_marker`; or every repository) writes a marker file under the
worker's ``BOSUN_HOME``, and every worker process sharing it then treats what it cached before
the marker as stale.
Entries are per process (the marker files are the only shared part): with ``--processes N``
there are up to N calls per interval. Failures are never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_AGE_SECONDS = 180.0
"""Argo CD's ``--revision-cache-expiration`` default (3m)."""
ALL_REPOSITORIES = "all"
"""The marker that makes every repository's cached revisions stale."""


def markers_dir(home: Path) -> Path:
    """Where the invalidation markers of the worker processes sharing ``home`` (BOSUN_HOME) live."""
    return home / "cache" / "revisions"


def invalidate(markers: Path, url: str | None = None) -> None:
    """Make revisions cached before now stale in every process sharing ``markers``: those of
    ``url`` (spelled as the apps' ``repoURL``), or of every repository when ``url`` is None."""
    markers.mkdir(parents=True, exist_ok=True)
    path = markers / (ALL_REPOSITORIES if url is None else _marker_name(url))
    path.touch()
    now = time.time()
    os.utime(path, (now, now))  # touch() keeps an existing file's mtime on some filesystems


def stale_marker(home: Path) -> Callable[[list[str]], None]:
    """What the webhook endpoint calls with the repoURLs a push moved, before it signals their apps
    (``WebhookEndpoint(before_refresh=stale_marker(config.home))``)."""
    markers = markers_dir(home)

    def mark(urls: list[str]) -> None:
        for url in dict.fromkeys(urls):
            invalidate(markers, url)

    return mark


@dataclass(frozen=True)
class _Entry:
    commit: str
    started: float
    """When the ``ls-remote`` that resolved it started (wall clock, comparable with marker mtimes)."""


class RevisionCache:
    def __init__(
        self,
        *,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        markers: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_age = max_age_seconds
        self._markers = markers
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._answered: dict[tuple[str, str, str], float] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def resolve(
        self, url: str, revision: str, *, caller: str | None, fetch: Callable[[], str], fresh: bool = False
    ) -> str:
        """The commit ``revision`` of ``url`` names: cached if ``caller`` may be served it
        (see the module docstring), else from ``fetch()`` (which runs ``ls-remote``).
        No ``caller`` (not an app's activity) or a max age of 0: always ``fetch()``; ``fresh``
        (a hard refresh): ``fetch()`` too, and the others are served its answer."""
        if caller is None or self._max_age <= 0:
            return fetch()
        key = (url, revision)
        asked = self._clock()
        with self._guard:
            since = self._answered.get((caller, *key), asked)
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one ls-remote per key at a time: who waits takes its result
            entry = self._entries.get(key)
            if fresh or entry is None or not self._fresh(entry, url, since):
                started = self._clock()
                entry = _Entry(commit=fetch(), started=started)
                self._entries[key] = entry
        with self._guard:
            self._answered[(caller, *key)] = self._clock()
            if len(self._answered) > 4 * len(self._entries) + 10_000:
                self._forget_old_answers()
        return entry.commit

    def _fresh(self, entry: _Entry, url: str, since: float) -> bool:
        if entry.started < since or self._clock() - entry.started >= self._max_age:
            return False
        return entry.started > self._invalidated_at(url)

    def _invalidated_at(self, url: str) -> float:
        if self._markers is None:
            return 0.0
        latest = 0.0
        for name in (ALL_REPOSITORIES, _marker_name(url)):
            with contextlib.suppress(FileNotFoundError):
                latest = max(latest, (self._markers / name).stat().st_mtime)
        return latest

    def _forget_old_answers(self) -> None:
        """Answers older than the max age no longer matter: no entry that old is served anyway."""
        horizon = self._clock() - self._max_age
        self._answered = {k: at for k, at in self._answered.items() if at >= horizon}


def _marker_name(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:24]
