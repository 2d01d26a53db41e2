"""How the CLI reaches Temporal: ``--address``/``--namespace``, Bosun's variables, the SDK's configuration.

The rule and the loading live in :mod:`activities.temporal_connection` (shared with the worker;
precedence in :func:`bosun.temporal_target.resolve_target`): flag, then ``BOSUN_TEMPORAL_ADDRESS`` /
``BOSUN_NAMESPACE``, then Temporal's own ``TEMPORAL_ADDRESS`` / ``TEMPORAL_NAMESPACE`` or the
``temporal.toml`` profile (``TEMPORAL_CONFIG_FILE``, ``TEMPORAL_PROFILE``), then ``127.0.0.1:7233`` /
``default``. TLS and the API key come from ``TEMPORAL_TLS_*`` / ``TEMPORAL_API_KEY`` or the profile.
A wrong setting or an unreachable server is a ``ConnectionError``: the CLI exits with code 5.
"""

from __future__ import annotations

from activities.temporal_connection import TemporalConnection, load_temporal_connection

__all__ = ["Connection", "TemporalConnection"]


class Connection:
    """``Connection.resolve(address, namespace)``: the connection the CLI flags and the environment describe."""

    @staticmethod
    def resolve(address: str | None, namespace: str | None) -> TemporalConnection:
        return load_temporal_connection(address=address, namespace=namespace)
