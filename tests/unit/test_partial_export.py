"""A render exports only its app's directory when that directory renders from its own files:
a fleet of apps in one repository costs each render its directory, not the whole repository
(1,000 apps in one repository were each extracting all 1,000 directories: the cold start's
Python CPU in the fleet benchmark). Anything that may read around its path gets the whole tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from activities.contracts import RenderInput
from activities.gitrepo import GitCache
from activities.source import SourceActivities, partial_export_path
from activities.store import ContentStore

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"


def repo_with(tmp_path: Path, files: dict[str, str], links: dict[str, str] | None = None) -> tuple[Path, str]:
    repo = tmp_path / "origin"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for name, target in (links or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).symlink_to(target)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    return repo, commit.stdout.strip()


def render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo: Path, commit: str, source: dict[str, object]
) -> tuple[list[str], list[set[str]]]:
    """The rendered names, and the top-level entries of every export the render made."""
    exported: list[set[str]] = []
    real_export = GitCache.export

    def spy(self: GitCache, url: str, commit: str, destination: Path, *, only: str | None = None) -> None:
        real_export(self, url, commit, destination, only=only)
        exported.append({str(p.relative_to(destination)) for p in destination.rglob("*") if p.is_file()})

    monkeypatch.setattr(GitCache, "export", spy)
    store = ContentStore(tmp_path / "store")
    activities = SourceActivities(
        git=GitCache(tmp_path / "git", allow_local=True), store=store, workdir=tmp_path / "work"
    )
    result = activities.render(
        RenderInput(app="a", repo_url=repo.as_uri(), commit=commit, source={"repoURL": repo.as_uri(), **source})
    )
    return sorted(o["metadata"]["name"] for o in store.get_json(result.manifests_digest)), exported


def test_a_plain_directory_is_exported_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"apps/{n}/cm.yaml": CM.format(name=n) for n in ("one", "two", "three")}
    repo, commit = repo_with(
        tmp_path,
        {**files, "apps/one/sub/more.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "more"}}'},
    )
    names, exports = render(
        tmp_path, monkeypatch, repo, commit, {"path": "./apps/one/", "directory": {"recurse": True}}
    )
    assert names == ["more", "one"]
    assert exports == [{"apps/one/cm.yaml", "apps/one/sub/more.json"}]


@pytest.mark.parametrize(
    ("files", "links", "source", "expected"),
    [
        # A kustomization reads its base next door.
        (
            {
                "base/cm.yaml": CM.format(name="base"),
                "base/kustomization.yaml": "resources: [cm.yaml]\n",
                "overlay/kustomization.yaml": "resources: [../base]\nnamePrefix: o-\n",
            },
            {},
            {"path": "overlay"},
            ["o-base"],
        ),
        # Jsonnet imports a library elsewhere in the repository.
        (
            {
                "lib/name.libsonnet": '"from-lib"',
                "app/cm.jsonnet": 'local n = import "../lib/name.libsonnet"; '
                '{apiVersion: "v1", kind: "ConfigMap", metadata: {name: n}}',
            },
            {},
            {"path": "app"},
            ["from-lib"],
        ),
        # A link to a file elsewhere in the repository.
        (
            {"shared/cm.yaml": CM.format(name="shared")},
            {"app/cm.yaml": "../shared/cm.yaml"},
            {"path": "app"},
            ["shared"],
        ),
    ],
)
def test_what_reads_around_its_path_gets_the_whole_tree(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    links: dict[str, str],
    source: dict[str, object],
    expected: list[str],
) -> None:
    repo, commit = repo_with(tmp_path, files, links)
    names, exports = render(tmp_path, monkeypatch, repo, commit, source)
    assert names == expected
    assert exports[-1] == {p for p in files} | {p for p in links}


def test_a_missing_path_is_the_render_error_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, commit = repo_with(tmp_path, {"apps/one/cm.yaml": CM.format(name="one")})
    with pytest.raises(Exception, match="source path 'apps/two' does not exist"):
        render(tmp_path, monkeypatch, repo, commit, {"path": "apps/two"})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"path": "apps/one"}, "apps/one"),
        ({"path": "/apps//one/./"}, "apps/one"),
        ({"path": "apps/one", "directory": {"recurse": True}}, "apps/one"),
        ({"path": "."}, None),
        ({"path": ""}, None),
        ({}, None),
        ({"path": "../x"}, None),
        ({"path": "a/../../x"}, None),
        ({"path": "chart", "helm": {"releaseName": "r"}}, None),
        ({"path": "k", "kustomize": {"namePrefix": "p-"}}, None),
        ({"path": ":(glob)**"}, ":(glob)**"),  # exported with --literal-pathspecs: a path, not magic
    ],
)
def test_partial_export_path(source: dict[str, object], expected: str | None) -> None:
    assert partial_export_path(source) == expected


def test_a_pathspec_magic_path_is_taken_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, commit = repo_with(
        tmp_path, {"apps/one/cm.yaml": CM.format(name="one"), ":(glob)x/cm.yaml": CM.format(name="magic")}
    )
    names, exports = render(tmp_path, monkeypatch, repo, commit, {"path": ":(glob)x"})
    assert names == ["magic"]
    assert exports == [{":(glob)x/cm.yaml"}]
