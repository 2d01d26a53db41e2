"""The content store and the git cache are caches: bounded (LRU), and a miss is computed again.

Real files, real git repositories, the real render activity; two stores stand for two machines.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.cluster import ClusterActivities
from activities.content import ContentActivities
from activities.contracts import RenderInput, ShowManifestsInput, SourceAtCommit
from activities.gitrepo import GitCache
from activities.lru import parse_bytes, tree_size
from activities.source import SourceActivities
from activities.store import ContentStore, StoreMiss
from bosun.payload import fit
from worker.config import WorkerConfig

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value!r}\n"


def commit_apps(repo: Path, apps: int, generation: int) -> str:
    for i in range(apps):
        (repo / f"app{i}").mkdir(parents=True, exist_ok=True)
        (repo / f"app{i}" / "cm.yaml").write_text(configmap(f"app{i}", f"generation {generation} " + "x" * 300))
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"generation {generation}", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


def recipe(repo: Path, commit: str, app: int) -> RenderInput:
    return RenderInput(
        app=f"app{app}",
        sources=[SourceAtCommit(repo_url=repo.as_uri(), commit=commit, source={"path": f"app{app}"})],
        destination_namespace="apps",
    )


def machine(root: Path, *, store_bytes: int | None = None) -> tuple[ContentStore, SourceActivities]:
    store = ContentStore(root / "store", max_bytes=store_bytes, grace_seconds=0)
    return store, SourceActivities(git=GitCache(root / "git", allow_local=True), store=store, workdir=root / "work")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "origin"
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    return path


def test_the_store_stays_under_its_bound_while_50_apps_churn_through_commits(tmp_path: Path) -> None:
    """Renders, diffs and cache keys of 50 apps over 10 commits each, as the activities write them."""
    bound = 256 * 1024
    store = ContentStore(tmp_path / "store", max_bytes=bound, grace_seconds=0)
    pinned = store.put_json([{"kind": "ConfigMap", "metadata": {"name": "read-all-the-time"}}])
    latest: dict[int, str] = {}
    for commit in range(10):
        for app in range(50):
            objects = [
                {"kind": "ConfigMap", "metadata": {"name": f"app{app}-{i}"}, "data": {"v": f"{commit}" + "x" * 400}}
                for i in range(5)
            ]
            latest[app] = store.put_json(objects)
            store.remember(f"render app{app} at {commit}", latest[app])
            store.put_json({f"ConfigMap/app{app}-0": f"-v: {commit - 1}\n+v: {commit}\n"})  # the diff
            store.get(pinned)  # used all the time: never evicted
            if app % 10 == 9:
                assert store.size() <= bound, f"commit {commit}, app {app}"
    assert store.get_json(pinned)[0]["metadata"]["name"] == "read-all-the-time"
    assert store.recall("render app49 at 9") == latest[49]
    assert store.recall("render app0 at 0") is None, "the oldest renders went first"


def test_the_render_activity_keeps_the_store_bounded_and_renders_again_what_was_evicted(
    tmp_path: Path, repo: Path
) -> None:
    bound = 16 * 1024
    store, source = machine(tmp_path / "a", store_bytes=bound)
    first = commit_apps(repo, 10, 0)
    for generation in range(1, 3):
        commit = commit_apps(repo, 10, generation)
        for app in range(10):
            assert not source.render(recipe(repo, commit, app)).cached
            assert store.size() <= bound
    assert source.render(recipe(repo, commit, 9)).cached
    again = source.render(recipe(repo, first, 0))
    assert not again.cached and store.get_json(again.manifests_digest)[0]["metadata"]["name"] == "app0"


def test_entries_used_within_the_grace_period_are_not_evicted(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store", max_bytes=1000, grace_seconds=3600)
    digests = [store.put(os.urandom(400)) for _ in range(5)]
    assert store.size() == 2000, "all of them are in use: none evicted, even over the bound"
    assert all(store.get(d) for d in digests)


def test_a_worker_that_misses_a_digest_renders_it_again_from_its_recipe(tmp_path: Path, repo: Path) -> None:
    commit = commit_apps(repo, 2, 0)
    store_a, source_a = machine(tmp_path / "a")
    store_b, source_b = machine(tmp_path / "b")
    held = recipe(repo, commit, 1)
    digest = source_a.render(held).manifests_digest  # compared on machine A
    with pytest.raises(StoreMiss):
        store_b.get(digest)
    cluster_b = ClusterActivities(clusters=None, store=store_b, rerender=source_b.render_again)  # type: ignore[arg-type]
    assert cluster_b.manifests(digest, held) == store_a.get_json(digest)  # applied on machine B
    assert store_b.get_json(digest) == store_a.get_json(digest)

    with pytest.raises(ApplicationError, match="is not in the store") as missing:
        ClusterActivities(clusters=None, store=ContentStore(tmp_path / "c" / "store")).manifests(digest, None)  # type: ignore[arg-type]
    assert missing.value.type == "StoreMiss" and missing.value.non_retryable

    other = recipe(repo, commit_apps(repo, 2, 1), 1)  # a recipe that renders something else
    cluster_c = ClusterActivities(
        clusters=None, store=ContentStore(tmp_path / "d" / "store"), rerender=source_b.render_again
    )  # type: ignore[arg-type]
    with pytest.raises(ApplicationError, match="computing it again gave sha256:.*not reproducible"):
        cluster_c.manifests(digest, other)


def test_shown_manifests_fit_a_payload_with_a_note(tmp_path: Path, repo: Path) -> None:
    commit_apps(repo, 1, 0)
    _, source = machine(tmp_path / "a")
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n---\n"
        + "---\n".join(configmap(f"cm{i}", "v" * 1000) for i in range(20))
    )
    (repo / "app0" / "cm.yaml").write_text(secret)
    git("commit", "-qam", "big", cwd=repo)
    held = recipe(repo, git("rev-parse", "HEAD", cwd=repo), 0)
    digest = source.render(held).manifests_digest
    other, source_b = machine(tmp_path / "b")  # another machine: renders it again
    content = ContentActivities(
        store=other,
        cluster=ClusterActivities(clusters=None, store=other, rerender=source_b.render_again),  # type: ignore[arg-type]
    )
    shown = content.show_manifests(ShowManifestsInput(digest=digest, render=held, limit_bytes=5000))
    assert shown.total == 21 and 0 < len(shown.objects) < 21
    left_out = 21 - len(shown.objects)
    assert (
        shown.note == f"{left_out} of 21 objects left out: the rest is over 5 kB, more than a Temporal payload carries"
    )
    secret_shown = next(o for o in shown.objects if o["kind"] == "Secret")
    assert "hunter2" not in str(secret_shown)
    everything = content.show_manifests(ShowManifestsInput(digest=digest, render=held))
    assert (len(everything.objects), everything.note) == (21, "")


def test_fit() -> None:
    assert fit([], 10, what="x") == (0, "")
    assert fit(["aaaa"] * 3, 100, what="x") == (3, "")
    assert fit(["aaaa"] * 3, 15, what="diffs") == (
        2,
        "1 of 3 diffs left out: the rest is over 0 kB, more than a Temporal payload carries",
    )


def make_repo(path: Path, size: int) -> str:
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=path)
    (path / "blob.bin").write_bytes(os.urandom(size))  # incompressible: the mirror is as big
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "x", cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


def test_the_git_cache_evicts_least_recently_used_mirrors_but_never_one_in_use(tmp_path: Path) -> None:
    repos = [tmp_path / f"repo{i}" for i in range(5)]
    commits = [make_repo(r, 60_000) for r in repos]
    cache = GitCache(tmp_path / "cache", max_bytes=200_000, grace_seconds=0, allow_local=True)
    one = GitCache(tmp_path / "cache", grace_seconds=0, allow_local=True)  # another process on the same directory
    sizes = []
    for i, (r, c) in enumerate(zip(repos, commits, strict=True)):
        cache.export(r.as_uri(), c, tmp_path / "out" / str(i))
        sizes.append(cache.size())
        assert cache.size() <= 200_000
    assert len(list((tmp_path / "cache").glob("*/HEAD"))) < 5, sizes

    # a mirror in use (its lock held, as while another process fetches it) is never evicted
    held_repo, held_commit = repos[0], commits[0]
    one.export(held_repo.as_uri(), held_commit, tmp_path / "held")
    mirror = one.mirror_path(held_repo.as_uri())
    assert (mirror / "HEAD").exists()
    with open(mirror.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        for i, (r, c) in enumerate(zip(repos[1:], commits[1:], strict=True)):
            one.export(r.as_uri(), c, tmp_path / "again" / str(i))  # unbounded: the cache grows
        os.utime(mirror, (0, 0))  # the least recently used of all
        assert cache.size() > 200_000
        cache.collect()
        assert (mirror / "HEAD").exists() and cache.size() <= 200_000 + 70_000
    os.utime(mirror, (0, 0))
    for i, (r, c) in enumerate(zip(repos[1:], commits[1:], strict=True)):
        one.export(r.as_uri(), c, tmp_path / "third" / str(i))
    cache.collect()
    assert not (mirror / "HEAD").exists(), "released and least recently used: evicted"


def test_size_settings() -> None:
    assert parse_bytes("512Mi", setting="X") == 512 * 1024**2
    assert parse_bytes("2G", setting="X") == 2 * 1000**3
    assert parse_bytes("1000", setting="X") == 1000
    with pytest.raises(ValueError, match="BOSUN_STORE_MAX_BYTES='lots': not a size"):
        WorkerConfig.from_env({"BOSUN_STORE_MAX_BYTES": "lots"})
    config = WorkerConfig.from_env({"BOSUN_STORE_MAX_BYTES": "64Mi", "BOSUN_GIT_CACHE_MAX_BYTES": "1Gi"})
    assert (config.store_max_bytes, config.git_cache_max_bytes) == (64 * 1024**2, 1024**3)
    assert WorkerConfig.from_env({}).store_max_bytes == 1024**3


def test_the_git_cache_measures_a_mirror_when_it_is_fetched_not_at_every_collection(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = make_repo(repo, 30_000)
    cache = GitCache(tmp_path / "cache", max_bytes=10_000_000, grace_seconds=0, allow_local=True)
    cache.export(repo.as_uri(), commit, tmp_path / "out")
    mirror = cache.mirror_path(repo.as_uri())
    recorded = mirror.with_suffix(".size")
    assert int(recorded.read_text()) == tree_size(mirror) > 30_000

    # collections read the recorded size: a mirror recorded as over the bound is evicted
    recorded.write_text("20000000")
    os.utime(mirror, (0, 0))
    assert [e.path for e in cache.collect()] == [mirror]
    assert not mirror.exists() and not recorded.exists(), "the record goes with its mirror"

    cache.export(repo.as_uri(), commit, tmp_path / "again")  # fetched again: measured again
    assert int(recorded.read_text()) == tree_size(mirror)


def test_two_processes_opening_a_new_mirror_at_once_initialise_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes share the git cache: two ``git init`` of one new mirror at once failed
    the render ("cannot copy .../description: File exists"), seen in the fleet benchmark."""
    inits: list[str] = []
    real_git = GitCache._git

    def slow_init(self: GitCache, args: list[str], *, cwd: Path, what: str) -> str:
        if what == "init cache":
            inits.append(args[-1])
            time.sleep(0.3)  # a slow disk: the other process looks meanwhile
        return real_git(self, args, cwd=cwd, what=what)

    monkeypatch.setattr(GitCache, "_git", slow_init)
    caches = [GitCache(tmp_path / "cache", allow_local=True) for _ in range(2)]
    url = "file:///nowhere/repo.git"
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def open_mirror(cache: GitCache) -> None:
        start.wait()
        try:
            with cache._using(url) as mirror:
                assert (mirror / "HEAD").exists()
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=open_mirror, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(inits) == 1
