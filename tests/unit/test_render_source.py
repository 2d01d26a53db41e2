"""Picking the renderer as Argo CD does, the confined tool runner, and the render cache key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from activities import source as source_activities
from activities.contracts import RenderInput
from activities.gitrepo import GitCache
from activities.renderers import RenderError, render_source, tool_versions
from activities.renderers.tools import BuildEnv, ToolRun, envsubst
from activities.source import SourceActivities
from activities.store import ContentStore

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-helm}\n",
}
KUSTOMIZATION = {
    "kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: k-\n",
    "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-kustomize}\n",
}
PLAIN = {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-directory}\n"}


@pytest.fixture(scope="module", autouse=True)
def helm_binary() -> None:
    from devstack import tools

    os.environ.setdefault("BOSUN_HELM", str(tools.helm()))


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(checkout: Path, **source: Any) -> list[str]:
    objects = render_source(checkout, {"repoURL": "https://git.example.com/a.git", **source}, app="a", namespace="a")
    return [o["metadata"]["name"] for o in objects]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (CHART, ["from-helm"]),
        (KUSTOMIZATION, ["k-from-kustomize"]),
        (
            {**KUSTOMIZATION, "kustomization.yaml": "", "kustomization.yml": KUSTOMIZATION["kustomization.yaml"]},
            ["k-from-kustomize"],
        ),
        (PLAIN, ["from-directory"]),
        # Both a chart and a kustomization: Argo CD's discovery picks Kustomize.
        ({**CHART, **KUSTOMIZATION}, ["k-from-kustomize"]),
    ],
)
def test_detection(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    if files.get("kustomization.yaml") == "":
        files = {k: v for k, v in files.items() if k != "kustomization.yaml"}
    write_tree(tmp_path / "app", files)
    assert names(tmp_path, path="app") == expected


def test_explicit_tool_wins_over_detection(tmp_path: Path) -> None:
    write_tree(tmp_path / "app", {**CHART, **KUSTOMIZATION})
    assert names(tmp_path, path="app", helm={"releaseName": "r"}) == ["from-helm"]
    assert names(tmp_path, path="app", directory={"recurse": True}) == ["from-kustomize", "from-helm"]


def test_plugin_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path / "app", PLAIN)
    with pytest.raises(RenderError, match="plugins .* are not supported"):
        names(tmp_path, path="app", plugin={"name": "cdk8s"})


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="source path 'nope' does not exist"):
        names(tmp_path, path="nope")


@pytest.mark.parametrize("path", ["../..", "..", "/etc", "app/../../.."])
def test_source_path_escape_is_refused(tmp_path: Path, path: str) -> None:
    write_tree(tmp_path / "repo" / "app", PLAIN)
    with pytest.raises(RenderError, match=f"source path '{path}' "):
        names(tmp_path / "repo", path=path)


def test_source_path_through_a_symlink_out_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path / "outside", PLAIN)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "app").symlink_to(tmp_path / "outside")
    with pytest.raises(RenderError, match="app is a link to '.*/outside', outside the repository"):
        names(tmp_path / "repo", path="app")


def test_a_symlink_anywhere_in_the_checkout_pointing_out_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo" / "app", PLAIN)
    (tmp_path / "repo" / "docs").mkdir()
    (tmp_path / "repo" / "docs" / "hosts").symlink_to("/etc/hosts")
    with pytest.raises(RenderError, match="docs/hosts is a link to '/etc/hosts', outside the repo"):
        names(tmp_path / "repo", path="app")


def test_symlinks_inside_the_checkout_are_fine(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo" / "shared", PLAIN)
    (tmp_path / "repo" / "app").symlink_to("shared")
    assert names(tmp_path / "repo", path="app") == ["from-directory"]


# -- the tool runner


def python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", code]


def test_tools_get_a_minimal_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
    monkeypatch.setenv("GITHUB_TOKEN", "leak-me-too")
    env = BuildEnv(
        app="shop",
        namespace="prod",
        revision="0123456789abcdef",
        repo_url="https://user:pw@git.example.com/shop.git",
        kube_version="v1.36.4",
        api_versions=("v1", "apps/v1"),
    )
    with ToolRun.open(env) as run:
        out = run.run(python("import json, os; print(json.dumps(dict(os.environ)))"), what="env", cwd=tmp_path)
        home = run.home
    seen = json.loads(out)
    assert "leak-me" not in out
    assert seen["HOME"] == str(home) and seen["XDG_CONFIG_HOME"].startswith(str(home))
    assert not Path(seen["KUBECONFIG"]).exists()
    assert seen["ARGOCD_APP_NAME"] == "shop"
    assert seen["ARGOCD_APP_REVISION_SHORT"] == "0123456"
    assert seen["ARGOCD_APP_SOURCE_REPO_URL"] == "https://git.example.com/shop.git"
    assert seen["KUBE_API_VERSIONS"] == "v1,apps/v1"
    assert not home.exists()  # the scratch directory is removed


def test_tool_failure_quotes_stderr_with_paths_shown_relative(tmp_path: Path) -> None:
    with ToolRun.open(BuildEnv(), shown={tmp_path: "."}) as run, pytest.raises(RenderError) as info:
        run.run(
            python(f"import sys; sys.exit('Error: open {tmp_path}/values.yaml: https://u:secret@example.com denied')"),
            what="helm template x",
            cwd=tmp_path,
        )
    assert str(info.value) == ("helm template x: Error: open values.yaml: https://example.com denied")


def test_tool_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child-survived"
    child = f"import time; time.sleep(2); open({str(marker)!r}, 'w')"
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    with ToolRun.open(BuildEnv()) as run, pytest.raises(RenderError, match="timed out after 0.5s"):
        run.run(python(code), what="slow tool", cwd=tmp_path, timeout=0.5)
    time.sleep(2.5)
    assert not marker.exists()


def test_tool_output_limit(tmp_path: Path) -> None:
    with (
        ToolRun.open(BuildEnv()) as run,
        pytest.raises(RenderError, match="endless: output exceeds the limit of 1 MiB"),
    ):
        run.run(
            python("import sys\nwhile True: sys.stdout.write('x' * 65536)"),
            what="endless",
            cwd=tmp_path,
            max_output=1024 * 1024,
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$ARGOCD_APP_NAME-values.yaml", "shop-values.yaml"),
        ("${ARGOCD_APP_NAMESPACE}/x", "prod/x"),
        ("$UNKNOWN-x", "-x"),  # Go's os.Expand: unknown variables are empty
        ("price: $$5", "price: $5"),
        ("50$", "50$"),
        ("a $ b", "a $ b"),
        ("${unterminated", "unterminated"),
    ],
)
def test_envsubst(text: str, expected: str) -> None:
    assert envsubst(text, {"ARGOCD_APP_NAME": "shop", "ARGOCD_APP_NAMESPACE": "prod"}) == expected


def test_tool_versions_name_every_tool() -> None:
    versions = tool_versions()
    assert set(versions) == {"helm", "kubectl", "kustomize", "jsonnet"}
    assert versions["kubectl"].startswith("v1.") and versions["kustomize"].startswith("v5.")
    assert versions["helm"].startswith("v3.") and versions["jsonnet"].startswith("v0.")


# -- the render activity: cache keyed by tool versions


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_render_activity_passes_app_and_cluster_and_keys_the_cache_by_tool_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = write_tree(tmp_path / "origin", {f"chart/{k}": v for k, v in CHART.items()})
    (repo / "chart/templates/cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}'}\n"
        "data: {kube: '{{ .Capabilities.KubeVersion.Version }}'}\n"
    )
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "chart", cwd=repo)
    commit = git("rev-parse", "HEAD", cwd=repo)
    store = ContentStore(tmp_path / "store")
    activities = SourceActivities(
        git=GitCache(tmp_path / "git", allow_local=True), store=store, workdir=tmp_path / "work"
    )
    request = RenderInput(
        app="shop",
        repo_url=repo.as_uri(),
        commit=commit,
        source={"repoURL": repo.as_uri(), "path": "chart"},
        destination_namespace="prod",
        kube_version="v1.35.1",
    )
    first = activities.render(request)
    assert (first.resource_count, first.cached) == (1, False)
    assert store.get_json(first.manifests_digest) == [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop"}, "data": {"kube": "v1.35.1"}}
    ]
    assert activities.render(request).cached
    assert not activities.render(request.model_copy(update={"kube_version": "v1.36.0"})).cached
    monkeypatch.setattr(source_activities, "tool_versions", lambda: {**tool_versions(), "helm": "v3.99.0"})
    assert not activities.render(request).cached


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo" / "app", PLAIN)
    (tmp_path / "repo" / "a").symlink_to("b")
    (tmp_path / "repo" / "b").symlink_to("a")
    with pytest.raises(RenderError, match="^[ab] is a symlink loop: refused"):
        names(tmp_path / "repo", path="app")


def test_tools_of_one_render_share_its_time_budget(tmp_path: Path) -> None:
    # Seconds, not fractions: a Python start-up on a loaded two-core machine takes up to half a second.
    with ToolRun.open(BuildEnv(), timeout=4.0) as run:
        run.run(python("import time; time.sleep(2.4)"), what="first", cwd=tmp_path)
        with pytest.raises(RenderError, match="second: timed out after 4s"):
            run.run(python("import time; time.sleep(2.4)"), what="second", cwd=tmp_path)
        with pytest.raises(RenderError, match="third: the render ran out of its 4s"):
            run.run(python("pass"), what="third", cwd=tmp_path)


def test_hard_refresh_renders_again_despite_the_cache(tmp_path: Path) -> None:
    import subprocess

    from activities.contracts import RenderInput
    from activities.gitrepo import GitCache
    from activities.source import SourceActivities
    from activities.store import ContentStore

    repo = write_tree(tmp_path / "repo", PLAIN)
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
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    activities = SourceActivities(
        git=GitCache(tmp_path / "git", allow_local=True),
        store=ContentStore(tmp_path / "store"),
        workdir=tmp_path / "work",
    )
    request = RenderInput(app="a", repo_url=f"file://{repo}", commit=commit, source={"path": "."})
    assert not activities.render(request).cached
    assert activities.render(request).cached
    assert not activities.render(request.model_copy(update={"hard_refresh": True})).cached
