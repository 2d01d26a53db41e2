"""Which Temporal server and namespace the CLI and the worker talk to: the one precedence rule.

Both read Temporal's own environment configuration first (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_PROFILE`` in a ``temporal.toml`` …, loaded by
:mod:`activities.temporal_connection` with the SDK), so settings that work for the ``temporal``
CLI work for Bosun. Bosun's own names still win over them, and a CLI flag over everything:

address
    ``--address``, then ``BOSUN_TEMPORAL_ADDRESS``, then the SDK's address (``TEMPORAL_ADDRESS``,
    else the profile's ``address``), then ``127.0.0.1:7233`` (the local stack).
namespace
    ``--namespace``, then ``BOSUN_NAMESPACE``, then the SDK's namespace (``TEMPORAL_NAMESPACE``,
    else the profile's ``namespace``), then ``default``.

An empty value counts as unset, as everywhere in Bosun. TLS, the API key and gRPC metadata
come from the SDK's configuration alone (Bosun has no names of its own for them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_NAMESPACE", "TemporalTarget", "resolve_target"]

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class TemporalTarget:
    address: str
    namespace: str


def resolve_target(
    env: Mapping[str, str],
    *,
    sdk_address: str | None = None,
    sdk_namespace: str | None = None,
    address: str | None = None,
    namespace: str | None = None,
) -> TemporalTarget:
    """The address and namespace to use.

    ``address``/``namespace`` are the CLI flags (None or empty: not given); ``sdk_address``/
    ``sdk_namespace`` what the SDK's environment configuration loaded (env over profile).
    """
    return TemporalTarget(
        address=address or env.get("BOSUN_TEMPORAL_ADDRESS") or sdk_address or DEFAULT_ADDRESS,
        namespace=namespace or env.get("BOSUN_NAMESPACE") or sdk_namespace or DEFAULT_NAMESPACE,
    )
