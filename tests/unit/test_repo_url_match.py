"""Issue #16, findings 1 and 2: repository credentials go only to the host they were stored for,
git is never handed a URL or ref it could read as an option, and what a worker and its render
tools fetch is bounded (GIT_ALLOW_PROTOCOL, local repositories, unguessable mirror names)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from temporalio.exceptions import ApplicationError

from activities import gitrepo
from activities.contracts import Destination, RenderInput
from activities.credentials import REPO_CREDS, REPOSITORY, RepoCredentials, git_auth, match
from activities.gitrepo import GitCache, GitError
from activities.renderers.helm_auth import check_helm_url
from activities.renderers.kustomize import check_references
from activities.renderers.paths import RenderError
from activities.renderers.tools import BuildEnv, FetchPolicy, ToolRun
from activities.source import SourceActivities
from activities.store import ContentStore
from bosun.models import AppProject, parse_project
from bosun.repo_urls import RepoURLError, check_repo_url, parse_repo_url
from cli.repo import repo


def template(url: str, secret: str = "t") -> RepoCredentials:
    return RepoCredentials(url=url, kind=REPO_CREDS, secret=secret, username="u", password="token")


def repository(url: str, secret: str = "r") -> RepoCredentials:
    return RepoCredentials(url=url, kind=REPOSITORY, secret=secret, username="u", password="token")


@pytest.mark.parametrize(
    ("stored", "url", "served"),
    [
        # The bug: a string prefix of the URL is not its host.
        (template("https://github.com"), "https://github.com@evil.example/x.git", False),
        (template("https://github.com/"), "https://github.com@evil.example/x.git", False),
        (template("https://github.com"), "https://github.com.evil.example/org/x.git", False),
        (template("https://github.com"), "https://github.com:443@evil.example/x.git", False),
        (template("https://github.com"), "https://github.com/org/x.git", True),
        # Ports: the scheme's default port is the same origin, any other is not.
        (template("https://git.example.com:8443/team"), "https://git.example.com/team/app", False),
        (template("https://git.example.com/team"), "https://git.example.com:8443/team/app", False),
        (template("https://git.example.com:443/team"), "https://git.example.com/team/app", True),
        (template("https://git.example.com:8443/team"), "https://git.example.com:8443/team/app", True),
        (template("ssh://git@git.example.com:2222/team"), "ssh://git@git.example.com/team/app", False),
        # Path segment by segment, not character by character.
        (template("https://github.com/org"), "https://github.com/organisation/app", False),
        (template("https://github.com/org"), "https://github.com/org/app", True),
        (template("https://github.com/org/"), "https://github.com/org/app", True),
        (template("https://github.com/org/repo"), "https://github.com/org/repo-two", False),
        (repository("https://github.com/org/repo"), "https://github.com/org/repo-two", False),
        # Schemes: https credentials are not sent over http, nor over ssh.
        (template("https://github.com/org"), "http://github.com/org/app", False),
        (template("https://github.com/org"), "ssh://git@github.com/org/app", False),
        # SSH: scp-style and ssh:// are one form; the user counts, the default port does not.
        (template("git@github.com:org"), "ssh://git@github.com/org/repo.git", True),
        (template("git@github.com:org"), "ssh://git@github.com:22/org/repo", True),
        (template("git@github.com:org"), "git@github.com:org/repo.git", True),
        (template("ssh://git@github.com/org"), "git@github.com:org/repo", True),
        (template("git@github.com:org"), "git@github.com:organisation/repo", False),
        (template("git@github.com:org"), "deploy@github.com:org/repo", False),
        (template("git@github.com:org"), "git@evil.example:org/repo", False),
        (template("git@github.com:org"), "ssh://git@github.com:2222/org/repo", False),
        (repository("git@github.com:org/repo.git"), "ssh://git@github.com/org/repo", True),
        # A trailing .git or / and case do not count (Argo CD's normalisation).
        (repository("https://github.com/org/repo.git"), "https://github.com/org/repo/", True),
        (repository("https://github.com/org/repo"), "https://GitHub.com/Org/Repo.git", True),
        (repository("https://github.com/org/repo/"), "https://github.com/org/repo.git", True),
        (repository("https://github.com/org/repo.git"), "https://github.com/org/repo.git/extra", False),
        # URLs Bosun refuses get nothing, whatever is stored.
        (template("https://github.com"), "https://user:pw@github.com/org/x.git", False),
        (template("https://github.com"), "https://user@github.com/org/x.git", False),
        (template("/srv"), "/srv/git/repo", False),
        (template("file:///srv"), "file:///srv/git/repo", False),
        # A Secret whose own URL is refused serves nothing.
        (template("https://github.com@evil.example"), "https://evil.example/x.git", False),
    ],
)
def test_credentials_match_on_parsed_urls(stored: RepoCredentials, url: str, served: bool) -> None:
    found = match([stored], url)
    assert (found is not None) == served, f"{stored.url} for {url}"


def test_the_deepest_template_wins_and_a_repository_inherits_from_it() -> None:
    entries = [
        template("https://git.example.com", "host"),
        template("https://git.example.com/team", "team"),
        template("https://git.example.com/team-b", "team-b"),
        RepoCredentials(url="https://git.example.com/team/app.git", kind=REPOSITORY, secret="app"),
    ]
    assert [
        getattr(match(entries, u), "secret", None)
        for u in (
            "https://git.example.com/team/other",
            "https://git.example.com/team-b/x",
            "https://git.example.com/teams/x",
            "https://git.example.com/team/app",
        )
    ] == ["team", "team-b", "host", "app"]
    app = match(entries, "https://git.example.com/team/app")
    assert app is not None and app.password == "token"  # inherited from "team", not "team-b"


def test_helm_oci_registries_match_with_or_without_their_scheme() -> None:
    stored = RepoCredentials(url="registry.example.com/charts", kind=REPO_CREDS, repo_type="helm", password="p")
    assert match([stored], "oci://registry.example.com/charts/web", repo_type="helm") is not None
    assert match([stored], "registry.example.com/charts/web", repo_type="helm") is not None
    assert match([stored], "registry.example.com@evil.example/charts", repo_type="helm") is None
    assert match([stored], "registry.example.com:5000/charts/web", repo_type="helm") is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://github.com@evil.example/x.git", "userinfo"),
        ("https://deploy:s3cret@github.com/org/x.git", "userinfo"),
        ("ssh://git:s3cret@github.com/org/x.git", "userinfo"),
        ("--upload-pack=touch /tmp/pwned", "starts with '-'"),
        ("-uexample", "starts with '-'"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "transport helper"),
        ("fd::3", "transport helper"),
        ("https://github.com/org/x\n.git", "control characters"),
        ("gopher://example.com/x", "not supported"),
        ("a@b@evil.example:org/x", "user before its host"),
        ("", "empty"),
    ],
)
def test_urls_git_must_not_see_are_refused_naming_the_url(url: str, reason: str) -> None:
    with pytest.raises(RepoURLError) as info:
        parse_repo_url(url)
    assert reason in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/repo.git",
        "http://127.0.0.1:8080/repo.git",
        "git://git.example.com/repo",
        "ssh://git@github.com:2222/org/repo",
        "git@github.com:org/repo.git",
        "org-12345@vs-ssh.visualstudio.com:v3/org/project/repo",
        "https://[::1]:8443/repo",
    ],
)
def test_ordinary_remote_urls_are_accepted(url: str) -> None:
    assert check_repo_url(url, allow_local=False).scheme in ("https", "http", "git", "ssh")


@pytest.mark.parametrize("url", ["file:///srv/git/repo", "/srv/git/repo", "./repo", "repo"])
def test_local_repositories_only_where_the_operator_enabled_them(url: str) -> None:
    with pytest.raises(RepoURLError, match="local repositories are disabled on this worker"):
        check_repo_url(url, allow_local=False)
    assert check_repo_url(url, allow_local=True).scheme == "file"


# -- git: refused URLs, "--" before URLs and refs, protocols, mirror names


def make_repo(path: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    path.mkdir(parents=True, exist_ok=True)
    (path / "cm.yaml").write_text("kind: ConfigMap\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_url_starting_with_a_dash_never_reaches_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    cache = GitCache(tmp_path / "cache", allow_local=True)
    for url in (f"--upload-pack=touch {marker}", "-oProxyCommand=x"):
        with pytest.raises(GitError) as info:
            cache.resolve(url, "main")
        assert not info.value.retryable and repr(url) in str(info.value) and "starts with '-'" in str(info.value)
        with pytest.raises(GitError):
            cache.export(url, "0" * 40, tmp_path / "out")
    assert not marker.exists()


def test_export_refuses_a_commit_that_is_not_a_sha(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    with pytest.raises(GitError, match="not a commit SHA") as info:
        GitCache(tmp_path / "cache", allow_local=True).export(repo.as_uri(), "--output=/tmp/x", tmp_path / "out")
    assert not info.value.retryable


def test_every_url_and_ref_given_to_git_follows_an_end_of_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    commit = make_repo(repo)
    url = repo.as_uri()
    calls: list[list[str]] = []
    real_run = subprocess.run

    def recording(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(gitrepo.subprocess, "run", recording)
    cache = GitCache(tmp_path / "cache", allow_local=True)
    assert cache.resolve(url, "main") == commit
    assert cache.resolve(url, commit[:10]) == commit
    cache.export(url, commit, tmp_path / "out")
    checked = 0
    for argv in calls:
        for value in (url, commit, f"{commit}^{{commit}}", f"{commit[:10]}^{{commit}}"):
            if value in argv:
                position = argv.index(value)
                assert {"--", "--end-of-options"} & set(argv[:position]), argv
                checked += 1
    assert checked >= 4  # ls-remote, fetch, cat-file, archive, rev-parse were all seen


def test_local_repositories_are_refused_unless_enabled(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    for url in (repo.as_uri(), str(repo)):
        with pytest.raises(GitError, match="local repositories are disabled") as info:
            GitCache(tmp_path / "cache").resolve(url, "main")
        assert not info.value.retryable


def test_git_runs_with_an_allow_list_of_protocols(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envs: list[dict[str, str]] = []
    real_run = subprocess.run

    def recording(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        if argv[0] == "git":
            envs.append(dict(kwargs["env"]))
        return real_run(argv, *args, **kwargs)

    repo = tmp_path / "repo"
    make_repo(repo)
    monkeypatch.setattr(gitrepo.subprocess, "run", recording)
    GitCache(tmp_path / "local", allow_local=True).resolve(repo.as_uri(), "main")
    assert envs and {e.get("GIT_ALLOW_PROTOCOL") for e in envs} == {"http:https:ssh:git:file"}
    envs.clear()
    with pytest.raises(GitError):
        GitCache(tmp_path / "remote").resolve("https://127.0.0.1:1/repo.git", "main")
    assert envs and {e.get("GIT_ALLOW_PROTOCOL") for e in envs} == {"http:https:ssh:git"}


def test_mirror_names_are_keyed_by_a_private_salt(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = make_repo(repo)
    url = repo.as_uri()
    one = GitCache(tmp_path / "one", allow_local=True)
    one.export(url, commit, tmp_path / "out")
    mirror = one.mirror_path(url)
    assert (mirror / "HEAD").exists()
    assert mirror.name != hashlib.sha256(url.encode()).hexdigest()[:24]  # the name main used to give it
    assert url.encode() not in mirror.name.encode()
    salt = tmp_path / "one" / gitrepo.SALT_FILE
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600 and len(salt.read_bytes()) == 32
    assert GitCache(tmp_path / "one").mirror_path(url) == mirror  # another process sharing the cache agrees
    assert GitCache(tmp_path / "two").mirror_path(url).name != mirror.name  # another installation does not


# -- askpass: a password only for the origin it was looked up for


@pytest.mark.parametrize(
    ("prompt", "answered"),
    [
        ("Username for 'https://git.example.com': ", True),
        ("Password for 'https://deploy@git.example.com': ", True),
        ("Password for 'https://deploy@GIT.example.com': ", True),
        ("Username for 'https://evil.example': ", False),
        ("Password for 'https://deploy@evil.example': ", False),
        ("Password for 'http://deploy@git.example.com': ", False),
        ("Password for 'https://deploy@git.example.com:8443': ", False),
        ("Password for 'https://git.example.com@evil.example': ", False),
    ],
)
def test_askpass_answers_only_the_origin_of_the_repository(tmp_path: Path, prompt: str, answered: bool) -> None:
    creds = RepoCredentials(url="https://git.example.com/", kind=REPO_CREDS, username="deploy", password="s3cret")
    with git_auth(creds, url="https://git.example.com/team/app.git", tmp_dir=tmp_path) as auth:
        env = {**os.environ, **auth.env}
        proc = subprocess.run([auth.env["GIT_ASKPASS"], prompt], env=env, capture_output=True, text=True)
    assert (proc.returncode == 0 and proc.stdout.strip() in ("deploy", "s3cret")) == answered
    if not answered:
        assert "s3cret" not in proc.stdout


# -- render tools: protocols, kustomize references, helm URLs


def tool_run(tmp_path: Path, fetch: FetchPolicy | None = None) -> ToolRun:
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    return ToolRun(home, BuildEnv(), {tmp_path / "checkout": "."}, fetch=fetch)


def test_render_tools_get_file_only_with_local_repositories(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    assert tool_run(tmp_path).environ()["GIT_ALLOW_PROTOCOL"] == "http:https:ssh:git"
    with pytest.raises(RenderError, match="transport 'file' not allowed"):
        tool_run(tmp_path).run(["git", "ls-remote", "--", repo.as_uri()], what="clone", cwd=tmp_path)
    local = tool_run(tmp_path, FetchPolicy(allow_local=True))
    assert "refs/heads/main" in local.run(["git", "ls-remote", "--", repo.as_uri()], what="clone", cwd=tmp_path)
    with pytest.raises(RenderError, match="transport 'ext' not allowed"):
        local.run(["git", "ls-remote", "--", "ext::sh -c true"], what="clone", cwd=tmp_path)


def kustomization(tmp_path: Path, resources: list[str]) -> tuple[Path, Path]:
    checkout = tmp_path / "checkout"
    (checkout / "base").mkdir(parents=True)
    (checkout / "base" / "kustomization.yaml").write_text("resources: []\n")
    (checkout / "app").mkdir()
    (checkout / "app" / "kustomization.yaml").write_text(f"resources: {resources!r}\n".replace("'", '"'))
    return checkout, checkout / "app"


@pytest.mark.parametrize(
    ("entry", "fetch", "refusal"),
    [
        ("../base", FetchPolicy(), None),
        ("https://github.com/org/repo//deploy?ref=v1", FetchPolicy(), None),
        ("github.com/org/repo/deploy?ref=v1", FetchPolicy(), None),
        ("git@github.com:org/repo.git//deploy", FetchPolicy(), None),
        ("../../outside", FetchPolicy(), "resolves outside the repository"),
        ("/etc", FetchPolicy(), "resolves outside the repository"),
        ("https://token@github.com/org/repo//deploy", FetchPolicy(), "userinfo"),
        ("file:///srv/git/other//app?ref=main", FetchPolicy(), "local repositories are disabled"),
        ("file:///srv/git/other//app?ref=main", FetchPolicy(allow_local=True), None),
        ("file://{mirrors}/0123abcd//app?ref=main", FetchPolicy(allow_local=True, private=()), "git mirrors"),
        ("file://{mirrors}/../git/0123abcd//app?ref=main", FetchPolicy(allow_local=True, private=()), "git mirrors"),
    ],
)
def test_kustomize_references_are_checked_before_the_build(
    tmp_path: Path, entry: str, fetch: FetchPolicy, refusal: str | None
) -> None:
    mirrors = tmp_path / "cache" / "git"
    mirrors.mkdir(parents=True)
    if "{mirrors}" in entry:
        fetch = FetchPolicy(allow_local=True, private=(mirrors,))
    entry = entry.replace("{mirrors}", str(mirrors))
    checkout, root = kustomization(tmp_path, [entry])
    run = tool_run(tmp_path, fetch)
    if refusal is None:
        check_references(checkout, root, run)
        return
    with pytest.raises(RenderError) as info:
        check_references(checkout, root, run)
    assert refusal in str(info.value) and "app/kustomization.yaml" in str(info.value)


def test_kustomize_references_of_local_bases_are_followed(tmp_path: Path) -> None:
    checkout, root = kustomization(tmp_path, ["../base"])
    (checkout / "base" / "kustomization.yaml").write_text("resources: [../../elsewhere]\n")
    with pytest.raises(
        RenderError, match="base/kustomization.yaml: resources entry '../../elsewhere' resolves outside"
    ):
        check_references(checkout, root, tool_run(tmp_path))


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://charts.example.com/stable", False),
        ("oci://registry.example.com/charts", False),
        ("registry.example.com/charts", False),
        ("https://charts.example.com@evil.example/stable", True),
        ("https://user:s3cret@charts.example.com/stable", True),
        ("--repo=https://evil.example", True),
        ("ssh://git@charts.example.com/x", True),
    ],
)
def test_helm_repository_urls_are_checked_like_git_ones(url: str, refused: bool) -> None:
    if not refused:
        check_helm_url(url)
        return
    with pytest.raises(RenderError) as info:
        check_helm_url(url)
    assert "Helm repository URL" in str(info.value) and "s3cret" not in str(info.value)


# -- what the render's tools fetch on their own must be in the project's sourceRepos


def team_project(*source_repos: str) -> AppProject:
    return parse_project(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "team", "namespace": "bosun"},
            "spec": {
                "sourceRepos": list(source_repos),
                "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "*"}],
            },
        },
        source_name="test",
    )


def render_with_project(tmp_path: Path, files: dict[str, str], project: AppProject | None) -> str:
    """Render a local repository of ``files`` (path ``app``) for an app of ``project``; the error."""
    repo = tmp_path / "repo"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    commit = make_repo(repo)
    activities = SourceActivities(
        git=GitCache(tmp_path / "git", allow_local=True), store=ContentStore(tmp_path / "store"), workdir=tmp_path / "w"
    )
    request = RenderInput(
        app="web",
        repo_url=repo.as_uri(),
        commit=commit,
        source={"repoURL": repo.as_uri(), "path": "app"},
        destination=Destination(server="https://kubernetes.default.svc", namespace="web"),
        destination_namespace="web",
        source_repos=list(project.spec.source_repos) if project is not None else None,
    )
    with pytest.raises(ApplicationError) as info:
        activities.render(request)
    assert info.value.type == "RenderError" and info.value.non_retryable
    return str(info.value)


def test_a_kustomize_remote_base_outside_the_projects_source_repos_is_refused_before_it_is_fetched(
    tmp_path: Path,
) -> None:
    files = {"app/kustomization.yaml": "resources:\n- https://github.com/other-team/secrets//prod?ref=main\n"}
    message = render_with_project(tmp_path, files, team_project("https://github.com/team/*"))
    assert "app/kustomization.yaml: resources entry 'https://github.com/other-team/secrets//prod?ref=main'" in message
    assert "does not permit source repository 'https://github.com/other-team/secrets'" in message
    assert "refused before it was fetched" in message


def test_a_helm_dependency_outside_the_projects_source_repos_is_refused_before_it_is_fetched(tmp_path: Path) -> None:
    chart = (
        "apiVersion: v2\nname: web\nversion: 0.1.0\n"
        "dependencies:\n- {name: vault, version: 1.0.0, repository: 'https://charts.other.example/stable'}\n"
    )
    message = render_with_project(tmp_path, {"app/Chart.yaml": chart}, team_project("https://github.com/team/*"))
    assert "chart 'web': dependency 'vault'" in message
    assert "does not permit source repository 'https://charts.other.example/stable'" in message


def test_a_permitted_remote_base_passes_the_check(tmp_path: Path) -> None:
    checkout, root = kustomization(tmp_path, ["https://github.com/team/base//prod?ref=v1", "github.com/team/lib/x"])
    project = team_project("https://github.com/team/*")
    asked: list[str] = []

    def check(url: str) -> str:
        asked.append(url)
        return "" if url.startswith("https://github.com/team/") else f"{url} not permitted"

    check_references(checkout, root, tool_run(tmp_path, FetchPolicy(source_check=check)))
    assert asked == ["https://github.com/team/base", "https://github.com/team/lib"]
    assert project.spec.source_repos == ["https://github.com/team/*"]


def test_mirrors_from_before_the_salt_are_removed_when_it_is_made(tmp_path: Path) -> None:
    """An upgraded worker: the mirrors at the old, computable paths go."""
    repo = tmp_path / "repo"
    make_repo(repo)
    cache = tmp_path / "cache"
    old = cache / hashlib.sha256(repo.as_uri().encode()).hexdigest()[:24]
    subprocess.run(["git", "init", "-q", "--bare", str(old)], check=True)
    old.with_suffix(".lock").touch()
    GitCache(cache, allow_local=True)
    assert not old.exists()
    kept = GitCache(cache, allow_local=True).mirror_path(repo.as_uri())
    kept.mkdir()
    kept.with_suffix(".lock").touch()
    GitCache(cache, allow_local=True)  # the salt exists now: nothing else is removed
    assert kept.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["https://github.com@evil.example/x.git", "--username", "u", "--password", "p"],
        ["https://u:p@github.com/org/x.git"],
        ["--", "-oProxyCommand=x"],
        ["https://charts.example.com@evil.example/stable", "--type", "helm", "--username", "u", "--password", "p"],
    ],
)
def test_repo_add_refuses_a_url_the_worker_would_refuse(args: list[str]) -> None:
    result = CliRunner().invoke(repo, ["add", "--kubeconfig", "/nonexistent", *args])
    assert result.exit_code != 0 and "refused" in result.output


def test_generators_and_transformers_are_references_too(tmp_path: Path) -> None:
    checkout, root = kustomization(tmp_path, [])
    (root / "kustomization.yaml").write_text("transformers:\n- file:///srv/git/x//t?ref=main\n")
    with pytest.raises(RenderError, match="transformers entry .* local repositories are disabled"):
        check_references(checkout, root, tool_run(tmp_path))


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("resources: [file:///srv/git/x//t?ref=main]\n", "not valid YAML"),  # kustomize may read it
        ("resources: [../base]\nresources: [../../elsewhere]\n", "'resources' appears twice"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_a_kustomization_bosun_cannot_check_is_refused(tmp_path: Path, text: str, refusal: str) -> None:
    checkout, root = kustomization(tmp_path, [])
    (root / "kustomization.yaml").write_text(text)
    with pytest.raises(RenderError, match=refusal):
        check_references(checkout, root, tool_run(tmp_path))
