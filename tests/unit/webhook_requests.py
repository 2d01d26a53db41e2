"""Webhook requests as each provider sends them: its headers, its signature, a fixture's body.

Shared by the unit tests of :mod:`bosun.webhooks` and the e2e test that POSTs to a worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from bosun import webhooks

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"

FIXTURE_OF = {
    webhooks.GITHUB: "github-push.json",
    webhooks.GITLAB: "gitlab-push.json",
    webhooks.BITBUCKET: "bitbucket-cloud-push.json",
    webhooks.BITBUCKET_SERVER: "bitbucket-server-refs-changed.json",
    webhooks.GOGS: "gitea-push.json",
    webhooks.AZURE_DEVOPS: "azuredevops-git-push.json",
}

SECRETS = {
    webhooks.GITHUB_SECRET: "gh-s3cret",
    webhooks.GITLAB_SECRET: "gl-t0ken",
    webhooks.BITBUCKET_UUID: "{9d2a3b1c-0000-4000-8000-000000000001}",
    webhooks.BITBUCKET_SERVER_SECRET: "bbs-s3cret",
    webhooks.GOGS_SECRET: "gitea-s3cret",
    webhooks.AZURE_USERNAME: "azure-user",
    webhooks.AZURE_PASSWORD: "azure-pass",
}


def fixture(provider: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / FIXTURE_OF[provider]).read_text()))


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(provider: str, body: bytes, secrets: dict[str, str] | None, *, event: str = "") -> dict[str, str]:
    """The headers ``provider`` sends with ``body`` (lowercase names); signed when ``secrets`` is given."""
    s = secrets or {}
    headers = {"content-type": "application/json"}
    if provider == webhooks.GITHUB:
        headers["x-github-event"] = event or "push"
        if s:
            headers["x-hub-signature-256"] = "sha256=" + _hex_hmac(s[webhooks.GITHUB_SECRET], body)
    elif provider == webhooks.GITLAB:
        headers["x-gitlab-event"] = event or "Push Hook"
        if s:
            headers["x-gitlab-token"] = s[webhooks.GITLAB_SECRET]
    elif provider == webhooks.BITBUCKET:
        headers["x-event-key"] = event or "repo:push"
        if s:
            headers["x-hook-uuid"] = s[webhooks.BITBUCKET_UUID]
    elif provider == webhooks.BITBUCKET_SERVER:
        headers["x-event-key"] = event or "repo:refs_changed"
        headers["x-request-id"] = "d9a6e2e4-0a1b-4c6d-8e9f-0a1b2c3d4e5f"
        if s:
            headers["x-hub-signature"] = "sha256=" + _hex_hmac(s[webhooks.BITBUCKET_SERVER_SECRET], body)
    elif provider == webhooks.GOGS:  # Gitea sends both families of headers
        headers["x-gitea-event"] = headers["x-gogs-event"] = event or "push"
        headers["x-github-event"] = event or "push"
        if s:
            headers["x-gitea-signature"] = headers["x-gogs-signature"] = _hex_hmac(s[webhooks.GOGS_SECRET], body)
    elif provider == webhooks.AZURE_DEVOPS:
        headers["x-vss-activityid"] = "5d5b3ba4-ffcf-4d53-a6a0-7f4a1f2d6d2c"
        headers["x-vss-subscriptionid"] = "00000000-0000-0000-0000-000000000000"
        if s:
            token = f"{s[webhooks.AZURE_USERNAME]}:{s[webhooks.AZURE_PASSWORD]}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(token).decode()
    return headers


def with_repo(provider: str, payload: dict[str, Any], http_url: str, ssh_url: str, branch: str) -> dict[str, Any]:
    """``payload`` rewritten to report a push of ``branch`` to the repository at these URLs."""
    web = http_url.removesuffix(".git")
    ref = f"refs/heads/{branch}"
    if provider in (webhooks.GITHUB, webhooks.GOGS):
        payload["ref"] = ref
        payload["repository"].update(html_url=web, clone_url=http_url, ssh_url=ssh_url, default_branch=branch)
    elif provider == webhooks.GITLAB:
        payload["ref"] = ref
        payload["project"].update(web_url=web, git_http_url=http_url, git_ssh_url=ssh_url, default_branch=branch)
        payload["repository"].update(homepage=web, git_http_url=http_url, git_ssh_url=ssh_url)
    elif provider == webhooks.BITBUCKET:
        payload["repository"]["links"]["html"]["href"] = web
        for change in payload["push"]["changes"]:
            change["new"]["name"] = change["old"]["name"] = branch
    elif provider == webhooks.BITBUCKET_SERVER:
        payload["repository"]["links"]["clone"] = [{"href": ssh_url, "name": "ssh"}, {"href": http_url, "name": "http"}]
        for change in payload["changes"]:
            change["ref"].update(id=ref, displayId=branch)
            change["refId"] = ref
    elif provider == webhooks.AZURE_DEVOPS:
        payload["resource"]["repository"].update(remoteUrl=web, sshUrl=ssh_url, webUrl=web, defaultBranch=ref)
        for update in payload["resource"]["refUpdates"]:
            update["name"] = ref
    return payload
