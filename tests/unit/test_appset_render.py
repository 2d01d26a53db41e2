"""render_applications: Argo CD's templating (fasttemplate and Go), generator templates,
templatePatch, the finalizer rule and duplicate names."""

from __future__ import annotations

from typing import Any

import pytest

from activities.gotemplate import render_go
from bosun.appset.generators import GeneratorContext, generate
from bosun.appset.render import RESOURCES_FINALIZER, merge_templates, render_applications
from bosun.appset.spec import ApplicationSetError, parse_applicationset
from bosun.appset.templating import FastTemplateError, fasttemplate
from tests.unit.appset_support import FakeGit, appset

GUESTBOOK = {
    "metadata": {"name": "{{cluster}}-guestbook"},
    "spec": {
        "project": "my-project",
        "source": {"repoURL": "https://github.com/infra-team/cluster-deployments.git", "path": "guestbook/{{cluster}}"},
        "destination": {"server": "{{url}}", "namespace": "guestbook"},
    },
}
ELEMENTS = [
    {"cluster": "engineering-dev", "url": "https://1.2.3.4"},
    {"cluster": "engineering-prod", "url": "https://2.4.6.8"},
]


def apps(spec: dict[str, Any], git: FakeGit | None = None) -> list[dict[str, Any]]:
    parsed = parse_applicationset(appset(spec))
    generated = generate(parsed, GeneratorContext([], git or FakeGit(), render_go))
    return render_applications(parsed, generated, render_go)


@pytest.mark.parametrize(
    ("text", "params", "rendered"),
    [
        ("{{a}}", {"a": "x"}, "x"),
        ("{{ a }}-{{b}}", {"a": "x", "b": "y"}, "x-y"),
        ("{{missing}}", {"a": "x"}, "{{missing}}"),
        ("{{ missing }}", {}, "{{ missing }}"),
        ("{{}}", {"": "x"}, "{{}}"),
        ("{{n}}", {"n": 3}, "{{n}}"),  # only string params replace
        ("{{ {{a}} }}", {"a": "x"}, "{{ {{a}} }}"),  # the tag is " {{a", unknown
        ("a {{b", {"b": "x"}, "a {{b"),  # not a template for Argo CD: left as is
        ("}} {{", {}, "}} {{"),
        ("{{a\n}}", {"a": "x"}, "{{a\n}}"),  # {{ and }} on two lines: not parsed
    ],
)
def test_fasttemplate_as_argo(text: str, params: dict[str, Any], rendered: str) -> None:
    assert fasttemplate(text, params) == rendered


@pytest.mark.parametrize("text", ["{{a}} {{b", "{{b\n}} {{a}} {{"])
def test_fasttemplate_refuses_an_open_tag(text: str) -> None:
    with pytest.raises(FastTemplateError, match="cannot find end tag"):
        fasttemplate(text, {"a": "x", "b": "y"})


def test_open_tag_in_a_template_names_the_field_path() -> None:
    spec = {
        "generators": [{"list": {"elements": ELEMENTS}}],
        "template": {"metadata": {"name": "{{cluster}}-{{url"}, "spec": {}},
    }
    with pytest.raises(ApplicationSetError, match=r"^spec\.template\.metadata\.name \(param set 0\): invalid template"):
        apps(spec)


def test_list_generator_docs_example_fasttemplate() -> None:
    got = apps({"generators": [{"list": {"elements": ELEMENTS}}], "template": GUESTBOOK})
    assert got[0] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "engineering-dev-guestbook", "namespace": "argocd", "finalizers": [RESOURCES_FINALIZER]},
        "spec": {
            "project": "my-project",
            "source": {
                "repoURL": "https://github.com/infra-team/cluster-deployments.git",
                "path": "guestbook/engineering-dev",
            },
            "destination": {"server": "https://1.2.3.4", "namespace": "guestbook"},
        },
    }
    assert got[1]["metadata"]["name"] == "engineering-prod-guestbook"


def test_same_example_with_go_template() -> None:
    template = {
        "metadata": {"name": "{{.cluster}}-guestbook"},
        "spec": {"project": "my-project", "destination": {"server": "{{.url}}"}},
    }
    got = apps({"goTemplate": True, "generators": [{"list": {"elements": ELEMENTS}}], "template": template})
    assert [a["metadata"]["name"] for a in got] == ["engineering-dev-guestbook", "engineering-prod-guestbook"]
    assert got[1]["spec"]["destination"]["server"] == "https://2.4.6.8"


def test_missingkey_error_names_the_field_and_creates_nothing() -> None:
    template = {"metadata": {"name": "{{.cluster}}"}, "spec": {"source": {"path": "{{.nope}}"}}}
    spec = {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"list": {"elements": ELEMENTS}}],
        "template": template,
    }
    with pytest.raises(ApplicationSetError) as error:
        apps(spec)
    assert str(error.value).startswith("spec.template.spec.source.path (param set 0): failed to execute go template")
    assert 'map has no entry for key "nope"' in str(error.value)


def test_missing_key_without_option_prints_no_value() -> None:
    template = {"metadata": {"name": "{{.cluster}}"}, "spec": {"source": {"path": "{{.nope}}"}}}
    got = apps({"goTemplate": True, "generators": [{"list": {"elements": ELEMENTS}}], "template": template})
    assert got[0]["spec"]["source"]["path"] == "<no value>"


def test_generator_template_overrides_the_sets_fields() -> None:
    # template docs: a generator's template wins field by field over spec.template
    generator = {
        "list": {
            "elements": ELEMENTS[:1],
            "template": {"metadata": {}, "spec": {"source": {"path": "override/{{cluster}}"}}},
        }
    }
    [app] = apps({"generators": [generator], "template": GUESTBOOK})
    assert app["metadata"]["name"] == "engineering-dev-guestbook"
    assert app["spec"]["source"] == {
        "path": "override/engineering-dev",
        "repoURL": "https://github.com/infra-team/cluster-deployments.git",
    }
    assert app["spec"]["project"] == "my-project"


def test_merge_templates_fills_only_empty_fields() -> None:
    merged = merge_templates({"metadata": {"labels": {"a": "g"}}, "spec": {"project": ""}}, GUESTBOOK)
    assert merged["spec"]["project"] == "my-project"
    assert merged["metadata"] == {"labels": {"a": "g"}, "name": "{{cluster}}-guestbook"}


def test_template_patch_rendered_then_merged() -> None:
    # templatePatch docs: automated sync only where the element asks for it
    patch = "{{- if .autoSync }}\nspec:\n  syncPolicy:\n    automated:\n      prune: {{ .prune }}\n{{- end }}\n"
    spec = {
        "goTemplate": True,
        "generators": [
            {
                "list": {
                    "elements": [
                        {"cluster": "a", "url": "https://a", "autoSync": True, "prune": True},
                        {"cluster": "b", "url": "https://b", "autoSync": False},
                    ]
                }
            }
        ],
        "template": {"metadata": {"name": "{{.cluster}}"}, "spec": {"project": "p"}},
        "templatePatch": patch,
    }
    got = apps(spec)
    assert got[0]["spec"] == {"project": "p", "syncPolicy": {"automated": {"prune": True}}}
    assert got[1]["spec"] == {"project": "p"}


def test_finalizer_rules() -> None:
    elements = {"generators": [{"list": {"elements": ELEMENTS[:1]}}]}
    named = {"metadata": {"name": "{{cluster}}", "finalizers": ["mine"]}, "spec": {}}
    assert apps({**elements, "template": named})[0]["metadata"]["finalizers"] == ["mine"]
    preserve = {**elements, "template": GUESTBOOK, "syncPolicy": {"preserveResourcesOnDeletion": True}}
    assert "finalizers" not in apps(preserve)[0]["metadata"]


def test_namespace_is_always_the_sets() -> None:
    template = {"metadata": {"name": "{{cluster}}", "namespace": "elsewhere"}, "spec": {}}
    got = apps({"generators": [{"list": {"elements": ELEMENTS[:1]}}], "template": template})
    assert got[0]["metadata"]["namespace"] == "argocd"


def test_duplicate_names_are_refused() -> None:
    spec = {"generators": [{"list": {"elements": ELEMENTS}}], "template": {"metadata": {"name": "same"}, "spec": {}}}
    with pytest.raises(ApplicationSetError, match="duplicate name: same"):
        apps(spec)


def test_git_directory_example_fasttemplate() -> None:
    # git-generator docs: cluster-addons/* with exclude, name '{{path.basename}}'
    git = FakeGit(
        directories=[
            "applicationset",
            "applicationset/examples",
            "examples",
            "examples/git-generator-directory",
            "examples/git-generator-directory/cluster-addons",
            "examples/git-generator-directory/cluster-addons/argo-workflows",
            "examples/git-generator-directory/cluster-addons/prometheus-operator",
            "examples/git-generator-directory/cluster-addons/exclude-helm-guestbook",
        ]
    )
    spec = {
        "generators": [
            {
                "git": {
                    "repoURL": "https://github.com/argoproj/argo-cd.git",
                    "revision": "HEAD",
                    "directories": [
                        {"path": "examples/git-generator-directory/cluster-addons/*"},
                        {
                            "path": "examples/git-generator-directory/cluster-addons/exclude-helm-guestbook",
                            "exclude": True,
                        },
                    ],
                }
            }
        ],
        "template": {
            "metadata": {"name": "{{path.basename}}"},
            "spec": {"source": {"path": "{{path}}"}, "destination": {"namespace": "{{path.basename}}"}},
        },
    }
    got = apps(spec, git)
    assert [a["metadata"]["name"] for a in got] == ["argo-workflows", "prometheus-operator"]
    assert got[0]["spec"]["source"]["path"] == "examples/git-generator-directory/cluster-addons/argo-workflows"


def test_empty_param_set_gives_the_template_as_is_without_finalizer() -> None:
    # RenderTemplateParams: len(params) == 0 returns the template untouched
    template = {"metadata": {"name": "fixed-{{.x}}"}, "spec": {"project": "p"}}
    spec = {"goTemplate": True, "goTemplateOptions": ["missingkey=error"], "generators": [{"list": {"elements": [{}]}}]}
    [app] = apps({**spec, "template": template})
    assert app["metadata"] == {"name": "fixed-{{.x}}", "namespace": "argocd"}
