"""A content-addressed store for what must not enter workflow history.

Rendered manifests and diffs are written here by activities and named by the SHA-256
of their content; workflows only see the digest. Render results are also indexed by a
*cache key* (repo, commit, path, render parameters, tool versions), so refreshing an
unchanged revision renders nothing. A missing entry is never an error for the cache
— the caller renders again — but is one for a digest a workflow holds, and says so.

The store is a directory (``$BOSUN_HOME/store``) shared by the workers of one machine;
at scale it becomes an object store behind the same four functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class StoreMiss(LookupError):
    """A digest the store does not hold (e.g. written by a worker on another machine)."""


class ContentStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "keys").mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self._blob(digest)
        if not path.exists():
            _atomic_write(path, data)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._blob(digest).read_bytes()
        except FileNotFoundError:
            raise StoreMiss(f"content {digest} is not in the store at {self._root}") from None

    def put_json(self, value: Any) -> str:
        return self.put(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get(digest))

    def remember(self, cache_key: str, digest: str) -> None:
        """Record that ``cache_key`` produced ``digest``."""
        _atomic_write(self._key(cache_key), digest.encode())

    def recall(self, cache_key: str) -> str | None:
        """The digest ``cache_key`` produced before, if its content is still here."""
        try:
            digest = self._key(cache_key).read_text()
        except FileNotFoundError:
            return None
        return digest if self._blob(digest).exists() else None

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
