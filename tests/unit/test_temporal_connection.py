"""Temporal connection settings: the SDK's envconfig, Bosun's overrides, no secret in any message.

The real TLS endpoint is exercised in tests/e2e/test_temporal_tls.py; these check the rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from activities.temporal_connection import TemporalConnectionError, load_temporal_connection
from bosun.temporal_target import TemporalTarget, resolve_target
from worker.config import WorkerConfig

NO_FILE = {"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}


def test_flag_then_bosun_variable_then_sdk_then_default() -> None:
    env = {"BOSUN_TEMPORAL_ADDRESS": "bosun:1", "BOSUN_NAMESPACE": "bns"}
    assert resolve_target(env, sdk_address="sdk:2", sdk_namespace="sns", address="flag:3", namespace="fns") == (
        TemporalTarget("flag:3", "fns")
    )
    assert resolve_target(env, sdk_address="sdk:2", sdk_namespace="sns") == TemporalTarget("bosun:1", "bns")
    assert resolve_target({}, sdk_address="sdk:2", sdk_namespace="sns") == TemporalTarget("sdk:2", "sns")
    assert resolve_target({"BOSUN_TEMPORAL_ADDRESS": ""}, address="") == TemporalTarget("127.0.0.1:7233", "default")


def test_temporal_variables_are_read_by_the_sdk_and_bosun_names_win() -> None:
    env = {**NO_FILE, "TEMPORAL_ADDRESS": "t.example:7233", "TEMPORAL_NAMESPACE": "deploys"}
    connection = load_temporal_connection(env)
    assert (connection.address, connection.namespace) == ("t.example:7233", "deploys")
    assert connection.connect_kwargs() == {}
    overridden = load_temporal_connection({**env, "BOSUN_TEMPORAL_ADDRESS": "b:1", "BOSUN_NAMESPACE": "bns"})
    assert (overridden.address, overridden.namespace) == ("b:1", "bns")
    flagged = load_temporal_connection(env, address="f:2", namespace="fns")
    assert (flagged.address, flagged.namespace) == ("f:2", "fns")


def test_a_profile_with_mutual_tls(tmp_path: Path) -> None:
    for name, content in {"ca.crt": b"CA", "c.crt": b"CERT", "c.key": b"KEY"}.items():
        (tmp_path / name).write_bytes(content)
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""
[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "prod.acct"
[profile.prod.tls]
server_ca_cert_path = "{tmp_path / "ca.crt"}"
client_cert_path = "{tmp_path / "c.crt"}"
client_key_path = "{tmp_path / "c.key"}"
server_name = "prod.internal"
"""
    )
    env = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"}
    connection = load_temporal_connection(env)
    assert (connection.address, connection.namespace) == ("prod.tmprl.cloud:7233", "prod.acct")
    assert connection.connect_kwargs()["tls"] == TLSConfig(
        server_root_ca_cert=b"CA", client_cert=b"CERT", client_private_key=b"KEY", domain="prod.internal"
    )
    assert connection.describe() == "prod.tmprl.cloud:7233 namespace prod.acct (TLS, client certificate)"
    # TEMPORAL_ADDRESS overrides the profile (the SDK's rule), BOSUN_TEMPORAL_ADDRESS both.
    assert load_temporal_connection({**env, "TEMPORAL_ADDRESS": "t:1"}).address == "t:1"
    worker = WorkerConfig.from_env({**env, "BOSUN_TEMPORAL_ADDRESS": "b:1"})
    assert (worker.temporal_address, worker.namespace) == ("b:1", "prod.acct")
    assert worker.temporal is not None and worker.temporal.tls


def test_an_api_key_turns_tls_on_and_is_never_shown() -> None:
    secret = "s3cr3t-api-key"
    connection = load_temporal_connection({**NO_FILE, "TEMPORAL_ADDRESS": "x:1", "TEMPORAL_API_KEY": secret})
    assert connection.connect_kwargs() == {"api_key": secret, "tls": True}
    assert connection.describe() == "x:1 namespace default (TLS, API key)"
    assert secret not in repr(connection)
    assert secret not in repr(WorkerConfig.from_env({**NO_FILE, "TEMPORAL_API_KEY": secret}))
    plain = load_temporal_connection({**NO_FILE, "TEMPORAL_API_KEY": secret, "TEMPORAL_TLS": "false"})
    assert plain.connect_kwargs() == {"api_key": secret}


def test_grpc_metadata_is_passed_on() -> None:
    connection = load_temporal_connection({**NO_FILE, "TEMPORAL_GRPC_META_X_TEAM": "platform"})
    assert connection.connect_kwargs() == {"rpc_metadata": {"x-team": "platform"}}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEMPORAL_PROFILE": "nope"}, "Temporal client configuration (/nonexistent/temporal.toml): Profile 'nope'"),
        ({"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "true"}, "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"),
    ],
    ids=["unknown-profile", "no-host-verification"],
)
def test_settings_bosun_cannot_use_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(TemporalConnectionError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        load_temporal_connection({**NO_FILE, **env})


def test_a_toml_error_and_an_unreadable_certificate_name_their_file(tmp_path: Path) -> None:
    bad = tmp_path / "temporal.toml"
    bad.write_text("address = [\n")
    with pytest.raises(TemporalConnectionError, match=f"Temporal client configuration \\({bad}\\): .*TOML"):
        load_temporal_connection({"TEMPORAL_CONFIG_FILE": str(bad)})
    missing = tmp_path / "client.key"
    connection = load_temporal_connection({**NO_FILE, "TEMPORAL_TLS_CLIENT_KEY_PATH": str(missing)})
    with pytest.raises(TemporalConnectionError, match=f"client key .* {missing}: No such file"):
        connection.connect_kwargs()
