"""How the CLI and the worker connect to Temporal: the SDK's environment configuration, then Bosun's names.

The Temporal SDK's environment configuration (:mod:`temporalio.envconfig`, the same as the
``temporal`` CLI's) is loaded first: a ``temporal.toml`` profile (``TEMPORAL_CONFIG_FILE``, default
``~/.config/temporalio/temporal.toml``; ``TEMPORAL_PROFILE``, default ``default``) with the
environment over it — ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
``TEMPORAL_TLS``, ``TEMPORAL_TLS_CLIENT_CERT_PATH``/``_DATA``, ``TEMPORAL_TLS_CLIENT_KEY_PATH``/``_DATA``,
``TEMPORAL_TLS_SERVER_CA_CERT_PATH``/``_DATA``, ``TEMPORAL_TLS_SERVER_NAME``, ``TEMPORAL_GRPC_META_<NAME>``.
Then :func:`bosun.temporal_target.resolve_target` (the one precedence rule) lets ``--address``/
``--namespace`` and ``BOSUN_TEMPORAL_ADDRESS``/``BOSUN_NAMESPACE`` override address and namespace.

``TEMPORAL_TLS_DISABLE_HOST_VERIFICATION`` (``disable_host_verification`` in a profile) is refused:
the Python SDK cannot switch host verification off, and ignoring it would fail later with a
less clear error. Use ``TEMPORAL_TLS_SERVER_NAME`` to verify against another name.

Every problem — a profile that does not exist, a TOML error, a certificate file that cannot be
read, a server that cannot be reached or whose certificate does not verify — is a
:class:`TemporalConnectionError` (a ``ConnectionError``) with a one-line message that names the
address and never holds the API key or key material. The CLI turns it into exit code 5, the
worker into a log line and exit code 5.

To support a new setting: if the SDK loads it, it reaches ``Client.connect`` through
:meth:`TemporalConnection.connect_kwargs` already; add it to :meth:`TemporalConnection.describe`
if people need to see it, and to docs/temporal.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import temporalio.envconfig
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from activities.payloads import DATA_CONVERTER
from bosun.temporal_target import resolve_target

__all__ = ["TemporalConnection", "TemporalConnectionError", "load_temporal_connection"]

_TRUE = {"1", "true", "yes", "on"}


class TemporalConnectionError(ConnectionError):
    """The Temporal connection settings are wrong or the server cannot be reached (one line, no secrets)."""

    EXIT_CODE = 5
    """The exit code of the CLI (EXIT_UNREACHABLE) and of the worker for this error."""


@dataclass(frozen=True)
class TemporalConnection:
    """Where and how to connect; ``profile`` holds the SDK's settings (TLS, API key) and is never printed."""

    address: str
    namespace: str
    profile: ClientConfigProfile = field(default_factory=ClientConfigProfile, repr=False)

    @property
    def tls(self) -> bool:
        return self._tls_config() is not False

    def describe(self) -> str:
        """``host:port namespace ns (TLS, client certificate, API key)``: what is used, never its values."""
        parts = []
        tls = self._tls_config()
        if isinstance(tls, TLSConfig) or tls is True:
            parts.append("TLS")
        if isinstance(tls, TLSConfig) and tls.client_cert is not None:
            parts.append("client certificate")
        if self.profile.api_key:
            parts.append("API key")
        extra = f" ({', '.join(parts)})" if parts else ""
        return f"{self.address} namespace {self.namespace}{extra}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Client.connect`` (API key, TLS, gRPC metadata); reads certificate files."""
        kwargs: dict[str, Any] = {}
        if self.profile.api_key is not None:
            kwargs["api_key"] = self.profile.api_key
        tls = self._tls_config()
        if tls is not False:
            kwargs["tls"] = tls
        if self.profile.grpc_meta:
            kwargs["rpc_metadata"] = dict(self.profile.grpc_meta)
        return kwargs

    async def client(self, runtime: Runtime | None = None) -> Client:
        """A connected client (Bosun's data converter, :mod:`activities.payloads`), or
        :class:`TemporalConnectionError`; ``runtime``: the SDK's Runtime to use (the worker's
        exports the SDK's metrics), else the SDK's default."""
        kwargs = self.connect_kwargs()
        if runtime is not None:
            kwargs["runtime"] = runtime
        try:
            return await Client.connect(self.address, namespace=self.namespace, data_converter=DATA_CONVERTER, **kwargs)
        except RuntimeError as exc:
            reason = _one_line(exc)
            if "certificate" in reason.lower() or "handshake" in reason.lower():
                reason += (
                    " (check the server CA: TEMPORAL_TLS_SERVER_CA_CERT_PATH or the profile's tls.server_ca_cert_path,"
                    " the server name: TEMPORAL_TLS_SERVER_NAME, and the client certificate and key)"
                )
            raise TemporalConnectionError(f"cannot reach Temporal at {self.describe()}: {reason}") from None

    def _tls_config(self) -> bool | TLSConfig:
        """After ``ClientConfigProfile.to_client_connect_config``: explicit TLS settings, else TLS when an
        API key is set, else none."""
        tls = self.profile.tls
        if tls is not None:
            if tls.disabled is True:
                return False
            return _read_tls(tls)
        return self.profile.api_key is not None


def load_temporal_connection(
    env: Mapping[str, str] | None = None, *, address: str | None = None, namespace: str | None = None
) -> TemporalConnection:
    """The SDK's profile and environment, then Bosun's overrides (``address``/``namespace``: the CLI flags)."""
    environ = dict(os.environ if env is None else env)
    raw = _load_raw_profile(environ)
    if _refuses_host_verification(raw, environ):
        raise TemporalConnectionError(
            "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION (tls.disable_host_verification in a profile) is not "
            "supported by Bosun: the Python SDK always verifies the server; set TEMPORAL_TLS_SERVER_NAME "
            "to the name in the server's certificate instead"
        )
    profile = ClientConfigProfile.from_dict(raw)  # type: ignore[arg-type]
    target = resolve_target(
        environ, sdk_address=profile.address, sdk_namespace=profile.namespace, address=address, namespace=namespace
    )
    return TemporalConnection(address=target.address, namespace=target.namespace, profile=profile)


def _load_raw_profile(environ: Mapping[str, str]) -> dict[str, Any]:
    """What ``ClientConfigProfile.load`` loads, as the SDK's core returns it (before the Python SDK drops the
    fields it has no use for, such as ``disable_host_verification``, which Bosun must see to refuse)."""
    bridge: Any = vars(temporalio.envconfig)["_bridge_envconfig"]  # the loader ClientConfigProfile.load calls
    try:
        raw = bridge.load_client_connect_config(
            profile=environ.get("TEMPORAL_PROFILE") or None,
            path=None,
            data=None,
            disable_file=False,
            disable_env=False,
            config_file_strict=False,
            env_vars=environ,
        )
    except Exception as exc:  # the core's ConfigError: unknown profile, TOML error, unreadable file
        where = environ.get("TEMPORAL_CONFIG_FILE") or "the default temporal.toml"
        raise TemporalConnectionError(f"Temporal client configuration ({where}): {_one_line(exc)}") from None
    return dict(raw)


def _refuses_host_verification(raw: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    tls = raw.get("tls") or {}
    return bool(tls.get("disable_host_verification")) or (
        environ.get("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "").strip().lower() in _TRUE
    )


def _read_tls(tls: ClientConfigTLS) -> TLSConfig:
    return TLSConfig(
        domain=tls.server_name,
        server_root_ca_cert=_read(tls.server_root_ca_cert, "server CA certificate (TEMPORAL_TLS_SERVER_CA_CERT_*)"),
        client_cert=_read(tls.client_cert, "client certificate (TEMPORAL_TLS_CLIENT_CERT_*)"),
        client_private_key=_read(tls.client_private_key, "client key (TEMPORAL_TLS_CLIENT_KEY_*)"),
    )


def _read(source: DataSource | None, what: str) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, Path):
        try:
            return source.read_bytes()
        except OSError as exc:
            raise TemporalConnectionError(f"cannot read the Temporal {what} {source}: {exc.strerror}") from None
    return source.encode() if isinstance(source, str) else source


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
