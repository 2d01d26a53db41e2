"""parse_applicationset: what Bosun accepts and refuses, each refusal naming the field path."""

from __future__ import annotations

from typing import Any

import pytest

from bosun.appset.spec import ApplicationSetError, RollingStep, parse_applicationset
from tests.unit.appset_support import appset

LIST = {"list": {"elements": [{"name": "a"}]}}


def test_defaults_are_argo_cds() -> None:
    parsed = parse_applicationset(appset({"generators": [LIST]}))
    assert (parsed.name, parsed.namespace, parsed.uid) == ("set", "argocd", "uid-1")
    assert parsed.go_template is False
    assert parsed.applications_sync is None
    assert (parsed.allows_update, parsed.allows_delete) == (True, True)
    assert parsed.preserve_resources_on_deletion is False
    assert parsed.rolling_sync is None
    assert parsed.requeue_after_seconds is None


@pytest.mark.parametrize(
    ("policy", "update", "delete"),
    [
        ("create-only", False, False),
        ("create-update", True, False),
        ("create-delete", False, True),
        ("sync", True, True),
    ],
)
def test_applications_sync_policies(policy: str, update: bool, delete: bool) -> None:
    parsed = parse_applicationset(appset({"generators": [LIST], "syncPolicy": {"applicationsSync": policy}}))
    assert (parsed.allows_update, parsed.allows_delete) == (update, delete)


@pytest.mark.parametrize("kind", ["pullRequest", "scmProvider", "clusterDecisionResource", "plugin"])
def test_network_generators_are_refused_naming_the_path(kind: str) -> None:
    with pytest.raises(ApplicationSetError) as error:
        parse_applicationset(appset({"generators": [LIST, {kind: {}}]}))
    assert str(error.value) == f"spec.generators[1].{kind}: not supported by Bosun: no network generators"


def test_network_generator_inside_a_matrix_is_refused() -> None:
    spec = {"generators": [{"matrix": {"generators": [LIST, {"pullRequest": {"github": {}}}]}}]}
    with pytest.raises(ApplicationSetError, match=r"^spec\.generators\[0\]\.matrix\.generators\[1\]\.pullRequest: "):
        parse_applicationset(appset(spec))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"generators": [LIST], "goTemplat": True}, r"^spec\.goTemplat: unknown field"),
        (
            {"generators": [{"list": {"elements": [], "element": []}}]},
            r"^spec\.generators\[0\]\.list\.element: unknown",
        ),
        ({"generators": [{"git": {"repoURL": "r"}}]}, r"^spec\.generators\[0\]\.git: needs directories or files"),
        (
            {"generators": [{"git": {"directories": [{"path": "*"}]}}]},
            r"^spec\.generators\[0\]\.git\.repoURL: required",
        ),
        ({"generators": [{"matrix": {"generators": [LIST]}}]}, r"exactly two generators"),
        ({"generators": [LIST, {}]}, r"^spec\.generators\[1\]: exactly one generator"),
        ({"generators": []}, r"^spec\.generators: at least one"),
        ({"generators": [LIST], "syncPolicy": {"applicationsSync": "delete"}}, r"applicationsSync: 'delete' is not"),
        ({"generators": [LIST], "goTemplateOptions": ["missingkey=panic"]}, r"goTemplateOptions\[0\]"),
        ({"generators": [LIST], "strategy": {"type": "Canary"}}, r"^spec\.strategy\.type: 'Canary' is not supported"),
        (
            {"generators": [{"merge": {"generators": [LIST, LIST]}}]},
            r"^spec\.generators\[0\]\.merge\.mergeKeys: at least one",
        ),
        ({"generators": [LIST], "template": {"metadata": {"nam": "x"}}}, r"^spec\.template\.metadata\.nam: unknown"),
    ],
)
def test_refusals_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ApplicationSetError, match=message):
        parse_applicationset(appset(spec))


def test_matrix_nests_two_levels_only() -> None:
    inner = {"matrix": {"generators": [LIST, LIST]}}
    parse_applicationset(appset({"generators": [{"matrix": {"generators": [inner, LIST]}}]}))
    too_deep = {"matrix": {"generators": [{"matrix": {"generators": [inner, LIST]}}, LIST]}}
    with pytest.raises(ApplicationSetError, match=r"generators\[0\]\.matrix: a matrix or merge nested this deep"):
        parse_applicationset(appset({"generators": [too_deep]}))


def test_rolling_sync_steps() -> None:
    # progressive-syncs docs: three steps by env label, the last with maxUpdate 10%
    spec = {
        "generators": [LIST],
        "strategy": {
            "type": "RollingSync",
            "rollingSync": {
                "steps": [
                    {"matchExpressions": [{"key": "envLabel", "operator": "In", "values": ["env-dev"]}]},
                    {
                        "matchExpressions": [{"key": "envLabel", "operator": "In", "values": ["env-qa"]}],
                        "maxUpdate": 0,
                    },
                    {
                        "matchExpressions": [{"key": "envLabel", "operator": "In", "values": ["env-prod"]}],
                        "maxUpdate": "10%",
                    },
                ]
            },
        },
    }
    rolling = parse_applicationset(appset(spec)).rolling_sync
    assert rolling is not None
    assert [s.max_update for s in rolling.steps] == [None, 0, "10%"]
    assert rolling.step_of({"envLabel": "env-qa"}) == 1
    assert rolling.step_of({"other": "x"}) is None


@pytest.mark.parametrize(
    ("max_update", "size", "cap"),
    [(None, 7, None), (0, 7, 0), (2, 7, 2), ("10%", 7, 1), ("50%", 7, 3), ("0%", 7, 0), ("100%", 7, 7)],
)
def test_max_update_as_argo_scales_it(max_update: Any, size: int, cap: int | None) -> None:
    assert RollingStep((), max_update).max_updates(size) == cap


def test_rolling_step_operator_other_than_in_notin_is_refused() -> None:
    spec = {
        "generators": [LIST],
        "strategy": {
            "type": "RollingSync",
            "rollingSync": {"steps": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]},
        },
    }
    with pytest.raises(ApplicationSetError, match=r"steps\[0\]\.matchExpressions\[0\]\.operator: 'Exists'"):
        parse_applicationset(appset(spec))


def test_requeue_after_is_the_smallest_git_requeue_with_argo_default() -> None:
    git = {"git": {"repoURL": "r", "directories": [{"path": "*"}]}}
    fast = {"git": {"repoURL": "r", "directories": [{"path": "*"}], "requeueAfterSeconds": 30}}
    assert parse_applicationset(appset({"generators": [git]})).requeue_after_seconds == 180
    nested = {"matrix": {"generators": [git, fast]}}
    assert parse_applicationset(appset({"generators": [LIST, nested]})).requeue_after_seconds == 30


def test_preserved_fields_and_template_patch() -> None:
    spec = {
        "generators": [LIST],
        "preservedFields": {"annotations": ["my-annotation"], "labels": ["my-label"]},
        "templatePatch": "spec:\n  project: x\n",
        "syncPolicy": {"preserveResourcesOnDeletion": True},
    }
    parsed = parse_applicationset(appset(spec))
    assert parsed.preserved_annotations == ("my-annotation",)
    assert parsed.preserved_labels == ("my-label",)
    assert parsed.template_patch == "spec:\n  project: x\n"
    assert parsed.preserve_resources_on_deletion is True


def test_ignore_application_differences_jq_is_refused() -> None:
    spec = {"generators": [LIST], "ignoreApplicationDifferences": [{"jqPathExpressions": [".spec"]}]}
    with pytest.raises(
        ApplicationSetError, match=r"ignoreApplicationDifferences\[0\]\.jqPathExpressions: not supported"
    ):
        parse_applicationset(appset(spec))
