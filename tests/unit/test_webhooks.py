"""Git push webhooks (bosun.webhooks): each provider's payload, its signature, Argo CD's matching rule."""

from __future__ import annotations

import base64
import json

import pytest

from bosun import search_attributes, webhooks
from bosun.repo_urls import normalize_url, repo_key
from bosun.webhooks import Push, WebhookRefused, WebhookSecrets
from tests.unit.webhook_requests import FIXTURE_OF, FIXTURES, SECRETS, fixture, signed_headers

ALL_SECRETS = WebhookSecrets(SECRETS)
NO_SECRETS = WebhookSecrets()


def read(provider: str, secrets: WebhookSecrets = ALL_SECRETS, *, body: bytes | None = None, **kw: str) -> Push | None:
    data = body if body is not None else (FIXTURES / FIXTURE_OF[provider]).read_bytes()
    headers = signed_headers(provider, data, SECRETS if secrets is ALL_SECRETS else None, **kw)
    return webhooks.read_push("POST", headers, data, secrets)


# ------------------------------------------------------------------------- each provider


def test_github_push() -> None:
    push = read(webhooks.GITHUB)
    assert push == Push(
        provider="github",
        repo_urls=(
            "https://github.com/Example-Org/Guestbook",
            "https://github.com/Example-Org/Guestbook.git",
            "git@github.com:Example-Org/Guestbook.git",
        ),
        revisions=("main",),
        touched_head=True,
        changed_files=("guestbook/service.yaml", "guestbook/deployment.yaml"),
    )
    assert push.repo_keys == {"github.com/example-org/guestbook"}


def test_github_tag_push_does_not_touch_head() -> None:
    body = (FIXTURES / "github-tag.json").read_bytes()
    push = webhooks.read_push("POST", signed_headers(webhooks.GITHUB, body, SECRETS), body, ALL_SECRETS)
    assert push is not None
    assert push.revisions == ("v1.2.0",)
    assert not push.touched_head


def test_github_ping_is_accepted_and_reports_no_push() -> None:
    body = (FIXTURES / "github-ping.json").read_bytes()
    headers = signed_headers(webhooks.GITHUB, body, SECRETS, event="ping")
    assert webhooks.read_push("POST", headers, body, ALL_SECRETS) is None


def test_github_form_encoded_payload() -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": (FIXTURES / "github-push.json").read_text()}).encode()
    headers = signed_headers(webhooks.GITHUB, body, SECRETS)
    headers["content-type"] = "application/x-www-form-urlencoded"
    push = webhooks.read_push("POST", headers, body, ALL_SECRETS)
    assert push is not None and push.revisions == ("main",)


def test_gitlab_push() -> None:
    push = read(webhooks.GITLAB)
    assert push is not None
    assert push.repo_urls == (
        "http://example.com/mike/diaspora",
        "http://example.com/mike/diaspora.git",
        "git@example.com:mike/diaspora.git",
    )
    assert push.revisions == ("staging",)
    assert not push.touched_head  # default branch is master
    assert push.changed_files == ("CHANGELOG", "app/controller/application.rb")


def test_gitlab_system_hook_push() -> None:
    push = read(webhooks.GITLAB, event="System Hook")
    assert push is not None and push.revisions == ("staging",)


def test_bitbucket_cloud_push() -> None:
    push = read(webhooks.BITBUCKET)
    assert push == Push(
        provider="bitbucket",
        repo_urls=("https://bitbucket.org/atlassian/argocd-example-apps",),
        revisions=("master",),
        touched_head=True,
    )


def test_bitbucket_server_refs_changed() -> None:
    push = read(webhooks.BITBUCKET_SERVER)
    assert push is not None
    assert push.repo_urls == (
        "ssh://git@bitbucketserver:7999/myproject/test-repo.git",
        "https://bitbucketserver/scm/myproject/test-repo.git",
    )
    assert push.revisions == ("master",)
    assert push.touched_head


def test_bitbucket_server_ping() -> None:
    assert read(webhooks.BITBUCKET_SERVER, body=b"{}", event="diagnostics:ping") is None


def test_gitea_push() -> None:
    push = read(webhooks.GOGS)
    assert push is not None
    assert push.provider == "gogs"
    assert push.repo_keys == {"localhost/gitea/webhooks"}
    assert push.revisions == ("develop",)
    assert not push.touched_head
    assert push.changed_files == ("app/values.yaml", "old.yaml")


def test_gogs_headers_only() -> None:
    body = (FIXTURES / "gitea-push.json").read_bytes()
    signature = signed_headers(webhooks.GOGS, body, SECRETS)["x-gogs-signature"]
    headers = {"x-gogs-event": "push", "x-gogs-signature": signature}
    push = webhooks.read_push("POST", headers, body, ALL_SECRETS)
    assert push is not None and push.provider == "gogs"


def test_azure_devops_push() -> None:
    push = read(webhooks.AZURE_DEVOPS)
    assert push is not None
    assert push.revisions == ("master",)
    assert push.touched_head
    # The HTTPS remote URL (with its user) and the v3 SSH URL name the same repository.
    assert push.repo_keys == {"dev.azure.com/fabrikam/fabrikam-fiber-git/_git/fabrikam-fiber-git"}


# ------------------------------------------------------------------------- verification


@pytest.mark.parametrize("provider", sorted(FIXTURE_OF))
def test_unsigned_payload_is_refused_when_a_secret_is_set(provider: str) -> None:
    body = (FIXTURES / FIXTURE_OF[provider]).read_bytes()
    with pytest.raises(WebhookRefused) as refused:
        webhooks.read_push("POST", signed_headers(provider, body, None), body, ALL_SECRETS)
    assert refused.value.status == 401


@pytest.mark.parametrize("provider", sorted(FIXTURE_OF))
def test_wrongly_signed_payload_is_refused_and_the_message_holds_no_secret(provider: str) -> None:
    body = (FIXTURES / FIXTURE_OF[provider]).read_bytes()
    wrong = {key: value + "-wrong" for key, value in SECRETS.items()}
    headers = signed_headers(provider, body, wrong)
    with pytest.raises(WebhookRefused) as refused:
        webhooks.read_push("POST", headers, body, ALL_SECRETS)
    assert refused.value.status == 403
    message = str(refused.value)
    for value in [*SECRETS.values(), *wrong.values(), *headers.values()]:
        if len(value) > 20 or value in SECRETS.values():
            assert value not in message


@pytest.mark.parametrize("provider", [webhooks.GITHUB, webhooks.BITBUCKET_SERVER, webhooks.GOGS])  # HMACs of the body
def test_a_signed_body_changed_afterwards_is_refused(provider: str) -> None:
    body = (FIXTURES / FIXTURE_OF[provider]).read_bytes()
    headers = signed_headers(provider, body, SECRETS)
    with pytest.raises(WebhookRefused) as refused:
        webhooks.read_push("POST", headers, body.replace(b"main", b"prod").replace(b"master", b"prod"), ALL_SECRETS)
    assert refused.value.status == 403


@pytest.mark.parametrize("provider", sorted(FIXTURE_OF))
def test_without_secrets_unsigned_payloads_are_accepted(provider: str) -> None:
    assert read(provider, NO_SECRETS) is not None


def test_only_the_providers_secret_counts() -> None:
    only_gitlab = WebhookSecrets({webhooks.GITLAB_SECRET: "x"})
    assert read(webhooks.GITHUB, only_gitlab) is not None
    with pytest.raises(WebhookRefused):
        read(webhooks.GITLAB, only_gitlab)


def test_secrets_come_from_the_secrets_base64_data_and_bosun_secret_wins() -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    argocd = {webhooks.GITHUB_SECRET: b64("from-argocd"), webhooks.GITLAB_SECRET: b64("gl"), "admin.password": b64("x")}
    bosun = {webhooks.GITHUB_SECRET: b64("from-bosun")}
    secrets = WebhookSecrets.from_secret_data(argocd, None, bosun)
    assert secrets.get(webhooks.GITHUB_SECRET) == "from-bosun"
    assert secrets.get(webhooks.GITLAB_SECRET) == "gl"
    assert "admin.password" not in secrets.values
    assert "from-bosun" not in repr(secrets) and "gl" not in repr(secrets).replace("gitlab", "")


def test_a_secret_value_that_is_not_base64_refuses_everything() -> None:
    secrets = WebhookSecrets.from_secret_data({webhooks.GITHUB_SECRET: "%%%"})
    with pytest.raises(WebhookRefused):
        read(webhooks.GITHUB, secrets)


# ------------------------------------------------------------------------- bad requests


def test_wrong_method_is_405() -> None:
    with pytest.raises(WebhookRefused) as refused:
        webhooks.read_push("GET", {"x-github-event": "push"}, b"", NO_SECRETS)
    assert refused.value.status == 405


def test_too_large_is_413() -> None:
    body = json.dumps({"pad": "x" * 2000}).encode()
    with pytest.raises(WebhookRefused) as refused:
        webhooks.read_push("POST", {"x-github-event": "push"}, body, NO_SECRETS, max_bytes=1000)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("headers", "body", "says"),
    [
        ({}, b"{}", "unknown webhook"),
        ({"x-github-event": "push"}, b"{not json", "not JSON"),
        ({"x-github-event": "push"}, b"[1, 2]", "not a JSON object"),
        ({"x-github-event": "push"}, b"\xff\xfe", "not JSON"),
        ({"x-github-event": "issues"}, b"{}", "'issues' is not handled"),
        ({"x-github-event": "push"}, b'{"ref": "refs/heads/main"}', "names no repository URL"),
        ({"x-github-event": "push"}, b'{"repository": {"html_url": "https://h/o/r"}}', "names no ref"),
        ({"x-gitlab-event": "Merge Request Hook"}, b"{}", "not handled"),
        ({"x-event-key": "pr:opened"}, b"{}", "not handled"),
        ({"x-vss-activityid": "1"}, b'{"eventType": "git.pullrequest.created"}', "not handled"),
        ({"x-github-event": "push"}, b'{"repository": "x", "ref": 5}', "names no repository URL"),
        (
            {"x-github-event": "push", "content-type": "application/x-www-form-urlencoded"},
            b"a=b",
            "without a 'payload' field",
        ),
    ],
)
def test_bad_payloads_are_400_with_a_message(headers: dict[str, str], body: bytes, says: str) -> None:
    with pytest.raises(WebhookRefused) as refused:
        webhooks.read_push("POST", headers, body, NO_SECRETS)
    assert refused.value.status == 400
    assert says in str(refused.value)


# ------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/Example-Org/Guestbook",
        "https://github.com/example-org/guestbook.git",
        "https://github.com/example-org/guestbook/",
        "http://GITHUB.COM/example-org/guestbook.git/",
        "https://user:token@github.com/example-org/guestbook.git",
        "git@github.com:example-org/guestbook.git",
        "git@github.com:/example-org/guestbook",
        "ssh://git@github.com/example-org/guestbook.git",
        "ssh://git@github.com:22/example-org/guestbook",
        "ssh://git@ssh.github.com:443/example-org/guestbook.git",
        "github.com:example-org/guestbook",
    ],
)
def test_repo_key_is_the_same_for_every_form_of_a_url(url: str) -> None:
    assert repo_key(url) == "github.com/example-org/guestbook"


def test_repo_key_tells_repositories_apart() -> None:
    keys = {
        repo_key(u)
        for u in (
            "https://github.com/org/repo",
            "https://github.com/org/repo-two",
            "https://github.com/other/repo",
            "https://gitlab.com/org/repo",
            "https://github.com/org/group/repo",
        )
    }
    assert len(keys) == 5


def test_repo_key_of_azure_devops_ssh_and_https() -> None:
    assert repo_key("git@ssh.dev.azure.com:v3/org/proj/repo") == repo_key(
        "https://org@dev.azure.com/org/proj/_git/repo"
    )


def test_normalize_url_is_argo_cds_for_credentials() -> None:
    assert normalize_url("git@GitHub.com:org/repo.git") == "git@github.com/org/repo"
    assert normalize_url("ssh://git@github.com/org/repo/") == "git@github.com/org/repo"
    assert normalize_url("https://github.com/org/repo.git") == "https://github.com/org/repo"


def push(revisions: tuple[str, ...] = ("main",), *, head: bool = True) -> Push:
    return Push("github", ("https://github.com/org/repo",), revisions, head)


@pytest.mark.parametrize(
    ("target", "pushed", "head", "refresh"),
    [
        ("HEAD", ("main",), True, True),
        ("", ("main",), True, True),
        ("HEAD", ("feature",), False, False),
        ("main", ("main",), True, True),
        ("refs/heads/main", ("main",), True, True),
        ("main", ("develop",), False, False),
        ("refs/heads/main", ("develop",), False, False),
        ("v1.2.0", ("v1.2.0",), False, True),
        ("refs/tags/v1.2.0", ("v1.2.0",), False, True),
        ("v1.*", ("v1.2.0",), False, False),
        ("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", ("main",), True, False),
        ("feature/x", ("feature/x",), False, True),
    ],
)
def test_revision_rule_is_argo_cds(target: str, pushed: tuple[str, ...], head: bool, refresh: bool) -> None:
    assert webhooks.revision_has_changed(target, push(pushed, head=head)) is refresh


def test_an_app_is_refreshed_when_any_of_its_sources_uses_the_pushed_repo_and_branch() -> None:
    pushed = push(("main",))
    assert webhooks.app_wants_refresh([("git@github.com:org/repo.git", "main")], pushed)
    assert webhooks.app_wants_refresh(
        [("https://charts.example.com", "1.0.0"), ("https://github.com/ORG/repo.git", "HEAD")], pushed
    )
    assert not webhooks.app_wants_refresh([("https://github.com/org/other", "main")], pushed)
    assert not webhooks.app_wants_refresh([("https://github.com/org/repo", "develop")], pushed)
    assert not webhooks.app_wants_refresh([], pushed)


def test_each_fixture_refreshes_an_app_on_its_ssh_url() -> None:
    ssh = {
        webhooks.GITHUB: ("git@github.com:example-org/guestbook.git", "main"),
        webhooks.GITLAB: ("ssh://git@example.com/mike/diaspora.git", "staging"),
        webhooks.BITBUCKET: ("git@bitbucket.org:atlassian/argocd-example-apps.git", "master"),
        webhooks.BITBUCKET_SERVER: ("ssh://git@bitbucketserver:7999/myproject/test-repo.git", "master"),
        webhooks.GOGS: ("ssh://gitea@localhost:2222/gitea/webhooks.git", "develop"),
        webhooks.AZURE_DEVOPS: ("git@ssh.dev.azure.com:v3/fabrikam/Fabrikam-Fiber-Git/Fabrikam-Fiber-Git", "HEAD"),
    }
    for provider, source in ssh.items():
        pushed = read(provider)
        assert pushed is not None
        assert webhooks.app_wants_refresh([source], pushed), provider
        assert not webhooks.app_wants_refresh([(source[0], "some-other-branch")], pushed), provider


def test_repo_keys_of_an_apps_sources() -> None:
    assert search_attributes.repo_items(
        ["https://github.com/org/repo.git", "git@github.com:org/repo", "https://charts.example.com/", ""]
    ) == ["charts.example.com/", "github.com/org/repo"]


def test_every_fixture_is_read() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} >= set(FIXTURE_OF.values())
    for provider in FIXTURE_OF:
        assert fixture(provider)


def annotated(paths: str | None, *source_paths: str) -> dict[str, object]:
    sources = [{"repoURL": "https://github.com/org/repo", "targetRevision": "main", "path": p} for p in source_paths]
    metadata = {"name": "a", "annotations": {webhooks.MANIFEST_GENERATE_PATHS: paths} if paths is not None else {}}
    return {"metadata": metadata, "spec": {"sources": sources}}


def test_refresh_paths_are_relative_to_each_source_or_to_the_root() -> None:
    assert webhooks.refresh_paths(annotated(".;/shared;../common", "apps/web", "apps/api")) == [
        "apps/web",
        "apps/api",
        "shared",
        "apps/common",
        "apps/common",
    ]
    assert webhooks.refresh_paths(annotated(None, "apps/web")) == []


@pytest.mark.parametrize(
    ("paths", "changed", "refresh"),
    [
        ([], ["anything"], True),
        (["apps/web"], [], True),  # the payload lists no files
        (["apps/web"], ["apps/web/deploy.yaml"], True),
        (["apps/web"], ["apps/web"], True),
        (["apps/web"], ["apps/webshop/deploy.yaml"], False),
        (["apps/web"], ["apps/api/deploy.yaml", "README.md"], False),
        (["apps/*/values.yaml"], ["apps/web/values.yaml"], True),
        (["apps/*.yaml"], ["apps/web/values.yaml"], False),
        (["."], ["anything/at/all"], True),
    ],
)
def test_files_have_changed_is_argo_cds(paths: list[str], changed: list[str], refresh: bool) -> None:
    assert webhooks.files_have_changed(paths, changed) is refresh


def test_an_app_with_manifest_generate_paths_is_refreshed_only_for_its_files() -> None:
    pushed = Push("github", ("https://github.com/org/repo",), ("main",), True, ("apps/api/deploy.yaml",))
    assert webhooks.application_wants_refresh(annotated(".", "apps/api"), pushed)
    assert not webhooks.application_wants_refresh(annotated(".", "apps/web"), pushed)
    assert webhooks.application_wants_refresh(annotated(None, "apps/web"), pushed)


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@pytest.mark.parametrize("provider", sorted(FIXTURE_OF))
def test_any_field_of_the_wrong_type_is_a_clear_answer_never_a_crash(provider: str) -> None:
    """Every field of each fixture replaced by each JSON type: a push, nothing, or a 4xx."""
    original = fixture(provider)
    for path in _paths(original):
        for wrong in (None, 7, "text", [], {}, [1, "a"], {"a": 1}):
            payload = json.loads(json.dumps(original))
            target = payload
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = wrong
            body = json.dumps(payload).encode()
            try:
                webhooks.read_push("POST", signed_headers(provider, body, None), body, NO_SECRETS)
            except WebhookRefused as refused:
                assert 400 <= refused.status < 500, (path, wrong)


def test_describe_leaves_credentials_in_urls_out() -> None:
    pushed = Push("azuredevops", ("https://org:pat-123@dev.azure.com/org/p/_git/r", "git@h:o/r.git"), ("main",), True)
    assert pushed.describe() == "azuredevops push to https://dev.azure.com/org/p/_git/r, git@h:o/r.git (main)"
