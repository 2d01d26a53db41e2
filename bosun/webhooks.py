"""Git push webhooks, as Argo CD's ``/api/webhook``: verify, parse, and say which apps it concerns.

Pure: :func:`read_push` takes the request (method, headers, body) and the secrets and returns a
:class:`Push` (or None for a ping), or raises :class:`WebhookRefused` with the HTTP status and a
message that never holds a secret or a signature. :func:`app_wants_refresh` is Argo CD's rule
for which Applications a push refreshes. ``worker.webhooks`` does the I/O.

Providers are told apart by their headers, in Argo CD's order (Gogs and Gitea also send GitHub's
headers, so they come first):

=================  ==================================  ==========================================
provider           event header                        verified by (when its secret is set)
=================  ==================================  ==========================================
Azure DevOps       ``X-Vss-Activityid``, ``git.push``  HTTP basic auth (``webhook.azuredevops.*``)
Gogs / Gitea       ``X-Gogs-Event``/``X-Gitea-Event``  ``X-Gogs-Signature``/``X-Gitea-Signature``:
                                                       hex HMAC-SHA256 of the body
GitHub             ``X-GitHub-Event``                  ``X-Hub-Signature-256``: ``sha256=<hex>``
GitLab             ``X-Gitlab-Event``                  ``X-Gitlab-Token`` equals the secret
Bitbucket Cloud    ``X-Event-Key: repo:push``          ``X-Hook-UUID`` equals ``webhook.bitbucket.uuid``
Bitbucket Server   ``X-Event-Key: repo:refs_changed``  ``X-Hub-Signature``: ``sha256=<hex>``
=================  ==================================  ==========================================

Without its secret a provider's payloads are accepted unsigned (as Argo CD). With it, a payload
with no signature is refused with 401 and a wrong one with 403; comparisons take constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from bosun.repo_urls import repo_key
from bosun.search_attributes import REPOS as REPOS_ATTRIBUTE
from bosun.search_attributes import running_apps_query

PATH = "/api/webhook"
DEFAULT_MAX_BYTES = 1024 * 1024
"""Argo CD allows 50 MB (``webhook.maxPayloadSizeMB``); a push payload is a few kB, and the
worker holds the body in memory, so Bosun allows 1 MB unless told otherwise."""

SECRET_NAMES = ("argocd-secret", "bosun-secret")
"""Secrets of the control namespace holding the keys below, read in this order (a later one's keys win)."""

GITHUB_SECRET = "webhook.github.secret"
GITLAB_SECRET = "webhook.gitlab.secret"
BITBUCKET_UUID = "webhook.bitbucket.uuid"
BITBUCKET_SERVER_SECRET = "webhook.bitbucketserver.secret"
GOGS_SECRET = "webhook.gogs.secret"
AZURE_USERNAME = "webhook.azuredevops.username"
AZURE_PASSWORD = "webhook.azuredevops.password"
SECRET_KEYS = (
    GITHUB_SECRET,
    GITLAB_SECRET,
    BITBUCKET_UUID,
    BITBUCKET_SERVER_SECRET,
    GOGS_SECRET,
    AZURE_USERNAME,
    AZURE_PASSWORD,
)

GITHUB = "github"
GITLAB = "gitlab"
BITBUCKET = "bitbucket"
BITBUCKET_SERVER = "bitbucketserver"
GOGS = "gogs"
AZURE_DEVOPS = "azuredevops"


_USERINFO = re.compile(r"://[^/@]*@")
UNUSABLE = "\0 not base64 text"
"""What a key holds when its Secret value cannot be decoded: no signature matches it."""


class WebhookRefused(Exception):
    """A request that changes nothing: ``status`` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class WebhookSecrets:
    """The webhook keys of ``argocd-secret`` / ``bosun-secret``; "" when not set."""

    values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_secret_data(cls, *datas: Mapping[str, str] | None) -> WebhookSecrets:
        """Secrets' ``data`` (base64, as the API returns it), a later one's keys winning."""
        merged: dict[str, str] = {}
        for data in datas:
            for key, raw in (data or {}).items():
                if key not in SECRET_KEYS:
                    continue
                try:
                    merged[key] = base64.b64decode(raw or "", validate=True).decode()
                except (binascii.Error, ValueError, UnicodeDecodeError):
                    merged[key] = UNUSABLE  # unset would accept unsigned payloads: refuse them all instead
        return cls(merged)

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def __repr__(self) -> str:  # never print the values
        return f"WebhookSecrets(set={sorted(k for k, v in self.values.items() if v)})"


@dataclass(frozen=True)
class Push:
    """What a push changed: which repository, which refs, which files (when the payload says)."""

    provider: str
    repo_urls: tuple[str, ...]
    """The repository as the payload names it: web, HTTP clone and SSH clone URLs."""
    revisions: tuple[str, ...]
    """Branch or tag names pushed (``refs/heads/`` or ``refs/tags/`` removed)."""
    touched_head: bool
    """The default branch was pushed (or the payload does not say, then True as Argo CD)."""
    changed_files: tuple[str, ...] = ()
    """Files added, modified or removed; empty when the payload does not list them."""

    @property
    def repo_keys(self) -> frozenset[str]:
        return frozenset(key for key in map(repo_key, self.repo_urls) if key.strip("/"))

    def describe(self) -> str:
        """For logs and answers: the repository URLs without any ``user:password@``."""
        urls = ", ".join(_USERINFO.sub("://", url) for url in self.repo_urls)
        return f"{self.provider} push to {urls or '?'} ({', '.join(self.revisions) or '?'})"


# ------------------------------------------------------------------------------- request


def read_push(
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: WebhookSecrets,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Push | None:
    """The push a request reports; None for a ping or a push that changes no ref.

    ``headers`` with lowercase names. Raises :class:`WebhookRefused` for anything else."""
    if method.upper() != "POST":
        raise WebhookRefused(405, f"method {method[:16]!r} not allowed: webhooks are POSTed")
    if len(body) > max_bytes:
        raise WebhookRefused(413, f"payload of {len(body)} bytes is over the limit of {max_bytes} bytes")
    provider = provider_of(headers)
    _verify(provider, headers, body, secrets)
    event = _event(provider, headers)
    payload = _json_body(provider, headers, body)
    return PARSERS[provider](event, payload)


def provider_of(headers: Mapping[str, str]) -> str:
    if headers.get("x-vss-activityid"):
        return AZURE_DEVOPS
    if headers.get("x-gogs-event") or headers.get("x-gitea-event"):
        return GOGS
    if headers.get("x-github-event"):
        return GITHUB
    if headers.get("x-gitlab-event"):
        return GITLAB
    if headers.get("x-hook-uuid") or headers.get("x-event-key", "").startswith("repo:push"):
        return BITBUCKET
    if headers.get("x-event-key"):
        return BITBUCKET_SERVER
    raise WebhookRefused(
        400,
        "unknown webhook: no X-GitHub-Event, X-Gitlab-Event, X-Event-Key, X-Gogs-Event, X-Gitea-Event "
        "or X-Vss-ActivityId header",
    )


EVENT_HEADERS = {
    GITHUB: ("x-github-event",),
    GITLAB: ("x-gitlab-event",),
    BITBUCKET: ("x-event-key",),
    BITBUCKET_SERVER: ("x-event-key",),
    GOGS: ("x-gitea-event", "x-gogs-event"),
    AZURE_DEVOPS: (),  # the event is the body's eventType
}


def provider_name(headers: Mapping[str, str]) -> str:
    """The provider the headers name, or "unknown" (for counting requests)."""
    try:
        return provider_of(headers)
    except WebhookRefused:
        return "unknown"


def outcome(status: int, refreshed: int) -> str:
    """A request's outcome in one word (a metrics label): refreshed, ignored (a ping, or no app
    follows the pushed branch), unauthorized, bad_request, unavailable or error."""
    if status == 200:
        return "refreshed" if refreshed else "ignored"
    if status in (401, 403):
        return "unauthorized"
    if status == 503:
        return "unavailable"
    return "bad_request" if 400 <= status < 500 else "error"


def _event(provider: str, headers: Mapping[str, str]) -> str:
    return next((headers[name] for name in EVENT_HEADERS[provider] if headers.get(name)), "")


def _json_body(provider: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The payload; GitHub and Gogs may also send it form-encoded in a ``payload`` field."""
    text = body
    if headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", errors="replace"))
        if "payload" not in fields:
            raise WebhookRefused(400, f"{provider} payload: form body without a 'payload' field")
        text = fields["payload"][0].encode()
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRefused(400, f"{provider} payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, f"{provider} payload is not a JSON object")
    return payload


# --------------------------------------------------------------------------- verification


def _verify(provider: str, headers: Mapping[str, str], body: bytes, secrets: WebhookSecrets) -> None:
    if provider == AZURE_DEVOPS:
        user, password = secrets.get(AZURE_USERNAME), secrets.get(AZURE_PASSWORD)
        if user or password:
            _check_basic_auth(headers.get("authorization", ""), user, password)
        return
    if provider == BITBUCKET:
        _check_token(headers.get("x-hook-uuid", ""), secrets.get(BITBUCKET_UUID), "X-Hook-UUID", "Bitbucket")
        return
    if provider == GITLAB:
        _check_token(headers.get("x-gitlab-token", ""), secrets.get(GITLAB_SECRET), "X-Gitlab-Token", "GitLab")
        return
    if provider == GOGS:
        given = headers.get("x-gitea-signature") or headers.get("x-gogs-signature", "")
        _check_hmac(body, given, secrets.get(GOGS_SECRET), "X-Gogs-Signature / X-Gitea-Signature", "Gogs/Gitea")
        return
    if provider == GITHUB:
        given = headers.get("x-hub-signature-256", "")
        _check_hmac(body, given, secrets.get(GITHUB_SECRET), "X-Hub-Signature-256", "GitHub", prefix="sha256=")
        return
    given = headers.get("x-hub-signature", "")
    _check_hmac(
        body, given, secrets.get(BITBUCKET_SERVER_SECRET), "X-Hub-Signature", "Bitbucket Server", prefix="sha256="
    )


def _check_hmac(body: bytes, given: str, secret: str, header: str, who: str, *, prefix: str = "") -> None:
    if not secret:
        return
    if not given:
        raise WebhookRefused(401, f"{who} webhook is not signed ({header} missing) and a secret is set")
    expected = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise WebhookRefused(403, f"{who} webhook signature ({header}) does not match the secret")


def _check_token(given: str, secret: str, header: str, who: str) -> None:
    if not secret:
        return
    if not given:
        raise WebhookRefused(401, f"{who} webhook has no {header} and a secret is set")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookRefused(403, f"{who} webhook {header} does not match the secret")


def _check_basic_auth(header: str, user: str, password: str) -> None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookRefused(401, "Azure DevOps webhook has no basic auth and a username/password is set")
    try:
        given_user, _, given_password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise WebhookRefused(401, "Azure DevOps webhook basic auth is not base64 'user:password'") from None
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    if not (user_ok and password_ok):
        raise WebhookRefused(403, "Azure DevOps webhook basic auth does not match the username/password set")


# -------------------------------------------------------------------------------- parsing


def ref_name(ref: str) -> str:
    """``refs/heads/main`` → ``main`` (Argo CD's ``ParseRevision``: what follows the second ``/``)."""
    parts = ref.split("/", 2)
    return parts[-1]


def _get(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _text(payload: Any, *path: str) -> str:
    value = _get(payload, *path)
    return value if isinstance(value, str) else ""


def _urls(*candidates: Any) -> tuple[str, ...]:
    seen: list[str] = []
    for url in candidates:
        if isinstance(url, str) and url.strip() and url.strip() not in seen:
            seen.append(url.strip())
    return tuple(seen)


def _commit_files(commits: Any) -> tuple[str, ...]:
    files: list[str] = []
    for commit in commits if isinstance(commits, list) else []:
        for kind in ("added", "modified", "removed"):
            names = _get(commit, kind)
            files.extend(n for n in (names if isinstance(names, list) else []) if isinstance(n, str))
    return tuple(dict.fromkeys(files))


def _need(push: Push, what: str) -> Push:
    if not push.repo_keys:
        raise WebhookRefused(400, f"{push.provider} {what} payload names no repository URL")
    if not push.revisions:
        raise WebhookRefused(400, f"{push.provider} {what} payload names no ref")
    return push


def _unknown(provider: str, event: str, known: Iterable[str]) -> WebhookRefused:
    return WebhookRefused(400, f"{provider} event {event!r} is not handled (only {', '.join(known)})")


def _github(event: str, payload: dict[str, Any]) -> Push | None:
    if event == "ping":
        return None
    if event != "push":
        raise _unknown(GITHUB, event, ("push", "ping"))
    repo = _get(payload, "repository") or {}
    revision = ref_name(_text(payload, "ref"))
    return _need(
        Push(
            provider=GITHUB,
            repo_urls=_urls(_get(repo, "html_url"), _get(repo, "clone_url"), _get(repo, "ssh_url")),
            revisions=(revision,) if revision else (),
            touched_head=_text(repo, "default_branch") == revision,
            changed_files=_commit_files(payload.get("commits")),
        ),
        "push",
    )


def _gogs(event: str, payload: dict[str, Any]) -> Push | None:
    if event != "push":
        raise _unknown(GOGS, event, ("push",))
    repo = _get(payload, "repository") or {}
    revision = ref_name(_text(payload, "ref"))
    return _need(
        Push(
            provider=GOGS,
            repo_urls=_urls(_get(repo, "html_url"), _get(repo, "clone_url"), _get(repo, "ssh_url")),
            revisions=(revision,) if revision else (),
            touched_head=_text(repo, "default_branch") == revision,
            changed_files=_commit_files(payload.get("commits")),
        ),
        "push",
    )


GITLAB_EVENTS = ("Push Hook", "Tag Push Hook", "System Hook")


def _gitlab(event: str, payload: dict[str, Any]) -> Push | None:
    if event not in GITLAB_EVENTS:
        raise _unknown(GITLAB, event, GITLAB_EVENTS)
    if event == "System Hook" and payload.get("event_name") not in ("push", "tag_push"):
        raise _unknown(GITLAB, f"System Hook {payload.get('event_name')}", ("push", "tag_push"))
    project = _get(payload, "project") or {}
    revision = ref_name(_text(payload, "ref"))
    return _need(
        Push(
            provider=GITLAB,
            repo_urls=_urls(
                _get(project, "web_url"),
                _get(project, "git_http_url"),
                _get(project, "git_ssh_url"),
                _get(payload, "repository", "homepage"),
            ),
            revisions=(revision,) if revision else (),
            touched_head=_text(project, "default_branch") == revision,
            changed_files=_commit_files(payload.get("commits")),
        ),
        "push",
    )


def _bitbucket(event: str, payload: dict[str, Any]) -> Push | None:
    if event != "repo:push":
        raise _unknown(BITBUCKET, event, ("repo:push",))
    repo = _get(payload, "repository") or {}
    changes = _get(payload, "push", "changes")
    revisions = [
        _text(change, "new", "name") or _text(change, "old", "name")
        for change in (changes if isinstance(changes, list) else [])
    ]
    return _need(
        Push(
            provider=BITBUCKET,
            repo_urls=_urls(_get(repo, "links", "html", "href")),
            revisions=tuple(dict.fromkeys(r for r in revisions if r)),
            touched_head=True,  # the payload does not say which branch is the main one
        ),
        "repo:push",
    )


def _bitbucket_server(event: str, payload: dict[str, Any]) -> Push | None:
    if event == "diagnostics:ping":
        return None
    if event != "repo:refs_changed":
        raise _unknown(BITBUCKET_SERVER, event, ("repo:refs_changed", "diagnostics:ping"))
    clone = _get(payload, "repository", "links", "clone")  # its http and ssh clone URLs, as Argo CD reads
    urls = [_get(link, "href") for link in (clone if isinstance(clone, list) else []) if isinstance(link, dict)]
    changes = payload.get("changes")
    revisions = [
        ref_name(_text(change, "ref", "id") or _text(change, "refId"))
        for change in (changes if isinstance(changes, list) else [])
    ]
    return _need(
        Push(
            provider=BITBUCKET_SERVER,
            repo_urls=_urls(*urls),
            revisions=tuple(dict.fromkeys(r for r in revisions if r)),
            touched_head=True,
        ),
        "repo:refs_changed",
    )


def _azure_devops(event: str, payload: dict[str, Any]) -> Push | None:
    event = _text(payload, "eventType")
    if event != "git.push":
        raise _unknown(AZURE_DEVOPS, event, ("git.push",))
    repo = _get(payload, "resource", "repository") or {}
    updates = _get(payload, "resource", "refUpdates")
    names = [_text(u, "name") for u in (updates if isinstance(updates, list) else [])]
    default = _text(repo, "defaultBranch")
    return _need(
        Push(
            provider=AZURE_DEVOPS,
            repo_urls=_urls(_get(repo, "remoteUrl"), _get(repo, "sshUrl"), _get(repo, "webUrl")),
            revisions=tuple(dict.fromkeys(ref_name(n) for n in names if n)),
            touched_head=bool(default) and default in names,
        ),
        "git.push",
    )


PARSERS = {
    GITHUB: _github,
    GITLAB: _gitlab,
    BITBUCKET: _bitbucket,
    BITBUCKET_SERVER: _bitbucket_server,
    GOGS: _gogs,
    AZURE_DEVOPS: _azure_devops,
}


# ------------------------------------------------------------------------------- matching


def revision_has_changed(target_revision: str, push: Push) -> bool:
    """Whether a source following ``target_revision`` sees the push (Argo CD's
    ``sourceRevisionHasChanged``): HEAD or empty follows the default branch; ``refs/heads/x``
    and ``refs/tags/x`` follow ``x``; anything else must equal a pushed branch or tag name."""
    target = ref_name(target_revision)
    if target in ("HEAD", ""):
        return push.touched_head
    if target_revision.startswith(("refs/heads/", "refs/tags/")):
        return target in push.revisions
    return target_revision in push.revisions


def moved_sources(sources: Iterable[tuple[str, str]], push: Push) -> list[str]:
    """The repoURLs (as the app spells them) of the ``(repoURL, targetRevision)`` sources that
    ``push`` moved: of the pushed repository, following a pushed branch or tag."""
    keys = push.repo_keys
    return list(dict.fromkeys(url for url, rev in sources if repo_key(url) in keys and revision_has_changed(rev, push)))


def app_wants_refresh(sources: Iterable[tuple[str, str]], push: Push) -> bool:
    """Whether an app with these sources is refreshed by ``push``: a source it moved."""
    return bool(moved_sources(sources, push))


MANIFEST_GENERATE_PATHS = "argocd.argoproj.io/manifest-generate-paths"


def refresh_paths(application: Mapping[str, Any]) -> list[str]:
    """Argo CD's ``GetAppRefreshPaths``: the app's ``manifest-generate-paths`` annotation, ``;``
    separated, each relative to every source's path (``/x``: from the repository root)."""
    annotations = _get(application, "metadata", "annotations")
    value = annotations.get(MANIFEST_GENERATE_PATHS) if isinstance(annotations, Mapping) else None
    if not isinstance(value, str):
        return []
    spec = application.get("spec") if isinstance(application, Mapping) else None
    listed = _get(spec, "sources") or ([_get(spec, "source")] if _get(spec, "source") else [])
    source_paths = [str(_get(s, "path") or "") for s in (listed if isinstance(listed, list) else [])]
    paths: list[str] = []
    for item in (i.strip() for i in value.split(";")):
        if item.startswith("/"):
            paths.append(item[1:])
        elif item:
            paths.extend(posixpath.normpath(posixpath.join(p, item)) for p in source_paths)
    return paths


def _path_glob(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match``: ``*`` and ``?`` never cross a ``/``."""
    parts = ("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z")


def files_have_changed(paths: Iterable[str], changed_files: Iterable[str]) -> bool:
    """Argo CD's ``AppFilesHaveChanged``: true when the push lists no files, the app names no
    paths, or a changed file is one of the paths, under one, or matches one as a glob."""
    changed = ["/" + f.strip("/") for f in changed_files]
    wanted = ["/" + p.strip("/") if p not in (".", "") else "/" for p in paths]
    if not changed or not wanted:
        return True
    return any(
        f == p or f.startswith(p.rstrip("/") + "/") or bool(_path_glob(p).match(f)) for f in changed for p in wanted
    )


def application_refresh(application: Mapping[str, Any], push: Push) -> list[str]:
    """The repoURLs of the sources of this Application (Argo CD JSON) that ``push`` moved, when it
    refreshes the app — the changed files touch its ``manifest-generate-paths`` if set; else []."""
    moved = moved_sources(sources_of(application), push)
    return moved if moved and files_have_changed(refresh_paths(application), push.changed_files) else []


def application_wants_refresh(application: Mapping[str, Any], push: Push) -> bool:
    return bool(application_refresh(application, push))


def sources_of(application: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(repoURL, targetRevision)`` of each source of an Application (Argo CD JSON)."""
    spec = application.get("spec") if isinstance(application, Mapping) else None
    if not isinstance(spec, Mapping):
        return []
    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
    return [
        (str(s.get("repoURL") or ""), str(s.get("targetRevision") or ""))
        for s in (sources if isinstance(sources, list) else [])
        if isinstance(s, Mapping)
    ]


def visibility_query(push: Push, task_queue: str) -> str:
    """The running app workflows of ``task_queue`` whose sources use the pushed repository
    (a key with a quote or backslash, which no repository URL holds, is left out rather than escaped)."""
    keys = ", ".join(f"'{key}'" for key in sorted(push.repo_keys) if not set(key) & {"'", "\\"}) or "''"
    return f"{running_apps_query(task_queue)} AND {REPOS_ATTRIBUTE} IN ({keys})"
