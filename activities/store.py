"""A content-addressed store for what must not enter workflow history.

Rendered manifests and diffs are written here by activities and named by the SHA-256
of their content; workflows only see the digest. Render results are also indexed by a
*cache key* (repo, commit, path, render parameters, tool versions), so refreshing an
unchanged revision renders nothing. A missing entry is never an error for the cache
— the caller renders again — but is one for a digest a workflow holds, and says so.

The store is a directory (``$BOSUN_HOME/store``) shared by the workers of one machine,
and it is only a *cache*: nothing depends on one machine's disk. A worker that misses a
digest a workflow holds computes the content again from its recipe — the render's input
travels with the digest (``CompareInput.render`` / ``ApplyInput.render``) and
:meth:`ContentStore.get_json_or` renders it again, checking that the content has the same
digest. So a sync whose compare ran on worker A applies on worker B.

It is bounded (``max_bytes``, ``BOSUN_STORE_MAX_BYTES``): a write that takes it over the
bound evicts the least recently used blobs (every read touches a blob) through
:mod:`activities.lru`; blobs used within the last ``grace_seconds`` are never evicted, so
what a running activity just wrote or read stays until it is done with it. At scale the
store can become an object store behind the same functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.lru import Entry, evict, touch

GRACE_SECONDS = 60.0
"""A blob used this recently is kept. Reads and writes are whole-file and atomic, and a blob
evicted under a workflow is computed again, so this only spares the work of doing so."""
log = logging.getLogger(__name__)
RESCAN_SECONDS = 30.0
"""Other processes write into the same directory: the total is measured again this often."""


class StoreMiss(LookupError):
    """A digest the store does not hold (e.g. written by a worker on another machine)."""


class ContentStore:
    def __init__(self, root: Path, *, max_bytes: int | None = None, grace_seconds: float = GRACE_SECONDS) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._grace = grace_seconds
        self._total: int | None = None  # bytes of blobs at the last scan, plus writes since
        self._scanned_at = 0.0
        self._lock = threading.Lock()
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "keys").mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self._blob(digest)
        if path.exists():
            touch(path)
        else:
            _atomic_write(path, data)
            self._account(len(data))
        return digest

    def get(self, digest: str) -> bytes:
        path = self._blob(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreMiss(f"content {digest} is not in the store at {self._root}") from None
        touch(path)
        return data

    def get_json_or(self, digest: str, recompute: Callable[[], str] | None) -> Any:
        """The JSON content of ``digest``; on a miss, ``recompute()`` writes it again (returning
        the digest it wrote). Content that comes out different is refused: what a workflow
        compared is what it applies, or nothing."""
        try:
            return self.get_json(digest)
        except StoreMiss:
            if recompute is None:
                raise
        log.info("content %s is not in this worker's store: computing it again from its recipe", digest)
        again = recompute()
        if again != digest:
            raise StoreMiss(
                f"content {digest} is not in this worker's store and computing it again gave {again}: "
                "the render is not reproducible here (different tool versions on this worker, or a "
                "template that is not deterministic); refresh the app and try again"
            )
        return self.get_json(digest)

    def size(self) -> int:
        """Bytes of content in the store now (blobs and cache keys)."""
        return sum(e.size for e in self._entries())

    def collect(self) -> list[Entry]:
        """Evict least-recently-used blobs until the store fits its bound; the evicted entries."""
        if self._max_bytes is None:
            return []
        with self._lock:
            entries = self._entries()
            removed = evict(entries, self._max_bytes, grace_seconds=self._grace)
            # What is left, from the one listing (no second scan of the store).
            left = sum(e.size for e in entries) - sum(e.size for e in removed)
            self._total, self._scanned_at = left, time.monotonic()
            return removed

    def _account(self, written: int) -> None:
        if self._max_bytes is None:
            return
        with self._lock:
            if self._total is None or time.monotonic() - self._scanned_at > RESCAN_SECONDS:
                self._total, self._scanned_at = self.size(), time.monotonic()
            else:
                self._total += written
            over = self._total > self._max_bytes
        if over:
            self.collect()

    def _entries(self) -> list[Entry]:
        """Blobs, and cache keys (tiny, but thousands of them count too), by last use."""
        entries: list[Entry] = []
        for kind in ("blobs", "keys"):
            for path in (self._root / kind).glob("??/*"):
                if path.name.startswith(".tmp-"):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                entries.append(Entry(path=path, size=stat.st_size, used_at=stat.st_mtime))
        return entries

    def put_json(self, value: Any) -> str:
        return self.put(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get(digest))

    def remember(self, cache_key: str, digest: str) -> None:
        """Record that ``cache_key`` produced ``digest``."""
        key = self._key(cache_key)
        existed = key.exists()
        _atomic_write(key, digest.encode())
        if not existed:
            self._account(len(digest))

    def recall(self, cache_key: str) -> str | None:
        """The digest ``cache_key`` produced before, if its content is still here."""
        key = self._key(cache_key)
        try:
            digest = key.read_text()
        except FileNotFoundError:
            return None
        if not self._blob(digest).exists():
            return None
        touch(key)
        touch(self._blob(digest))
        return digest

    def _blob(self, digest: str) -> Path:
        algo, _, hexdigest = digest.partition(":")
        if algo != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
            raise StoreMiss(f"not a content digest: {digest!r}")
        return self._root / "blobs" / hexdigest[:2] / hexdigest

    def _key(self, cache_key: str) -> Path:
        name = hashlib.sha256(cache_key.encode()).hexdigest()
        return self._root / "keys" / name[:2] / name


def cache_key(**parts: Any) -> str:
    """A stable key for anything JSON-serialisable (sorted, compact)."""
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
