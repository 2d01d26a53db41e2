"""Destination clusters: Argo CD's cluster Secrets, kubeconfig contexts, the manifest, the cache."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from activities.clusters import (
    ClusterConfigError,
    ClusterEntry,
    ClusterSecretStore,
    ClusterSnapshot,
    cluster_from_kubeconfig,
    cluster_from_secret,
    secret_manifest,
    secret_name,
)

TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.sig"
PASSWORD = "hunter2-but-longer"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def pki() -> dict[str, str]:
    """A self-signed certificate and its key, PEM: real enough for the kubernetes client."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bosun-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return {
        "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }


def cluster_secret(
    metadata_name: str = "cluster-x", namespace: str = "bosun", /, *, string_data: bool = False, **values: str
) -> dict[str, Any]:
    meta = {"name": metadata_name, "namespace": namespace, "labels": {"argocd.argoproj.io/secret-type": "cluster"}}
    if string_data:
        return {"metadata": meta, "stringData": values}
    return {"metadata": meta, "data": {k: b64(v) for k, v in values.items()}}


# ----------------------------------------------------------------------------- Secrets


def test_argo_cds_bearer_token_example(pki: dict[str, str]) -> None:
    config = json.dumps({"bearerToken": TOKEN, "tlsClientConfig": {"insecure": False, "caData": b64(pki["cert"])}})
    entry = cluster_from_secret(
        cluster_secret(
            "mycluster-secret",
            string_data=True,
            name="mycluster.example.com",
            server="https://mycluster.example.com",
            config=config,
        )
    )
    assert entry == ClusterEntry(
        name="mycluster.example.com",
        server="https://mycluster.example.com",
        secret="mycluster-secret",
        bearer_token=TOKEN,
        ca_data=pki["cert"],
    )
    assert entry.auth == "token"


def test_argo_cds_basic_auth_and_client_certificate_examples(pki: dict[str, str]) -> None:
    basic = cluster_from_secret(
        cluster_secret(
            name="test", server="http://mycluster", config=json.dumps({"username": "foo", "password": PASSWORD})
        )
    )
    assert (basic.name, basic.server, basic.username, basic.password, basic.auth) == (
        "test",
        "http://mycluster",
        "foo",
        PASSWORD,
        "basic",
    )
    tls = {
        "insecure": False,
        "caData": b64(pki["cert"]),
        "certData": b64(pki["cert"]),
        "keyData": b64(pki["key"]),
        "serverName": "kubernetes.internal",
    }
    certs = cluster_from_secret(
        cluster_secret(
            name="prod",
            server="https://10.0.0.1:6443/",
            config=json.dumps({"tlsClientConfig": tls}),
            namespaces="web, api,,",
            clusterResources="true",
            project="team",
        )
    )
    assert certs == ClusterEntry(
        name="prod",
        server="https://10.0.0.1:6443",
        secret="cluster-x",
        namespaces=("web", "api"),
        cluster_resources=True,
        project="team",
        ca_data=pki["cert"],
        cert_data=pki["cert"],
        key_data=pki["key"],
        server_name="kubernetes.internal",
    )
    assert certs.auth == "client certificate"


def test_name_defaults_to_the_server_and_config_may_be_absent() -> None:
    entry = cluster_from_secret(cluster_secret(server="https://k8s.example.com"))
    assert (entry.name, entry.auth, entry.insecure) == ("https://k8s.example.com", "none", False)
    assert entry.describe() == "https://k8s.example.com"
    insecure = cluster_from_secret(
        cluster_secret(name="dev", server="https://k", config=json.dumps({"tlsClientConfig": {"insecure": True}}))
    )
    assert insecure.insecure
    assert insecure.describe() == "dev (https://k)"


def test_repr_and_describe_never_show_credentials(pki: dict[str, str]) -> None:
    entry = ClusterEntry(
        name="a",
        server="https://a",
        bearer_token=TOKEN,
        username="u",
        password=PASSWORD,
        ca_data=pki["cert"],
        cert_data=pki["cert"],
        key_data=pki["key"],
    )
    for text in (repr(entry), entry.describe()):
        assert TOKEN not in text and PASSWORD not in text and "PRIVATE KEY" not in text


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "x"}, "has no server (data.server)"),
        (
            {"server": "https://k", "config": '{"bearerToken": "' + TOKEN + '", "tlsClientConfig": {'},
            "data.config is not valid JSON",
        ),
        ({"server": "https://k", "config": json.dumps([TOKEN])}, "data.config is not a JSON object"),
        (
            {"server": "https://k", "config": json.dumps({"bearerToken": TOKEN, "tlsClientConfig": "x"})},
            "data.config tlsClientConfig is not a JSON object",
        ),
        (
            {
                "server": "https://k",
                "config": json.dumps({"password": PASSWORD, "tlsClientConfig": {"insecure": "yes"}}),
            },
            "data.config tlsClientConfig.insecure is not true or false",
        ),
        (
            {
                "server": "https://k",
                "config": json.dumps({"bearerToken": TOKEN, "tlsClientConfig": {"keyData": TOKEN}}),
            },
            "data.config tlsClientConfig.keyData is not valid base64",
        ),
        (
            {"server": "https://k", "config": json.dumps({"bearerToken": 42, "password": PASSWORD})},
            "data.config.bearerToken is not a string",
        ),
        (
            {"server": "https://k", "config": json.dumps({"execProviderConfig": {"command": "x", "args": [TOKEN]}})},
            "data.config execProviderConfig is not supported yet",
        ),
        (
            {"server": "https://k", "config": json.dumps({"awsAuthConfig": {"clusterName": "eks"}})},
            "data.config awsAuthConfig is not supported yet",
        ),
    ],
)
def test_errors_name_the_secret_and_the_field_never_a_value(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ClusterConfigError) as caught:
        cluster_from_secret(cluster_secret("cluster-x", "bosun", **values))
    message = str(caught.value)
    assert message.startswith("Secret bosun/cluster-x")
    assert field in message
    assert TOKEN not in message and PASSWORD not in message and b64(TOKEN) not in message
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("server", "name"),
    [
        # Argo CD's own cases (util/db/cluster_test.go, Test_URIToSecretName)
        ("http://foo", "cluster-foo-752281925"),
        (
            "http://thelongestdomainnameintheworld.argocd-project.com:3000",
            "cluster-thelongestdomainnameintheworld.argocd-project.com-2721640553",
        ),
        ("http://[fe80::1ff:fe23:4567:890a]", "cluster-fe80--1ff-fe23-4567-890a-3877258831"),
        ("http://[fe80::1ff:fe23:4567:890a]:8000", "cluster-fe80--1ff-fe23-4567-890a-664858999"),
        ("http://[FE80::1FF:FE23:4567:890A]:8000", "cluster-fe80--1ff-fe23-4567-890a-682802007"),
    ],
)
def test_secret_names_are_argo_cds(server: str, name: str) -> None:
    assert secret_name(server) == name


def test_secret_name_needs_a_url() -> None:
    with pytest.raises(ClusterConfigError, match="is not a URL"):
        secret_name("k8s.example.com")


# ----------------------------------------------------------------------------- manifest


def test_manifest_round_trips_and_carries_argo_cds_labels(pki: dict[str, str]) -> None:
    entry = ClusterEntry(
        name="dev-b",
        server="https://127.0.0.1:6443",
        namespaces=("web", "api"),
        project="team",
        bearer_token=TOKEN,
        ca_data=pki["cert"],
        cert_data=pki["cert"],
        key_data=pki["key"],
        server_name="kubernetes",
    )
    manifest = secret_manifest(entry, namespace="bosun")
    assert manifest["metadata"]["name"] == secret_name("https://127.0.0.1:6443")
    assert manifest["metadata"]["name"].startswith("cluster-127.0.0.1-")
    assert manifest["metadata"]["labels"] == {
        "argocd.argoproj.io/secret-type": "cluster",
        "app.kubernetes.io/managed-by": "bosun",
    }
    assert set(manifest["data"]) == {"name", "server", "config", "namespaces", "project"}
    config = json.loads(base64.b64decode(manifest["data"]["config"]))
    assert config["tlsClientConfig"]["caData"] == b64(pki["cert"])  # Go's []byte: base64 inside the JSON
    back = cluster_from_secret(manifest)
    assert back == replace(entry, secret=manifest["metadata"]["name"])

    basic = ClusterEntry(name="b", server="https://b", username="u", password=PASSWORD, insecure=True)
    assert cluster_from_secret(secret_manifest(basic, namespace="bosun")) == ClusterEntry(
        name="b", server="https://b", secret=secret_name("https://b"), username="u", password=PASSWORD, insecure=True
    )


# ----------------------------------------------------------------------------- kubeconfig


def write_kubeconfig(
    path: Path,
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    contexts: dict[str, tuple[str, str]],
) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
                "users": [{"name": n, "user": u} for n, u in users.items()],
                "contexts": [{"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()],
                "current-context": next(iter(contexts)),
            }
        )
    )
    return path


def test_kubeconfig_inline_data(tmp_path: Path, pki: dict[str, str]) -> None:
    path = write_kubeconfig(
        tmp_path / "config",
        {
            "c": {
                "server": "https://127.0.0.1:6443/",
                "certificate-authority-data": b64(pki["cert"]),
                "tls-server-name": "kubernetes",
            }
        },
        {"u": {"client-certificate-data": b64(pki["cert"]), "client-key-data": b64(pki["key"])}},
        {"kind-b": ("c", "u")},
    )
    entry = cluster_from_kubeconfig(path, "kind-b")
    assert entry == ClusterEntry(
        name="kind-b",
        server="https://127.0.0.1:6443",
        ca_data=pki["cert"],
        cert_data=pki["cert"],
        key_data=pki["key"],
        server_name="kubernetes",
    )
    assert cluster_from_kubeconfig(path, "kind-b", name="dev-b").name == "dev-b"


def test_kubeconfig_files_relative_to_it_and_tokens(tmp_path: Path, pki: dict[str, str]) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text(pki["cert"])
    (tmp_path / "token").write_text(TOKEN + "\n")
    path = write_kubeconfig(
        tmp_path / "config",
        {
            "c": {"server": "https://k", "certificate-authority": "pki/ca.crt"},
            "i": {"server": "https://i", "insecure-skip-tls-verify": True},
        },
        {"file": {"tokenFile": "token"}, "inline": {"token": TOKEN}, "basic": {"username": "u", "password": PASSWORD}},
        {"a": ("c", "file"), "b": ("i", "inline"), "c": ("i", "basic")},
    )
    a = cluster_from_kubeconfig(path, "a")
    assert (a.ca_data, a.bearer_token, a.auth) == (pki["cert"], TOKEN, "token")
    b = cluster_from_kubeconfig(path, "b")
    assert (b.insecure, b.bearer_token, b.ca_data) == (True, TOKEN, "")
    c = cluster_from_kubeconfig(path, "c")
    assert (c.username, c.password, c.auth) == ("u", PASSWORD, "basic")


@pytest.mark.parametrize(
    ("user", "context", "message"),
    [
        (
            {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1beta1"}},
            "a",
            "authenticates with exec, whose short-lived credentials a cluster Secret cannot hold: let Bosun install",
        ),
        ({"auth-provider": {"name": "oidc"}}, "a", "authenticates with auth-provider"),
        ({"token": TOKEN}, "nope", "has no context 'nope' (contexts: a)"),
        (
            {"client-certificate": "missing.crt", "client-key-data": b64(PASSWORD)},
            "a",
            "File does not exist",
        ),
    ],
)
def test_kubeconfig_errors(tmp_path: Path, user: dict[str, Any], context: str, message: str) -> None:
    path = write_kubeconfig(tmp_path / "config", {"c": {"server": "https://k"}}, {"u": user}, {"a": ("c", "u")})
    with pytest.raises(ClusterConfigError) as caught:
        cluster_from_kubeconfig(path, context)
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value) and PASSWORD not in str(caught.value)


def test_kubeconfig_dict_is_accepted_by_the_kubernetes_client(tmp_path: Path, pki: dict[str, str]) -> None:
    from kubernetes import config as k8s_config

    new_client: Any = k8s_config.new_client_from_config_dict  # untyped
    entry = ClusterEntry(
        name="dev-b",
        server="https://127.0.0.1:6443",
        ca_data=pki["cert"],
        cert_data=pki["cert"],
        key_data=pki["key"],
        bearer_token=TOKEN,
        server_name="kubernetes",
    )
    api = new_client(entry.kubeconfig(), context="dev-b", temp_file_path=str(tmp_path / "certs"))
    conf = api.configuration
    assert conf.host == "https://127.0.0.1:6443"
    assert Path(conf.ssl_ca_cert).read_text() == pki["cert"]
    assert Path(conf.cert_file).read_text() == pki["cert"]
    assert Path(conf.key_file).read_text() == pki["key"]
    assert conf.api_key["BearerToken"] == f"Bearer {TOKEN}"
    assert conf.tls_server_name == "kubernetes"
    assert conf.verify_ssl

    insecure = ClusterEntry(
        name="i", server="https://i:6443", ca_data=pki["cert"], insecure=True, username="u", password=PASSWORD
    )
    conf = new_client(insecure.kubeconfig(), context="i").configuration
    assert not conf.verify_ssl
    assert conf.api_key["BearerToken"] == "Basic " + b64(f"u:{PASSWORD}")


def test_kubeconfig_round_trips_through_a_file(tmp_path: Path, pki: dict[str, str]) -> None:
    entry = ClusterEntry(name="x", server="https://x", ca_data=pki["cert"], bearer_token=TOKEN)
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(entry.kubeconfig()))
    assert cluster_from_kubeconfig(path, "x") == entry


# ----------------------------------------------------------------------------- store


def test_snapshot_matches_server_then_name() -> None:
    a = ClusterEntry(name="a", server="https://a:6443")
    b = ClusterEntry(name="b", server="https://b:6443")
    snapshot = ClusterSnapshot((a, b))
    assert snapshot.match(server="https://b:6443/") is b
    assert snapshot.match(name="a") is a
    assert snapshot.match(server="https://c", name="b") is b
    assert snapshot.match(server="https://c") is None


def test_store_rereads_after_the_ttl_only() -> None:
    now = [100.0]
    reads: list[int] = []

    def read() -> ClusterSnapshot:
        reads.append(1)
        return ClusterSnapshot((ClusterEntry(name=f"c{len(reads)}", server="https://c"),))

    store = ClusterSecretStore(read, ttl=5.0, clock=lambda: now[0])
    assert store.snapshot().entries[0].name == "c1"
    now[0] += 4.9
    assert store.snapshot().entries[0].name == "c1"
    now[0] += 0.1
    assert store.snapshot().entries[0].name == "c2"
    assert len(reads) == 2


def test_static_store_is_a_fixed_snapshot() -> None:
    entry = ClusterEntry(name="a", server="https://a")
    store = ClusterSecretStore.static([entry], errors=[("bad", "Secret bosun/bad has no server (data.server)")])
    assert store.snapshot() == ClusterSnapshot((entry,), (("bad", "Secret bosun/bad has no server (data.server)"),))
