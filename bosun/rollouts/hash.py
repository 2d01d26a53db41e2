"""The ``rollouts-pod-template-hash`` of a Rollout's pod template.

Like Argo Rollouts' ``controller.ComputeHash`` (``utils/hash/hash.go``): an FNV-32a hash of the
template (and of ``status.collisionCount`` when there was a collision), written with
Kubernetes' ``rand.SafeEncodeString`` alphabet so it never spells words or looks like a
number. The *values differ from Argo's*: Argo hashes the Go struct printed by ``spew``,
Bosun hashes canonical JSON (sorted keys, no spaces) of the template as written. So a
Rollout first run by Argo Rollouts and then adopted by Bosun gets new ReplicaSets once; from
then on the hash is stable across Bosun versions and machines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from bosun.hashing import fnv32a

_SAFE_ALPHANUMS: Final = "bcdfghjklmnpqrstvwxz2456789"
"""Kubernetes' ``k8s.io/apimachinery/pkg/util/rand`` alphabet: no vowels, no 0/1/3."""

POD_TEMPLATE_HASH_LABEL: Final = "rollouts-pod-template-hash"


def safe_encode_string(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: each character mapped into the safe alphabet."""
    return "".join(_SAFE_ALPHANUMS[ord(ch) % len(_SAFE_ALPHANUMS)] for ch in text)


def pod_template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """The hash that names a Rollout's ReplicaSet for ``template`` (``<rollout>-<hash>``) and
    labels its pods. ``collision_count`` (``status.collisionCount``) changes the hash when a
    ReplicaSet of that name exists with another template; 0 leaves it out, as Argo does
    while the count is unset."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = canonical.encode()
    if collision_count:
        data += collision_count.to_bytes(8, "little")  # Argo writes it as 8 little-endian bytes
    return safe_encode_string(str(fnv32a(data)))
