"""Repository credentials: Argo CD's Secret forms, URL matching, the cache, what git gets."""

from __future__ import annotations

import base64
import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from activities.credentials import (
    REPO_CREDS,
    REPOSITORY,
    RepoCredentials,
    SecretCredentialStore,
    Snapshot,
    StaticCredentialStore,
    credentials_from_secret,
    failure_message,
    git_auth,
    is_remote_url,
    is_ssh_url,
    match,
    scrub,
    secret_manifest,
    secret_name,
)
from bosun.repo_urls import normalize_url

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBfakefakefakefakefakefakefakefakefakefakefakeAAAAJhfakefak\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def secret(kind: str, metadata_name: str = "s", **values: str) -> dict[str, object]:
    return {
        "metadata": {"name": metadata_name, "labels": {"argocd.argoproj.io/secret-type": kind}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/org/repo.git", "https://GitHub.com/org/repo"),
        ("https://github.com/org/repo/", "https://github.com/org/repo"),
        ("git@github.com:org/repo.git", "ssh://git@github.com/org/repo"),
        ("  https://example.com/r  ", "https://example.com/r.git"),
    ],
)
def test_urls_argo_cd_treats_as_the_same_normalize_alike(a: str, b: str) -> None:
    assert normalize_url(a) == normalize_url(b)


@pytest.mark.parametrize(
    ("url", "ssh", "remote"),
    [
        ("https://example.com/r.git", False, True),
        ("http://127.0.0.1:8080/r.git", False, True),
        ("ssh://git@example.com:2222/r.git", True, True),
        ("git@example.com:org/r.git", True, True),
        ("file:///srv/git/r", False, False),
        ("/srv/git/r", False, False),
    ],
)
def test_url_kinds(url: str, ssh: bool, remote: bool) -> None:
    assert (is_ssh_url(url), is_remote_url(url)) == (ssh, remote)


def test_secret_fields_are_argo_cds_and_base64_data_is_decoded() -> None:
    creds = credentials_from_secret(
        secret(
            REPOSITORY,
            metadata_name="repo-1",
            url="https://e.com/r.git",
            username="u",
            password="p",
            sshPrivateKey=KEY,
            name="web",
            type="git",
            insecure="true",
            project="team",
        )
    )
    assert creds == RepoCredentials(
        url="https://e.com/r.git",
        kind=REPOSITORY,
        secret="repo-1",
        name="web",
        repo_type="git",
        project="team",
        username="u",
        password="p",
        ssh_private_key=KEY,
        insecure=True,
    )


def test_string_data_is_read_and_unlabelled_or_urlless_secrets_are_ignored() -> None:
    plain = {
        "metadata": {"name": "x", "labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
        "stringData": {"url": "https://e.com/", "password": "p"},
    }
    assert credentials_from_secret(plain) == RepoCredentials(
        url="https://e.com/", kind=REPO_CREDS, secret="x", password="p"
    )
    assert credentials_from_secret(secret("cluster", url="https://k8s")) is None
    assert credentials_from_secret(secret(REPOSITORY, username="u")) is None


def test_repr_never_shows_secret_values() -> None:
    creds = RepoCredentials(url="https://e.com/r", username="u", password="hunter2-secret", ssh_private_key=KEY)
    assert "hunter2-secret" not in repr(creds) and "PRIVATE" not in repr(creds)


ENTRIES = [
    RepoCredentials(url="https://git.example.com/", kind=REPO_CREDS, secret="all", username="a", password="pa"),
    RepoCredentials(url="https://git.example.com/team", kind=REPO_CREDS, secret="team", username="t", password="pt"),
    RepoCredentials(
        url="https://git.example.com/team/special.git", kind=REPOSITORY, secret="special", username="s", password="ps"
    ),
    RepoCredentials(url="https://git.example.com/team/bare", kind=REPOSITORY, secret="bare", name="bare"),
    RepoCredentials(
        url="https://charts.example.com/", kind=REPO_CREDS, secret="helm", repo_type="helm", username="h", password="ph"
    ),
]


@pytest.mark.parametrize(
    ("url", "expected_secret", "password"),
    [
        ("https://git.example.com/team/special", "special", "ps"),  # repository wins
        ("https://git.example.com/team/app.git", "team", "pt"),  # longest prefix
        ("https://git.example.com/other/app.git", "all", "pa"),
        ("https://git.example.com/team/bare.git", "bare", "pt"),  # inherits the template
    ],
)
def test_repository_secret_wins_else_longest_prefix_template(url: str, expected_secret: str, password: str) -> None:
    found = match(ENTRIES, url)
    assert found is not None and (found.secret, found.password) == (expected_secret, password)


def test_no_match_and_other_repo_types_are_not_used_for_git() -> None:
    assert match(ENTRIES, "https://elsewhere.example.com/r.git") is None
    assert match(ENTRIES, "https://charts.example.com/stable") is None
    helm = match(ENTRIES, "https://charts.example.com/stable", repo_type="helm")
    assert helm is not None and helm.secret == "helm"


def test_store_caches_for_its_ttl_then_reads_again() -> None:
    now = [0.0]
    reads: list[int] = []
    entries = [RepoCredentials(url="https://e.com/r", password="one")]

    def read() -> Snapshot:
        reads.append(1)
        return Snapshot(tuple(entries), ssh_known_hosts="host key")

    store = SecretCredentialStore(read, ttl=5.0, clock=lambda: now[0])
    found = store.lookup("https://e.com/r")
    assert found is not None and found.password == "one" and found.ssh_known_hosts == "host key"
    entries[0] = RepoCredentials(url="https://e.com/r", password="two")
    now[0] = 4.9
    assert store.lookup("https://e.com/r.git").password == "one"  # type: ignore[union-attr]
    now[0] = 5.0
    assert store.lookup("https://e.com/r.git").password == "two"  # type: ignore[union-attr]
    assert len(reads) == 2


def test_askpass_gets_username_and_password_from_env_only(tmp_path: Path) -> None:
    creds = RepoCredentials(url="https://e.com/r", username="deploy", password="s3cr3t-token")
    with git_auth(creds, tmp_dir=tmp_path) as auth:
        askpass = Path(auth.env["GIT_ASKPASS"])
        assert "s3cr3t-token" not in askpass.read_text()
        assert askpass.stat().st_mode & 0o777 == 0o700
        env = {**os.environ, **auth.env}
        ask = [str(askpass), "Username for 'https://e.com': "]
        user = subprocess.run(ask, env=env, capture_output=True, text=True, check=True)
        ask[1] = "Password for 'https://deploy@e.com': "
        password = subprocess.run(ask, env=env, capture_output=True, text=True, check=True)
        assert (user.stdout, password.stdout) == ("deploy\n", "s3cr3t-token\n")
        assert "GIT_SSH_COMMAND" not in auth.env and "s3cr3t-token" in auth.secrets
    assert not askpass.exists() and list(tmp_path.iterdir()) == []


def test_ssh_key_file_is_private_and_deleted_and_host_keys_follow_known_hosts(tmp_path: Path) -> None:
    creds = RepoCredentials(url="git@e.com:r.git", ssh_private_key=KEY.rstrip("\n"))
    with git_auth(creds, tmp_dir=tmp_path) as auth:
        command = shlex.split(auth.env["GIT_SSH_COMMAND"])
        key = Path(command[command.index("-i") + 1])
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text() == KEY  # with the final newline OpenSSH needs
        for option in (
            "IdentitiesOnly=yes",
            "BatchMode=yes",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
        ):
            assert option in command
        assert "GIT_ASKPASS" not in auth.env
    assert not key.exists() and list(tmp_path.iterdir()) == []

    known = RepoCredentials(url="git@e.com:r.git", ssh_private_key=KEY, ssh_known_hosts="e.com ssh-ed25519 AAAA")
    with git_auth(known, tmp_dir=tmp_path) as auth:
        command = shlex.split(auth.env["GIT_SSH_COMMAND"])
        assert "StrictHostKeyChecking=yes" in command
        hosts = next(o.split("=", 1)[1] for o in command if o.startswith("UserKnownHostsFile="))
        assert Path(hosts).read_text() == "e.com ssh-ed25519 AAAA\n"
    insecure = RepoCredentials(
        url="git@e.com:r.git", ssh_private_key=KEY, insecure=True, ssh_known_hosts="e.com ssh-ed25519 AAAA"
    )
    with git_auth(insecure, tmp_dir=tmp_path) as auth:
        assert "StrictHostKeyChecking=no" in shlex.split(auth.env["GIT_SSH_COMMAND"])
        assert auth.env["GIT_SSL_NO_VERIFY"] == "true"


def test_no_credentials_means_no_environment(tmp_path: Path) -> None:
    with git_auth(None, tmp_dir=tmp_path) as auth:
        assert auth.env == {} and auth.secrets == ()
    assert list(tmp_path.iterdir()) == []


def test_scrub_removes_passwords_and_every_key_line() -> None:
    creds = RepoCredentials(url="git@e.com:r", password="pw-123456", ssh_private_key=KEY)
    line = KEY.splitlines()[1]
    text = f"fatal: bad pw-123456 and {line} and\n{KEY}"
    cleaned = scrub(text, creds.secret_values())
    assert "pw-123456" not in cleaned and line not in cleaned and "***" in cleaned


@pytest.mark.parametrize(
    ("stderr", "creds", "expected"),
    [
        (
            "fatal: Authentication failed for 'https://e.com/r.git/'",
            None,
            "authentication failed for https://e.com/r.git (no credentials are configured for it): "
            "check the repository credentials (bosun repo add)",
        ),
        (
            "fatal: could not read Username for 'https://e.com': terminal prompts disabled",
            None,
            "authentication failed for https://e.com/r.git (no credentials are configured",
        ),
        (
            "git@e.com: Permission denied (publickey).",
            RepoCredentials(url="u", secret="repo-1", ssh_private_key=KEY),
            "authentication failed for https://e.com/r.git (credentials from Secret repo-1)",
        ),
        (
            "Host key verification failed.",
            RepoCredentials(url="u", ssh_private_key=KEY),
            "SSH host key verification failed for https://e.com/r.git: add the server's key to "
            "ConfigMap argocd-ssh-known-hosts-cm",
        ),
        (
            'Load key "/tmp/x/key": invalid format',
            RepoCredentials(url="u", ssh_private_key=KEY),
            "is not a valid private key",
        ),
        ("fatal: repository 'https://e.com/r.git/' not found", None, None),
    ],
)
def test_failure_messages_say_what_to_do(stderr: str, creds: RepoCredentials | None, expected: str | None) -> None:
    with git_auth(creds) as auth:
        message = failure_message("https://e.com/r.git", stderr, auth)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message


def test_static_store_matches_like_the_real_one() -> None:
    store = StaticCredentialStore(ENTRIES, ssh_known_hosts="k")
    found = store.lookup("https://git.example.com/team/x")
    assert found is not None and found.secret == "team" and found.ssh_known_hosts == "k"


def test_cli_secret_is_argo_cds_form_with_argo_cds_name() -> None:
    creds = RepoCredentials(url="https://e.com/r.git", name="web", username="u", password="p")
    manifest = secret_manifest(creds, namespace="bosun")
    assert manifest["metadata"]["name"] == secret_name("https://e.com/r.git")
    assert manifest["metadata"]["name"].startswith("repo-")
    assert manifest["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert credentials_from_secret(manifest) == RepoCredentials(
        url="https://e.com/r.git", secret=manifest["metadata"]["name"], name="web", username="u", password="p"
    )
    template = secret_manifest(RepoCredentials(url="https://e.com/", kind=REPO_CREDS, password="p"), namespace="bosun")
    assert template["metadata"]["name"].startswith("creds-")
    assert set(template["data"]) == {"url", "type", "password"}


def test_secret_name_is_argo_cds_fnv32a() -> None:
    # FNV-1a 32 of "a" is 0xe40c292c, as Go's hash/fnv computes it
    assert secret_name("a") == f"repo-{0xE40C292C}"
