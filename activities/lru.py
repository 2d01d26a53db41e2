"""Least-recently-used eviction for the worker's on-disk caches (content store, git mirrors).

Both caches are directories of entries whose modification time is their *last use*:
every read touches the entry (:func:`touch`), so the oldest mtime is the least recently
used. :func:`evict` removes the oldest entries until the total is at or under a low-water
mark below the bound, skipping entries that are in use — an entry touched within the last
``grace_seconds`` (a blob an activity just wrote or read) or one a caller says is busy
(a git mirror whose lock another process holds).

To bound another cache: list its entries as :class:`Entry` and call :func:`evict` with a
predicate for "in use"; keep the touch-on-read in the cache's read path.

:func:`parse_bytes` reads the size settings (``BOSUN_STORE_MAX_BYTES``,
``BOSUN_GIT_CACHE_MAX_BYTES``): a number of bytes, optionally with a Kubernetes-style
suffix (``512Mi``, ``2Gi``, ``500M``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

LOW_WATER = 0.8
"""A collection evicts down to this fraction of the bound, so the next few writes do not collect again."""

_SUFFIXES = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int
    used_at: float
    """The entry's last use (its mtime)."""


def parse_bytes(text: str, *, setting: str) -> int:
    """``1073741824``, ``1Gi``, ``500M`` → bytes; a clear error naming ``setting`` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgGtT]i?)?\s*", text)
    if match is None:
        raise ValueError(f"{setting}={text!r}: not a size (a number of bytes, or e.g. 512Mi, 2Gi, 500M)")
    return int(match.group(1)) * _SUFFIXES[(match.group(2) or "").lower()]


def touch(path: Path) -> None:
    """Mark ``path`` as used now (it may have been evicted meanwhile: then nothing happens)."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(path)


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (a file: its own size)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def evict(
    entries: Iterable[Entry],
    max_bytes: int,
    *,
    grace_seconds: float,
    busy: Callable[[Entry], bool] = lambda entry: False,
    remove: Callable[[Entry], bool] | None = None,
    now: float | None = None,
) -> list[Entry]:
    """Remove least-recently-used entries until the rest fit in ``LOW_WATER * max_bytes``.

    Nothing is removed while the total is within ``max_bytes``. ``remove`` deletes one entry
    and says whether it did (default: delete the file or directory); the removed entries
    are returned. Entries used within ``grace_seconds`` or ``busy`` are kept, even if the
    total then stays above the bound (an in-use entry is never taken away)."""
    listed = sorted(entries, key=lambda e: e.used_at)
    total = sum(e.size for e in listed)
    if total <= max_bytes:
        return []
    target = int(max_bytes * LOW_WATER)
    now = time.time() if now is None else now
    removed: list[Entry] = []
    for entry in listed:
        if total <= target:
            break
        if now - entry.used_at < grace_seconds or busy(entry):
            continue
        if (remove or _remove)(entry):
            total -= entry.size
            removed.append(entry)
    return removed


def _remove(entry: Entry) -> bool:
    try:
        if entry.path.is_dir():
            shutil.rmtree(entry.path)
        else:
            entry.path.unlink()
    except FileNotFoundError:
        return False
    return True
