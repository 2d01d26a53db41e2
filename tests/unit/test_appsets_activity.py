"""activities/appsets.py without a cluster: the git reader over the worker's mirrors (Argo CD's
directory and file listing), the set's conditions in Argo CD's shape, ownerReferences."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from activities.appsets import (
    MirrorGitReader,
    _allows_delete,
    error_conditions,
    for_update,
    merge_conditions,
    other_controller,
    owned_by,
    success_conditions,
    with_owner,
)
from activities.gitrepo import GitCache, GitError
from bosun.appset.spec import parse_applicationset


def git_repo(path: Path, files: dict[str, str]) -> str:
    path.mkdir()
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", *env, "commit", "-q", "-m", "initial"], cwd=path, check=True)
    return f"file://{path}"


@pytest.fixture
def reader(tmp_path: Path) -> MirrorGitReader:
    return MirrorGitReader(GitCache(tmp_path / "cache", allow_local=True))


def test_directories_are_every_directory_but_the_root_and_hidden_ones(tmp_path: Path, reader: MirrorGitReader) -> None:
    url = git_repo(
        tmp_path / "repo",
        {
            "apps/one/cm.yaml": "a: 1\n",
            "apps/two/nested/cm.yaml": "a: 2\n",
            "apps/.hidden/cm.yaml": "a: 3\n",
            ".github/workflows/ci.yaml": "on: push\n",
            "README.md": "hi\n",
        },
    )
    try:
        assert reader.directories(url, "HEAD") == ["apps", "apps/one", "apps/two", "apps/two/nested"]
    finally:
        reader.close()


def test_files_match_the_glob_across_directories_with_their_content(tmp_path: Path, reader: MirrorGitReader) -> None:
    url = git_repo(
        tmp_path / "repo",
        {"config/dev/config.json": '{"env": "dev"}', "config/qa/config.json": '{"env": "qa"}', "config/qa/x.txt": ""},
    )
    try:
        assert reader.files(url, "main", "config/**/config.json") == {
            "config/dev/config.json": b'{"env": "dev"}',
            "config/qa/config.json": b'{"env": "qa"}',
        }
        assert reader.files(url, "main", "config/*/config.json").keys() == {
            "config/dev/config.json",
            "config/qa/config.json",
        }
        assert reader.files(url, "main", "nothing/*.json") == {}
    finally:
        reader.close()


def test_an_unknown_revision_is_a_git_error_naming_it(tmp_path: Path, reader: MirrorGitReader) -> None:
    url = git_repo(tmp_path / "repo", {"a.txt": "a"})
    with pytest.raises(GitError, match="no-such-branch"):
        reader.directories(url, "no-such-branch")
    reader.close()


def test_a_local_repository_is_refused_unless_the_worker_allows_them(tmp_path: Path) -> None:
    url = git_repo(tmp_path / "repo", {"a.txt": "a"})
    strict = MirrorGitReader(GitCache(tmp_path / "cache"))
    with pytest.raises(GitError):
        strict.directories(url, "HEAD")
    strict.close()


def test_conditions_are_argo_cds_and_keep_their_transition_time_while_their_status_holds() -> None:
    first = merge_conditions([], success_conditions())
    assert [(c["type"], c["status"], c["reason"]) for c in first] == [
        ("ErrorOccurred", "False", "ApplicationSetUpToDate"),
        ("ParametersGenerated", "True", "ParametersGenerated"),
        ("ResourcesUpToDate", "True", "ApplicationSetUpToDate"),
    ]
    aged = [{**c, "lastTransitionTime": "2020-01-01T00:00:00Z"} for c in first]
    rolling = {"type": "RolloutProgressing", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}
    again = merge_conditions([*aged, rolling], success_conditions())
    assert {c["lastTransitionTime"] for c in again} == {"2020-01-01T00:00:00Z"}  # nothing moved
    assert rolling in again  # other types are kept

    failed = merge_conditions(
        aged, error_conditions("RenderTemplateParamsError", "spec.template: bad", parameters_generated=True)
    )
    by_type = {c["type"]: c for c in failed}
    assert by_type["ErrorOccurred"]["status"] == "True" and by_type["ErrorOccurred"]["message"] == "spec.template: bad"
    assert by_type["ErrorOccurred"]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert by_type["ParametersGenerated"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"  # still True
    assert (
        by_type["ResourcesUpToDate"]["status"] == "False" and by_type["ResourcesUpToDate"]["reason"] == "ErrorOccurred"
    )


def appset_manifest() -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "fleet", "namespace": "bosun", "uid": "uid-1"},
        "spec": {
            "generators": [{"list": {"elements": [{"env": "dev"}]}}],
            "template": {
                "metadata": {"name": "{{env}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://git.example.com/x.git", "path": "p"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "n"},
                },
            },
        },
    }


def test_a_generated_app_is_owned_by_its_set_once_and_written_without_managed_fields() -> None:
    appset = parse_applicationset(appset_manifest())
    app = {"metadata": {"name": "dev", "managedFields": [{"manager": "x"}]}, "spec": {}}
    owned = with_owner(with_owner(app, appset), appset)
    assert owned["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "name": "fleet",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert owned["metadata"]["namespace"] == "bosun" and owned["kind"] == "Application"
    assert owned_by(owned, "uid-1") and not owned_by(app, "uid-1")
    assert "managedFields" not in for_update(owned)["metadata"]
    assert other_controller(owned, "uid-1") == ""
    assert other_controller(owned, "uid-2") == "ApplicationSet fleet"


@pytest.mark.parametrize(
    ("policy", "valid", "deletes"),
    [
        (None, True, True),
        ("sync", True, True),
        ("create-delete", True, True),
        ("create-update", True, False),
        ("create-only", True, False),
        ("create-only", False, False),  # a spec Bosun refuses still keeps its apps as its policy says
        (None, False, True),
    ],
)
def test_whether_a_deleted_set_takes_its_apps_follows_its_policy(
    policy: str | None, valid: bool, deletes: bool
) -> None:
    manifest = appset_manifest()
    spec = dict(manifest["spec"])  # type: ignore[call-overload]
    if policy is not None:
        spec["syncPolicy"] = {"applicationsSync": policy}
    if not valid:
        spec["generators"] = [{"pullRequest": {}}]
    assert _allows_delete({**manifest, "spec": spec}) is deletes
