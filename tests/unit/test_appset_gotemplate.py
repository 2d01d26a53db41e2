"""render_go runs the real bosun-gotemplate binary (built by devstack.tools): Go's text/template
with Argo CD's function map, missingkey options, errors naming item and field, and its limits."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities import gotemplate
from activities.gotemplate import GoTemplateUnavailable, find_gotemplate, render_go
from bosun.appset.templating import GoTemplateError, sanitize_name
from devstack.tools import gotemplate as build_gotemplate


@pytest.fixture(autouse=True, scope="module")
def _binary() -> Iterator[None]:
    """The binary of this checkout's sources (built if missing), whatever else is installed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(gotemplate.ENV_OVERRIDE, str(build_gotemplate()))
        yield


def test_renders_every_string_but_not_keys_and_keeps_other_values() -> None:
    template = {"metadata": {"name": "{{.name}}"}, "spec": {"{{.name}}": "k", "n": 3, "b": True, "l": ["{{.name}}", 1]}}
    [got] = render_go([(template, {"name": "x"})], ())
    assert got == {"metadata": {"name": "x"}, "spec": {"{{.name}}": "k", "n": 3, "b": True, "l": ["x", 1]}}


@pytest.mark.parametrize(
    ("text", "params", "rendered"),
    [
        # Argo CD's GoTemplate docs and utils_test.go cases
        ("{{ .path.basename | normalize }}", {"path": {"basename": "Foo_Bar"}}, "foo-bar"),
        ("{{ .cluster | upper }}", {"cluster": "dev"}, "DEV"),
        ("{{ index .path.segments 1 }}", {"path": {"segments": ["a", "b"]}}, "b"),
        ('{{ default "x" .missing }}', {}, "x"),
        ("{{ toYaml .values }}", {"values": {"a": 1, "b": ["c"]}}, "a: 1\nb:\n- c"),
        ("{{ (fromYaml .text).key }}", {"text": "key: v"}, "v"),
        ("{{ index (fromYamlArray .text) 1 }}", {"text": "[a, b]"}, "b"),
        ("{{ slugify .name }}", {"name": "Hello World!"}, "hello-world"),
        ("{{ .replicas }}", {"replicas": 3}, "3"),
        ('{{ if eq .env "prod" }}big{{ else }}small{{ end }}', {"env": "prod"}, "big"),
        ("{{.missing}}", {}, "<no value>"),
    ],
)
def test_argo_functions(text: str, params: dict[str, object], rendered: str) -> None:
    assert render_go([({"v": text}, params)], ())[0]["v"] == rendered


def test_normalize_matches_python_sanitize_name() -> None:
    name = "-My.Cluster_Name/Ü-"
    assert render_go([({"v": "{{ normalize .n }}"}, {"n": name})], ())[0]["v"] == sanitize_name(name)


@pytest.mark.parametrize(
    ("option", "rendered"), [("missingkey=zero", "<no value>"), ("missingkey=default", "<no value>")]
)
def test_missingkey_options_on_maps(option: str, rendered: str) -> None:
    assert render_go([({"v": "{{.nope}}"}, {})], (option,))[0]["v"] == rendered


def test_missingkey_error_names_item_and_field() -> None:
    items = [({"a": "{{.x}}"}, {"x": "1"}), ({"spec": {"source": {"path": "{{.nope}}"}}}, {"x": "1"})]
    with pytest.raises(GoTemplateError) as error:
        render_go(items, ("missingkey=error",))
    assert (error.value.item, error.value.field) == (1, "spec.source.path")
    assert 'map has no entry for key "nope"' in error.value.message


@pytest.mark.parametrize("function", ["env", "expandenv", "getHostByName"])
def test_removed_functions_are_parse_errors(function: str) -> None:
    with pytest.raises(GoTemplateError, match=f'function "{function}" not defined'):
        render_go([({"v": f'{{{{ {function} "HOME" }}}}'}, {})], ())


def test_bad_template_syntax_is_a_template_error() -> None:
    with pytest.raises(GoTemplateError, match="failed to parse template"):
        render_go([({"v": "{{ .a "}, {"a": 1})], ())


def test_output_limit_stops_the_renderer() -> None:
    template = {"v": '{{ repeat 100000 "x" }}'}
    with pytest.raises(GoTemplateUnavailable, match="wrote more than 1000 bytes"):
        render_go([(template, {})], (), max_output=1000)


def test_time_limit_stops_the_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(gotemplate.ENV_OVERRIDE, str(slow))
    with pytest.raises(GoTemplateUnavailable, match="took longer than 0.5s"):
        render_go([({"v": "x"}, {})], (), timeout=0.5)


def test_missing_binary_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(gotemplate.ENV_OVERRIDE, str(tmp_path / "nope"))
    with pytest.raises(GoTemplateUnavailable, match="does not exist"):
        find_gotemplate()


def test_empty_batch_runs_nothing() -> None:
    assert render_go([], ()) == []
