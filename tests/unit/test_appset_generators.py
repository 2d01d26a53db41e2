"""The generators against Argo CD's own test tables (applicationset/generators/*_test.go) and the
examples of its Generators documentation pages."""

from __future__ import annotations

from typing import Any

import pytest

from activities.gotemplate import render_go
from bosun.appset.generators import GeneratorContext, filter_directories, generate, go_path_match
from bosun.appset.spec import ApplicationSetError, parse_applicationset
from tests.unit.appset_support import IN_CLUSTER, PRODUCTION, STAGING, FakeGit, appset


def params(spec: dict[str, Any], git: FakeGit | None = None, clusters: list[Any] | None = None) -> list[dict[str, Any]]:
    parsed = parse_applicationset(appset(spec))
    ctx = GeneratorContext(clusters if clusters is not None else [], git or FakeGit(), render_go)
    return [g.params for g in generate(parsed, ctx)]


# --- list ---------------------------------------------------------------------------------


def test_list_elements_with_values_flattened_for_fasttemplate() -> None:
    # list-generator docs: cluster/url elements, `values` become values.<key>
    got = params(
        {
            "generators": [
                {
                    "list": {
                        "elements": [
                            {"cluster": "engineering-dev", "url": "https://1.2.3.4", "values": {"project": "dev"}},
                            {"cluster": "engineering-prod", "url": "https://2.4.6.8"},
                        ]
                    }
                }
            ]
        }
    )
    assert got == [
        {"cluster": "engineering-dev", "url": "https://1.2.3.4", "values.project": "dev"},
        {"cluster": "engineering-prod", "url": "https://2.4.6.8"},
    ]


def test_list_element_that_is_not_a_string_is_refused_without_go_template() -> None:
    with pytest.raises(ApplicationSetError, match=r"spec\.generators\[0\]\.list\.elements\[0\]\.replicas"):
        params({"generators": [{"list": {"elements": [{"replicas": 3}]}}]})


def test_list_elements_stay_nested_with_go_template_and_elements_yaml_is_appended() -> None:
    got = params(
        {
            "goTemplate": True,
            "generators": [
                {
                    "list": {
                        "elements": [{"cluster": "a", "values": {"replicas": 2}}],
                        "elementsYaml": "- cluster: b\n  extra:\n    zone: eu\n",
                    }
                }
            ],
        }
    )
    assert got == [{"cluster": "a", "values": {"replicas": 2}}, {"cluster": "b", "extra": {"zone": "eu"}}]


# --- clusters -----------------------------------------------------------------------------


def test_clusters_without_selector_include_the_in_cluster_one_with_only_name_and_server() -> None:
    got = params({"generators": [{"clusters": {}}]}, clusters=[IN_CLUSTER, STAGING])
    assert got[0] == {
        "name": "in-cluster",
        "nameNormalized": "in-cluster",
        "server": "https://kubernetes.default.svc",
        "project": "",
    }
    assert got[1] == {
        "name": "staging",
        "nameNormalized": "staging",
        "server": "https://1.2.3.4",
        "project": "",
        "metadata.labels.env": "staging",
        "metadata.labels.argocd.argoproj.io/secret-type": "cluster",
        "metadata.annotations.owner": "team-a",
    }


def test_clusters_selector_matches_secret_labels_and_leaves_out_the_in_cluster_one() -> None:
    # cluster-generator docs: matchLabels and matchExpressions over the cluster Secret's labels
    spec = {
        "generators": [
            {
                "clusters": {
                    "selector": {
                        "matchLabels": {"argocd.argoproj.io/secret-type": "cluster"},
                        "matchExpressions": [{"key": "env", "operator": "In", "values": ["staging", "prod"]}],
                    }
                }
            }
        ]
    }
    got = params(spec, clusters=[IN_CLUSTER, STAGING, PRODUCTION])
    assert [p["name"] for p in got] == ["staging", "Production_EU"]
    assert got[1]["nameNormalized"] == "production-eu"
    assert got[1]["project"] == "platform"


def test_clusters_values_are_templated_with_the_cluster_params() -> None:
    # cluster-generator docs: values.revision: '{{metadata.labels.env}}'-style templating
    spec = {
        "generators": [
            {
                "clusters": {
                    "selector": {"matchLabels": {"env": "staging"}},
                    "values": {"revision": "{{metadata.labels.env}}-branch", "fixed": "HEAD"},
                }
            }
        ]
    }
    [got] = params(spec, clusters=[STAGING, PRODUCTION])
    assert got["values.revision"] == "staging-branch"
    assert got["values.fixed"] == "HEAD"


def test_clusters_go_template_params_are_nested_and_values_rendered_by_go() -> None:
    spec = {
        "goTemplate": True,
        "generators": [{"clusters": {"values": {"env": "{{ .metadata.labels.env | upper }}"}}}],
    }
    got = params(spec, clusters=[STAGING])
    assert got == [
        {
            "name": "staging",
            "nameNormalized": "staging",
            "server": "https://1.2.3.4",
            "project": "",
            "metadata": {
                "labels": {"env": "staging", "argocd.argoproj.io/secret-type": "cluster"},
                "annotations": {"owner": "team-a"},
            },
            "values": {"env": "STAGING"},
        }
    ]


def test_clusters_flat_list_gives_one_param_set() -> None:
    got = params({"goTemplate": True, "generators": [{"clusters": {"flatList": True}}]}, clusters=[IN_CLUSTER, STAGING])
    assert len(got) == 1
    assert [c["name"] for c in got[0]["clusters"]] == ["in-cluster", "staging"]


# --- git directories ----------------------------------------------------------------------

REPO_APPS = ["app1", "app2", "app_3", "p1/app4"]


def test_git_directories_happy_flow() -> None:
    # TestGitGenerateParamsFromDirectories "happy flow - created apps"
    git = FakeGit(directories=REPO_APPS)
    got = params(
        {"generators": [{"git": {"repoURL": "RepoURL", "revision": "R", "directories": [{"path": "*"}]}}]}, git
    )
    assert got == [
        {"path": "app1", "path.basename": "app1", "path.basenameNormalized": "app1", "path[0]": "app1"},
        {"path": "app2", "path.basename": "app2", "path.basenameNormalized": "app2", "path[0]": "app2"},
        {"path": "app_3", "path.basename": "app_3", "path.basenameNormalized": "app-3", "path[0]": "app_3"},
    ]
    assert git.calls == [("directories", "RepoURL", "R")]


def test_git_directories_path_param_prefix() -> None:
    git = FakeGit(directories=["app1"])
    spec = {"generators": [{"git": {"repoURL": "r", "pathParamPrefix": "myRepo", "directories": [{"path": "*"}]}}]}
    assert params(spec, git) == [
        {
            "myRepo.path": "app1",
            "myRepo.path.basename": "app1",
            "myRepo.path.basenameNormalized": "app1",
            "myRepo.path[0]": "app1",
        }
    ]


@pytest.mark.parametrize(
    "entries",
    [
        [{"path": "p1/*", "exclude": True}, {"path": "*"}, {"path": "*/*"}],
        [{"path": "*"}, {"path": "*/*"}, {"path": "p1/*", "exclude": True}],
    ],
)
def test_git_directories_exclude_wins_whatever_the_order(entries: list[dict[str, Any]]) -> None:
    # "It filters application according to the paths with Exclude" and "same exclude behavior
    # with different order"
    dirs = ["app1", "app2", "p1/app2", "p1/app3", "p2/app3"]
    assert filter_directories(entries, dirs) == ["app1", "app2", "p2/app3"]


def test_git_directories_star_does_not_cross_slashes() -> None:
    dirs = ["app1", "p1/app2", "p1/p2/app3", "p1/p2/p3/app4"]
    assert filter_directories([{"path": "p1/*"}, {"path": "p1/*/*"}], dirs) == ["p1/app2", "p1/p2/app3"]


def test_git_directories_values_interpolation_leaves_unknown_tags() -> None:
    # "Value variable interpolation"
    git = FakeGit(directories=["app1", "p1/app2"])
    spec = {
        "generators": [
            {
                "git": {
                    "repoURL": "r",
                    "directories": [{"path": "*"}, {"path": "*/*"}],
                    "values": {"foo": "bar", "aaa": "{{ path[0] }}", "no-op": "{{ this-does-not-exist }}"},
                }
            }
        ]
    }
    got = params(spec, git)
    assert got[1] == {
        "values.foo": "bar",
        "values.no-op": "{{ this-does-not-exist }}",
        "values.aaa": "p1",
        "path": "p1/app2",
        "path.basename": "app2",
        "path[0]": "p1",
        "path[1]": "app2",
        "path.basenameNormalized": "app2",
    }


def test_git_directories_go_template_segments() -> None:
    git = FakeGit(directories=["p1/p2/app3"])
    spec = {"goTemplate": True, "generators": [{"git": {"repoURL": "r", "directories": [{"path": "p1/*/*"}]}}]}
    assert params(spec, git) == [
        {
            "path": {
                "path": "p1/p2/app3",
                "basename": "app3",
                "basenameNormalized": "app3",
                "segments": ["p1", "p2", "app3"],
            }
        }
    ]


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "a", True),
        ("*", "a/b", False),
        ("a/?", "a/b", True),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("a\\*", "a*", True),
        ("[", "[", False),  # malformed: Go's ErrBadPattern, matches nothing
    ],
)
def test_go_path_match(pattern: str, name: str, matches: bool) -> None:
    assert go_path_match(pattern, name) is matches


# --- git files ----------------------------------------------------------------------------

CONFIG = (
    "aws_account: '123456'\n"
    "asset_id: '11223344'\n"
    "cluster:\n"
    "  owner: cluster-admin@company.com\n"
    "  name: engineering-dev\n"
    "  address: https://1.2.3.4\n"
)


def test_git_files_flattened_with_path_params() -> None:
    # git-generator docs: cluster-config/engineering/dev/config.json → cluster.name, path[0]…
    git = FakeGit(files={"cluster-config/engineering/dev/config.json": CONFIG, "other/x.txt": "a: b"})
    spec = {"generators": [{"git": {"repoURL": "r", "files": [{"path": "cluster-config/**/config.json"}]}}]}
    [got] = params(spec, git)
    assert got == {
        "aws_account": "123456",
        "asset_id": "11223344",
        "cluster.owner": "cluster-admin@company.com",
        "cluster.name": "engineering-dev",
        "cluster.address": "https://1.2.3.4",
        "path": "cluster-config/engineering/dev",
        "path.basename": "dev",
        "path.filename": "config.json",
        "path.basenameNormalized": "dev",
        "path.filenameNormalized": "config.json",
        "path[0]": "cluster-config",
        "path[1]": "engineering",
        "path[2]": "dev",
    }


def test_git_files_empty_file_gives_path_params_and_numbers_print_as_go() -> None:
    # Test_generateParamsFromGitFile "empty file returns path parameters"; numbers are Go's %v
    git = FakeGit(files={"path/dir/file_name.yaml": "", "path/n/f.yaml": "replicas: 3\nbig: 1000000\nok: true\n"})
    spec = {"generators": [{"git": {"repoURL": "r", "files": [{"path": "path/*/*.yaml"}]}}]}
    got = params(spec, git)
    assert got[0] == {
        "path": "path/dir",
        "path.basename": "dir",
        "path.filename": "file_name.yaml",
        "path.basenameNormalized": "dir",
        "path.filenameNormalized": "file-name.yaml",
        "path[0]": "path",
        "path[1]": "dir",
    }
    assert (got[1]["replicas"], got[1]["big"], got[1]["ok"]) == ("3", "1e+06", "true")


def test_git_files_list_gives_one_set_per_element_and_exclude_removes_files() -> None:
    git = FakeGit(
        files={
            "envs/a.yaml": "- name: one\n- name: two\n",
            "envs/skip.yaml": "name: skipped\n",
        }
    )
    spec = {
        "generators": [
            {"git": {"repoURL": "r", "files": [{"path": "envs/*.yaml"}, {"path": "envs/skip.yaml", "exclude": True}]}}
        ]
    }
    got = params(spec, git)
    assert [(p["name"], p["path.filename"]) for p in got] == [("one", "a.yaml"), ("two", "a.yaml")]


def test_git_files_go_template_nested_with_prefix() -> None:
    git = FakeGit(files={"path/dir/file_name.yaml": "foo:\n  bar: baz\n"})
    spec = {
        "goTemplate": True,
        "generators": [{"git": {"repoURL": "r", "pathParamPrefix": "myRepo", "files": [{"path": "path/*/*.yaml"}]}}],
    }
    assert params(spec, git) == [
        {
            "foo": {"bar": "baz"},
            "myRepo": {
                "path": {
                    "path": "path/dir",
                    "basename": "dir",
                    "filename": "file_name.yaml",
                    "basenameNormalized": "dir",
                    "filenameNormalized": "file-name.yaml",
                    "segments": ["path", "dir"],
                }
            },
        }
    ]


def test_git_file_that_is_not_yaml_names_the_file() -> None:
    git = FakeGit(files={"bad/config.yaml": "a: [unclosed"})
    spec = {"generators": [{"git": {"repoURL": "r", "files": [{"path": "bad/*.yaml"}]}}]}
    with pytest.raises(ApplicationSetError, match=r"spec\.generators\[0\]\.git: r bad/config\.yaml: unable to parse"):
        params(spec, git)


# --- matrix and merge ---------------------------------------------------------------------


def test_matrix_git_by_list_fasttemplate() -> None:
    # TestMatrixGenerate "happy flow - generate params": a git directories child × a list child
    git = FakeGit(directories=["app1", "app2"])
    spec = {
        "generators": [
            {
                "matrix": {
                    "generators": [
                        {"git": {"repoURL": "r", "directories": [{"path": "*"}]}},
                        {"list": {"elements": [{"cluster": "Cluster", "url": "Url"}]}},
                    ]
                }
            }
        ]
    }
    got = params(spec, git)
    assert [(p["path"], p["cluster"], p["url"]) for p in got] == [
        ("app1", "Cluster", "Url"),
        ("app2", "Cluster", "Url"),
    ]


def test_matrix_second_child_uses_the_first_childs_params() -> None:
    # matrix docs: a git files generator whose path comes from the first generator's params
    git = FakeGit(files={"apps/staging/config.yaml": "replicas: '2'\n", "apps/prod/config.yaml": "replicas: '5'\n"})
    spec = {
        "generators": [
            {
                "matrix": {
                    "generators": [
                        {"clusters": {"selector": {"matchLabels": {"argocd.argoproj.io/secret-type": "cluster"}}}},
                        {"git": {"repoURL": "r", "files": [{"path": "apps/{{metadata.labels.env}}/config.yaml"}]}},
                    ]
                }
            }
        ]
    }
    got = params(spec, git, clusters=[STAGING, PRODUCTION])
    assert [(p["name"], p["replicas"]) for p in got] == [("staging", "2"), ("Production_EU", "5")]
    assert ("files", "r", "apps/staging/config.yaml") in git.calls


def test_matrix_fasttemplate_conflicting_key_is_an_error() -> None:
    spec = {
        "generators": [
            {
                "matrix": {
                    "generators": [
                        {"list": {"elements": [{"a": "1"}]}},
                        {"list": {"elements": [{"a": "2"}]}},
                    ]
                }
            }
        ]
    }
    with pytest.raises(ApplicationSetError, match="found duplicate key a with different value"):
        params(spec)


def test_matrix_go_template_first_child_wins_and_maps_merge() -> None:
    spec = {
        "goTemplate": True,
        "generators": [
            {
                "matrix": {
                    "generators": [
                        {"list": {"elements": [{"a": "1", "m": {"x": "first"}}]}},
                        {"list": {"elements": [{"a": "2", "b": "3", "m": {"x": "second", "y": "second"}}]}},
                    ]
                }
            }
        ],
    }
    assert params(spec) == [{"a": "1", "b": "3", "m": {"x": "first", "y": "second"}}]


def test_merge_by_server_overrides_values() -> None:
    # merge-generator docs: clusters × clusters(selector) × list, mergeKeys [server]
    spec = {
        "generators": [
            {
                "merge": {
                    "mergeKeys": ["server"],
                    "generators": [
                        {"clusters": {"values": {"kafka": "true", "redis": "false"}}},
                        {"clusters": {"selector": {"matchLabels": {"env": "staging"}}, "values": {"kafka": "false"}}},
                        {"list": {"elements": [{"server": "https://5.6.7.8", "values.redis": "true"}]}},
                    ],
                }
            }
        ]
    }
    got = {p["name"]: (p["values.kafka"], p["values.redis"]) for p in params(spec, clusters=[STAGING, PRODUCTION])}
    assert got == {"staging": ("false", "false"), "Production_EU": ("true", "true")}


def test_merge_duplicate_merge_key_is_an_error() -> None:
    spec = {
        "generators": [
            {
                "merge": {
                    "mergeKeys": ["k"],
                    "generators": [{"list": {"elements": []}}, {"list": {"elements": [{"k": "1"}, {"k": "1"}]}}],
                }
            }
        ]
    }
    with pytest.raises(ApplicationSetError, match="not unique by the given mergeKeys"):
        params(spec)


# --- selector -----------------------------------------------------------------------------


def test_merge_base_sets_sharing_a_key_are_each_overridden() -> None:
    spec = {
        "generators": [
            {
                "merge": {
                    "mergeKeys": ["k"],
                    "generators": [
                        {"list": {"elements": [{"k": "1", "n": "a"}, {"k": "1", "n": "b"}, {"k": "2", "n": "c"}]}},
                        {"list": {"elements": [{"k": "1", "v": "x"}, {"k": "3", "v": "dropped"}]}},
                    ],
                }
            }
        ]
    }
    assert params(spec) == [{"k": "1", "n": "a", "v": "x"}, {"k": "1", "n": "b", "v": "x"}, {"k": "2", "n": "c"}]


def test_selector_filters_param_sets_on_flattened_params() -> None:
    # generators-post-selector docs: a list whose elements are filtered by env=staging
    spec = {
        "generators": [
            {
                "list": {
                    "elements": [
                        {"cluster": "engineering-dev", "url": "https://kubernetes.default.svc", "env": "staging"},
                        {"cluster": "engineering-prod", "url": "https://kubernetes.default.svc", "env": "prod"},
                    ]
                },
                "selector": {"matchLabels": {"env": "staging"}},
            }
        ]
    }
    assert [p["cluster"] for p in params(spec)] == ["engineering-dev"]


def test_selector_on_go_template_nested_params() -> None:
    git = FakeGit(directories=["apps/a", "apps/b"])
    spec = {
        "goTemplate": True,
        "generators": [
            {
                "git": {"repoURL": "r", "directories": [{"path": "apps/*"}]},
                "selector": {"matchExpressions": [{"key": "path.basename", "operator": "NotIn", "values": ["a"]}]},
            }
        ],
    }
    assert [p["path"]["path"] for p in params(spec, git)] == ["apps/b"]


def test_git_file_past_the_yaml_limits_is_refused_naming_the_file() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    git = FakeGit(files={"bomb/config.yaml": bomb})
    spec = {"generators": [{"git": {"repoURL": "r", "files": [{"path": "bomb/*.yaml"}]}}]}
    with pytest.raises(
        ApplicationSetError,
        match=r"^spec\.generators\[0\]\.git: r bomb/config\.yaml: unable to parse file: .*BOSUN_MAX_YAML_NODES",
    ):
        params(spec, git)
