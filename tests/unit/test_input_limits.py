"""Issue #16, finding 4: a few bytes in Git must not take the worker down.

Each test is a regression test: on the code before the bounds it hangs, exhausts memory or
crashes with an error that names nothing (checked with a timeout); now it is a clear error
naming the file or expression and the limit (:mod:`bosun.limits`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.contracts import RenderInput
from activities.gitrepo import GitCache, GitError
from activities.renderers import RenderError, render_source
from activities.renderers.tools import BuildEnv, ToolRun
from activities.source import SourceActivities
from activities.store import ContentStore
from bosun.diff import compare
from bosun.diff.ignore import IgnoreRuleError
from bosun.manifests import ManifestError, parse_manifests
from bosun.models.errors import ModelError
from bosun.models.parse import parse_yaml

pytestmark = pytest.mark.timeout(60)

BILLION_LAUGHS = (
    "# billion laughs\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: lolollol\n"
    "data:\n"
    '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)
"""441 bytes that expand to 9^9 strings (the issue's file: 158 MB a second, then the worker's memory)."""


def test_the_billion_laughs_file_is_441_bytes() -> None:
    assert len(BILLION_LAUGHS.encode()) == 441


def test_billion_laughs_is_refused_naming_the_file_and_the_limit() -> None:
    started = time.monotonic()
    with pytest.raises(ManifestError) as info:
        parse_manifests(BILLION_LAUGHS, source="apps/lol.yaml")
    assert time.monotonic() - started < 2
    message = str(info.value)
    assert message.startswith("apps/lol.yaml: document 1: ")
    assert "BOSUN_MAX_YAML_NODES" in message and "alias" in message


def test_billion_laughs_in_a_directory_that_skips_unrelated_files_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "lol.yaml").write_text(BILLION_LAUGHS.replace("apiVersion", "api"))  # "unrelated" YAML
    with pytest.raises(RenderError, match=r"^lol.yaml: document 1: .*BOSUN_MAX_YAML_NODES"):
        render_source(tmp_path, {"path": "."})


def test_billion_laughs_in_an_application_file_is_a_model_error() -> None:
    text = BILLION_LAUGHS.replace("v1\nkind: ConfigMap", "argoproj.io/v1alpha1\nkind: Application")
    with pytest.raises(ModelError, match="BOSUN_MAX_YAML_NODES"):
        parse_yaml(text, source_name="apps/lol.yaml")


def test_the_node_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: &a '1', b: *a, c: *a}\n"
    assert parse_manifests(doc, source="x.yaml")
    monkeypatch.setenv("BOSUN_MAX_YAML_NODES", "10")
    with pytest.raises(ManifestError, match=r"limit 10, BOSUN_MAX_YAML_NODES"):
        parse_manifests(doc, source="x.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",  # a node that contains itself
        "a: &a {b: *a}\n",
    ],
)
def test_a_recursive_alias_is_refused(text: str) -> None:
    with pytest.raises(ManifestError, match="alias refers to a node that contains it"):
        parse_manifests(text, source="loop.yaml")
    with pytest.raises(ModelError, match="alias refers to a node that contains it"):
        parse_yaml(text, source_name="loop.yaml")


@pytest.mark.parametrize(
    "text",
    [
        '{"a":' * 5000 + "1" + "}" * 5000,  # RecursionError in the JSON decoder before
        "[" * 900 + "]" * 900,
        "a: " + "[" * 900 + "]" * 900,
        "- " * 900 + "x",
    ],
)
def test_deep_nesting_is_a_limit_error(text: str) -> None:
    with pytest.raises(ManifestError, match="BOSUN_MAX_MANIFEST_DEPTH"):
        parse_manifests(text, source="deep.yaml")


def test_too_many_objects_in_one_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_MAX_RENDER_OBJECTS", "3")
    text = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n" for i in range(5))
    with pytest.raises(
        ManifestError, match=r"^out.yaml: document 4: too many objects \(limit 3, BOSUN_MAX_RENDER_OBJECTS\)"
    ):
        parse_manifests(text, source="out.yaml")


# -- jqPathExpressions


def test_repeat_is_refused_in_process() -> None:
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}}
    rule = {"group": "", "kind": "ConfigMap", "jqPathExpressions": ["repeat(.)"]}
    with pytest.raises(IgnoreRuleError, match="repeat"):
        compare(desired, desired, ignore=[rule])


def test_jq_runner_stops_an_endless_expression_and_keeps_working(monkeypatch: pytest.MonkeyPatch) -> None:
    from activities.jq_runner import JqRunner
    from bosun.limits import InputLimits

    runner = JqRunner(InputLimits(jq_timeout_seconds=2, jq_memory_bytes=256 * 1024 * 1024), processes=1)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "d"}, "data": {"a": "1"}}
    try:
        assert runner(obj, ".data.a") == [["data", "a"]]
        started = time.monotonic()
        with pytest.raises(IgnoreRuleError) as info:
            runner(obj, ".data | until(false; .)")
        assert time.monotonic() - started < 10
        assert str(info.value) == (
            "jqPathExpression '.data | until(false; .)' on ConfigMap d/x: jq did not finish in time "
            "(limit 2s, BOSUN_JQ_TIMEOUT_SECONDS)"
        )
        with pytest.raises(IgnoreRuleError, match=r"jq ran out of memory \(limit 256 MiB, BOSUN_JQ_MAX_MEMORY_BYTES\)"):
            runner(obj, 'first(foreach range(0; 64) as $i ("x"; . + .; select(length > 1e15)))')
        with pytest.raises(IgnoreRuleError, match="selects more than 10_000 paths"):
            runner(obj, "repeat(.)")
        assert runner(obj, ".data.a") == [["data", "a"]]  # a new child took over
        assert runner(obj, ".spec.x[]") == []  # a runtime error skips the object, as in-process
        with pytest.raises(IgnoreRuleError, match="invalid jqPathExpression"):
            runner(obj, ".data[")
    finally:
        runner.close()


def test_compare_with_the_runner_names_the_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    from activities.jq_runner import JqRunner
    from bosun.limits import InputLimits

    runner = JqRunner(InputLimits(jq_timeout_seconds=0.5))
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}}
    rule = {"group": "", "kind": "ConfigMap", "jqPathExpressions": ["last(repeat(.))"]}
    try:
        with pytest.raises(IgnoreRuleError, match=r"last\(repeat\(\.\)\).*BOSUN_JQ_TIMEOUT_SECONDS"):
            compare(desired, desired, ignore=[rule], jq=runner)
    finally:
        runner.close()


# -- Directory files


MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"


def test_an_oversized_directory_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOSUN_MAX_MANIFEST_FILE_BYTES", "1024")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "small.yaml").write_text(MANIFEST % "small")
    (tmp_path / "app" / "big.yaml").write_text(
        MANIFEST % "big" + "data:\n" + "".join(f"  k{i}: v\n" for i in range(200))
    )
    with pytest.raises(RenderError, match=r"^app/big.yaml: .* \(limit 1 KiB, BOSUN_MAX_MANIFEST_FILE_BYTES\)"):
        render_source(tmp_path, {"path": "app"})


def test_a_directory_too_large_in_total_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_MAX_DIRECTORY_BYTES", "200")
    for i in range(5):
        (tmp_path / f"c{i}.yaml").write_text(MANIFEST % f"c{i}")
    with pytest.raises(RenderError, match=r"too large \(limit 200 bytes, BOSUN_MAX_DIRECTORY_BYTES\)"):
        render_source(tmp_path, {"path": "."})
    monkeypatch.setenv("BOSUN_MAX_DIRECTORY_BYTES", "10000")
    assert len(render_source(tmp_path, {"path": "."})) == 5


# -- render tools


def python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", code]


def test_a_render_tool_runs_with_a_memory_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_RENDER_MAX_MEMORY_BYTES", str(256 * 1024 * 1024))
    with ToolRun.open(BuildEnv()) as run:
        with pytest.raises(RenderError, match=r"memory limit 256 MiB, BOSUN_RENDER_MAX_MEMORY_BYTES"):
            run.run(python("x = bytearray(1 << 30)"), what="hungry tool", cwd=tmp_path)
        assert run.run(python("print(len(bytearray(1 << 20)))"), what="modest tool", cwd=tmp_path) == "1048576\n"


def test_a_render_tool_runs_with_a_cpu_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_RENDER_MAX_CPU_SECONDS", "1")
    with (
        ToolRun.open(BuildEnv(), timeout=30) as run,
        pytest.raises(RenderError, match=r"CPU limit of 1s, BOSUN_RENDER_MAX_CPU_SECONDS"),
    ):
        run.run(python("while True: pass"), what="busy tool", cwd=tmp_path)


# -- git archive and the whole render


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def repository(path: Path, files: dict[str, bytes]) -> str:
    path.mkdir(parents=True)
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(content)
    git("init", "-q", "-b", "main", cwd=path)
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "files", cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


def test_an_oversized_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commit = repository(
        tmp_path / "origin",
        {"app/cm.yaml": (MANIFEST % "cm").encode(), "blob.bin": os.urandom(4 * 1024 * 1024)},
    )
    monkeypatch.setenv("BOSUN_MAX_ARCHIVE_BYTES", str(1024 * 1024))
    cache = GitCache(tmp_path / "git", allow_local=True)
    with pytest.raises(GitError, match=r"exceed 1 MiB at blob.bin \(limit BOSUN_MAX_ARCHIVE_BYTES\)") as info:
        cache.export((tmp_path / "origin").as_uri(), commit, tmp_path / "out")
    assert not info.value.retryable
    monkeypatch.setenv("BOSUN_MAX_ARCHIVE_BYTES", str(64 * 1024 * 1024))
    cache.export((tmp_path / "origin").as_uri(), commit, tmp_path / "out2")
    assert (tmp_path / "out2" / "app" / "cm.yaml").read_text() == MANIFEST % "cm"
    assert (tmp_path / "out2" / "blob.bin").stat().st_size == 4 * 1024 * 1024


def test_a_render_past_the_app_object_limit_fails_naming_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"app/c{i}.yaml": (MANIFEST % f"c{i}").encode() for i in range(4)}
    commit = repository(tmp_path / "origin", files)
    activities = SourceActivities(
        git=GitCache(tmp_path / "git", allow_local=True),
        store=ContentStore(tmp_path / "store"),
        workdir=tmp_path / "work",
    )
    url = (tmp_path / "origin").as_uri()
    request = RenderInput(app="a", repo_url=url, commit=commit, source={"path": "app"})
    monkeypatch.setenv("BOSUN_MAX_RENDER_OBJECTS", "3")
    with pytest.raises(ApplicationError) as info:
        activities.render(request)
    assert info.value.type == "RenderError" and info.value.non_retryable
    assert "the app renders 4 objects (limit 3, BOSUN_MAX_RENDER_OBJECTS)" in str(info.value)
    monkeypatch.setenv("BOSUN_MAX_RENDER_OBJECTS", "10")
    monkeypatch.setenv("BOSUN_MAX_RENDER_BYTES", "100")
    with pytest.raises(ApplicationError, match=r"bytes of manifests \(limit 100 bytes, BOSUN_MAX_RENDER_BYTES\)"):
        activities.render(request)
    monkeypatch.setenv("BOSUN_MAX_RENDER_BYTES", "100000")
    assert activities.render(request).resource_count == 4


# -- other YAML from Git: kustomizations, Helm values


def test_a_kustomization_with_a_billion_laughs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(BILLION_LAUGHS)
    with pytest.raises(RenderError, match=r"kustomization.yaml: .*BOSUN_MAX_YAML_NODES"):
        render_source(tmp_path, {"path": ".", "kustomize": {"namePrefix": "x-"}})


def test_a_deeply_nested_kustomization_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: " + "[" * 900 + "]" * 900 + "\n")
    with pytest.raises(RenderError, match=r"kustomization.yaml: .*BOSUN_MAX_MANIFEST_DEPTH"):
        render_source(tmp_path, {"path": ".", "kustomize": {"namePrefix": "x-"}})


def test_helm_values_with_a_billion_laughs_are_refused(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    with pytest.raises(RenderError, match=r"spec.source.helm.values .*BOSUN_MAX_YAML_NODES"):
        render_source(tmp_path, {"path": ".", "helm": {"values": BILLION_LAUGHS}})


# -- the limits themselves


def test_limits_are_read_from_the_environment_and_a_bad_value_keeps_the_default() -> None:
    from bosun.limits import DEFAULT_LIMITS, input_limits

    limits = input_limits(
        {
            "BOSUN_MAX_YAML_NODES": "1_000",
            "BOSUN_JQ_TIMEOUT_SECONDS": "0.25",
            "BOSUN_MAX_MANIFEST_DEPTH": "0",
            "BOSUN_MAX_RENDER_OBJECTS": "lots",
            "BOSUN_MAX_ARCHIVE_BYTES": "-5",
        }
    )
    assert limits.yaml_nodes == 1000 and limits.jq_timeout_seconds == 0.25
    assert limits.manifest_depth == DEFAULT_LIMITS.manifest_depth
    assert limits.render_objects == DEFAULT_LIMITS.render_objects
    assert limits.archive_bytes == DEFAULT_LIMITS.archive_bytes
    assert input_limits({}) == DEFAULT_LIMITS
    assert str(limits.exceeded("file_bytes", "a.yaml", "too big")) == (
        "a.yaml: too big (limit 10 MiB, BOSUN_MAX_MANIFEST_FILE_BYTES)"
    )


@pytest.mark.parametrize(
    "text", ["a: !!int abc", "a: !!float abc", "a: !!bool maybe", "a: !!timestamp x", "a: !!timestamp 2001-13-45"]
)
def test_a_value_that_does_not_fit_its_tag_is_a_parse_error(text: str) -> None:
    # Found by the fuzz tests: PyYAML raised a bare ValueError/KeyError/AttributeError.
    with pytest.raises(ManifestError, match=r"^x.yaml: document 1: YAML syntax error at line 1, column 1: "):
        parse_manifests(text, source="x.yaml")
    with pytest.raises(ModelError, match="a value does not fit its tag"):
        parse_yaml(text, source_name="x.yaml")


def test_a_small_file_expanding_to_a_million_nodes_is_refused() -> None:
    # Found by the fuzz tests: 4 aliases a level, 10 levels, ~400 bytes -> 1.4 million nodes,
    # under BOSUN_MAX_YAML_NODES, took 10 s. go-yaml's alias ratio refuses it.
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:", "  l0: &l0 [x]"]
    lines += [f"  l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 4) + "]" for n in range(1, 11)]
    started = time.monotonic()
    with pytest.raises(ManifestError, match=r"excessive aliasing: .* \(limit 4_000_000, BOSUN_MAX_YAML_NODES\)"):
        parse_manifests("\n".join(lines) + "\n", source="bomb.yaml")
    assert time.monotonic() - started < 2
    flat = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flat}\ndata: {"
        + ",".join(f"k{i}: v" for i in range(250_000))
        + "}\n"
    )
    assert len(parse_manifests(flat, source="flat.yaml")[0]["data"]) == 250_000  # many nodes, no aliases: fine
