"""Hashes with one home each: FNV-1a, 32 bits, the hash Argo CD and Argo Rollouts use for the
names they derive (cluster and repository Secrets, pod-template hashes), so every derived name
agrees with Go's ``hash/fnv.New32a``; and :func:`json_digest` of JSON values."""

from __future__ import annotations

import hashlib
import json
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


def json_digest(value: object) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys, compact): the same digest in a
    workflow and in an activity, for values that went through Temporal's JSON payloads."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
