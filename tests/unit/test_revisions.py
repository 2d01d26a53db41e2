"""The shared revision cache (activities/revisions.py) over real git repositories."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.contracts import ResolveRevisionInput
from activities.gitrepo import GitCache, GitError
from activities.revisions import RevisionCache, invalidate, markers_dir, stale_marker
from activities.source import SourceActivities
from activities.store import ContentStore

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        self.commit()

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, env=GIT_ENV, check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit(self) -> str:
        self.git("commit", "-q", "--allow-empty", "-m", "change")
        return self.git("rev-parse", "HEAD")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 0.001  # every reading is later than the one before, as a real clock
        return self.now


@dataclasses.dataclass
class Counted:
    """GitCache.resolve, counting the ls-remote calls it makes."""

    git: GitCache
    calls: int = 0

    def resolver(self, url: str, revision: str):  # type: ignore[no-untyped-def]
        def fetch() -> str:
            self.calls += 1
            return self.git.resolve(url, revision)

        return fetch


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture
def counted(tmp_path: Path) -> Counted:
    return Counted(GitCache(tmp_path / "git", allow_local=True))


def test_apps_of_one_repository_share_one_ls_remote_per_interval(repo: Repo, counted: Counted) -> None:
    cache = RevisionCache(max_age_seconds=180, clock=Clock())
    head = repo.git("rev-parse", "HEAD")
    fetch = counted.resolver(repo.url, "main")
    # the first round: every app is new to this process, so each takes an ls-remote that started after it asked
    for app in ("a", "b", "c"):
        assert cache.resolve(repo.url, "main", caller=f"app:{app}", fetch=fetch) == head
    assert counted.calls == 3
    # the next rounds: c's ls-remote started after a's and b's last answers, so they share it; c asks again
    for _ in range(3):
        for app in ("a", "b", "c"):
            assert cache.resolve(repo.url, "main", caller=f"app:{app}", fetch=fetch) == head
    assert counted.calls == 6  # one per round, not three


def test_an_app_sees_a_commit_at_its_next_resolve_when_alone_on_its_repository(repo: Repo, counted: Counted) -> None:
    cache = RevisionCache(max_age_seconds=180, clock=Clock())
    first = cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main"))
    second_commit = repo.commit()
    assert first != second_commit
    assert cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main")) == second_commit


def test_an_app_is_never_served_what_was_resolved_before_its_last_answer(repo: Repo, counted: Counted) -> None:
    cache = RevisionCache(max_age_seconds=180, clock=Clock())
    cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main"))
    cache.resolve(repo.url, "main", caller="app:b", fetch=counted.resolver(repo.url, "main"))
    newer = repo.commit()
    # b resolved after a's last answer: a may be served that (one interval stale at worst)...
    # ...but b itself resolved before its own last answer, so it runs ls-remote and sees the commit
    assert cache.resolve(repo.url, "main", caller="app:b", fetch=counted.resolver(repo.url, "main")) == newer
    # and now a is served b's newer answer, without an ls-remote of its own
    calls = counted.calls
    assert cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main")) == newer
    assert counted.calls == calls


def test_a_new_app_always_starts_from_the_newest_commit(repo: Repo, counted: Counted) -> None:
    cache = RevisionCache(max_age_seconds=180, clock=Clock())
    cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main"))
    newer = repo.commit()
    assert cache.resolve(repo.url, "main", caller="app:new", fetch=counted.resolver(repo.url, "main")) == newer


def test_an_entry_older_than_the_max_age_is_resolved_again(repo: Repo, counted: Counted) -> None:
    clock = Clock()
    cache = RevisionCache(max_age_seconds=180, clock=clock)
    for app in ("a", "b"):
        cache.resolve(repo.url, "main", caller=f"app:{app}", fetch=counted.resolver(repo.url, "main"))
    newer = repo.commit()
    clock.now += 181
    assert cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main")) == newer
    assert counted.calls == 3


def test_a_webhook_marker_makes_earlier_entries_stale_in_every_process(
    repo: Repo, counted: Counted, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    cache = RevisionCache(max_age_seconds=180, markers=markers)  # the real clock: markers carry file mtimes
    for app in ("a", "b"):
        cache.resolve(repo.url, "main", caller=f"app:{app}", fetch=counted.resolver(repo.url, "main"))
    newer = repo.commit()
    invalidate(markers, repo.url)  # as the webhook handler, possibly in another worker process
    assert cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main")) == newer
    assert counted.calls == 3
    # with no marker newer than it, a's fresh answer is shared again
    assert cache.resolve(repo.url, "main", caller="app:b", fetch=counted.resolver(repo.url, "main")) == newer
    assert counted.calls == 3
    newest = repo.commit()
    invalidate(markers)  # every repository
    assert cache.resolve(repo.url, "main", caller="app:b", fetch=counted.resolver(repo.url, "main")) == newest


def test_failures_are_not_cached(repo: Repo, counted: Counted) -> None:
    cache = RevisionCache(max_age_seconds=180, clock=Clock())
    with pytest.raises(GitError, match="not found"):
        cache.resolve(repo.url, "nope", caller="app:a", fetch=counted.resolver(repo.url, "nope"))
    repo.git("branch", "nope")
    assert cache.resolve(repo.url, "nope", caller="app:b", fetch=counted.resolver(repo.url, "nope"))


def test_a_max_age_of_zero_or_no_caller_always_runs_ls_remote(repo: Repo, counted: Counted) -> None:
    off = RevisionCache(max_age_seconds=0, clock=Clock())
    on = RevisionCache(max_age_seconds=180, clock=Clock())
    for _ in range(2):
        off.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main"))
        on.resolve(repo.url, "main", caller=None, fetch=counted.resolver(repo.url, "main"))
    assert counted.calls == 4


def test_the_resolve_revision_activity_shares_resolutions_between_apps(repo: Repo, tmp_path: Path) -> None:
    git = GitCache(tmp_path / "git", allow_local=True)
    calls: list[str] = []
    real = git.resolve

    def resolve(url: str, revision: str) -> str:
        calls.append(revision)
        return real(url, revision)

    git.resolve = resolve  # type: ignore[method-assign]
    activities = SourceActivities(
        git=git,
        store=ContentStore(tmp_path / "store"),
        workdir=tmp_path / "work",
        revisions=RevisionCache(max_age_seconds=180),
    )
    env = ActivityEnvironment()
    head = repo.git("rev-parse", "HEAD")
    for app in ("a", "b", "a", "b", "a"):
        env.info = dataclasses.replace(env.info, workflow_id=f"app:{app}")
        result = env.run(activities.resolve_revision, ResolveRevisionInput(repo_url=repo.url, revision="main"))
        assert result.commit == head
    assert len(calls) == 3  # a, b (new to the process), then one per round


def test_the_webhook_hook_marks_the_pushed_repositories_stale(repo: Repo, counted: Counted, tmp_path: Path) -> None:
    home = tmp_path / "home"
    cache = RevisionCache(max_age_seconds=180, markers=markers_dir(home))
    for app in ("a", "b"):
        cache.resolve(repo.url, "main", caller=f"app:{app}", fetch=counted.resolver(repo.url, "main"))
    newer = repo.commit()
    stale_marker(home)([repo.url, repo.url])
    assert cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main")) == newer


def test_a_hard_refresh_asks_the_repository_and_shares_its_answer(repo: Repo, counted: Counted) -> None:
    cache = RevisionCache(max_age_seconds=180, clock=Clock())
    for app in ("a", "b"):
        cache.resolve(repo.url, "main", caller=f"app:{app}", fetch=counted.resolver(repo.url, "main"))
    newer = repo.commit()
    # a would be served b's answer (from before the commit); a hard refresh asks the repository
    assert (
        cache.resolve(repo.url, "main", caller="app:a", fetch=counted.resolver(repo.url, "main"), fresh=True) == newer
    )
    assert counted.calls == 3
    assert cache.resolve(repo.url, "main", caller="app:b", fetch=counted.resolver(repo.url, "main")) == newer
    assert counted.calls == 3
