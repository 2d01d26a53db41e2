"""FNV-1a, 32 bits: the hash Argo CD and Argo Rollouts use for the names they derive
(cluster and repository Secrets, pod-template hashes). One copy, so every derived name
agrees with Go's ``hash/fnv.New32a``."""

from __future__ import annotations

from typing import Final

_FNV32_OFFSET: Final = 0x811C9DC5
_FNV32_PRIME: Final = 0x01000193


def fnv32a(data: bytes | str) -> int:
    """FNV-1a, 32 bits (Go's ``hash/fnv.New32a``); text is hashed as UTF-8."""
    h = _FNV32_OFFSET
    for byte in data.encode() if isinstance(data, str) else data:
        h ^= byte
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
    return h
