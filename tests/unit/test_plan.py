"""The sync plan: gitops-engine's ordering, hooks, waves and pruning, as tables.

Scenario fixtures live in ``fixtures/plan/*.yaml``: the desired objects, the prune
candidates, and the plan a person would read (one summary line per wave).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bosun.plan import (
    KIND_ORDER,
    HookDeletePolicy,
    HookType,
    PlanError,
    SyncOptions,
    SyncPhase,
    SyncPlan,
    TaskAction,
    Wave,
    build_plan,
    delete_policies,
    hook_types,
    is_hook,
    summarize_wave,
    sync_options,
    sync_phases,
    sync_wave,
)
from bosun.resources import Manifest, ResourceKey
from bosun.tracking import apply_tracking

FIXTURES = Path(__file__).parent / "fixtures" / "plan"


def obj(
    kind: str,
    name: str,
    *,
    namespace: str | None = "app",
    api_version: str = "v1",
    annotations: dict[str, str] | None = None,
) -> Manifest:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def plan_of(
    desired: list[Manifest],
    candidates: list[Manifest] | None = None,
    *,
    prune: bool = True,
    app_sync_options: dict[str, str] | None = None,
    app: str | None = None,
) -> SyncPlan:
    return build_plan(
        desired,
        candidates or [],
        prune=prune,
        app_sync_options=app_sync_options or {},
        app=app,
    )


# --------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_scenario(fixture: Path) -> None:
    case = yaml.safe_load(fixture.read_text())
    plan = build_plan(
        case["desired"],
        case["pruneCandidates"],
        prune=case["prune"],
        app_sync_options=case["appSyncOptions"],
    )
    expect = case["expect"]
    assert [summarize_wave(w) for w in plan.waves] == expect["waves"]
    assert [t.key.short for t in plan.sync_fail_hooks] == expect["syncFail"]
    assert [f"{s.key.short}: {s.reason}" for s in plan.skipped] == expect["skipped"]
    assert plan.warnings == []


def test_every_scenario_plan_survives_json_round_trip() -> None:
    for fixture in sorted(FIXTURES.glob("*.yaml")):
        case = yaml.safe_load(fixture.read_text())
        plan = build_plan(
            case["desired"],
            case["pruneCandidates"],
            prune=case["prune"],
            app_sync_options=case["appSyncOptions"],
        )
        text = json.dumps(plan.model_dump(mode="json"))
        assert SyncPlan.model_validate_json(text) == plan
        assert "metadata" not in text  # keys only, never manifests


# --------------------------------------------------------------------------- ordering


def test_kind_order_is_gitops_engines_list() -> None:
    assert KIND_ORDER[:3] == ("Namespace", "NetworkPolicy", "ResourceQuota")
    assert KIND_ORDER.index("CustomResourceDefinition") < KIND_ORDER.index("ClusterRole")
    assert KIND_ORDER[-3:] == ("IngressClass", "Ingress", "APIService")
    assert len(KIND_ORDER) == 35 == len(set(KIND_ORDER))


def test_one_wave_is_sorted_by_kind_order_then_unknown_kinds_by_name() -> None:
    desired = [obj(kind, f"x-{i}", namespace="") for i, kind in enumerate(KIND_ORDER)]
    desired += [
        obj("Zebra", "a", api_version="z.example.com/v1"),
        obj("Alpha", "b", api_version="a.example.com/v1"),
    ]
    random.Random(7).shuffle(desired)
    (wave,) = plan_of(desired).waves
    assert [t.kind for t in wave.tasks] == [*KIND_ORDER, "Zebra", "Alpha"]


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        pytest.param(
            [obj("Service", "b"), obj("Service", "a")],
            ["Sync 0 Service/a", "Sync 0 Service/b"],
            id="same kind: by name",
        ),
        pytest.param(
            [
                obj("ConfigMap", "late", annotations={"argocd.argoproj.io/sync-wave": "2"}),
                obj("Deployment", "early", annotations={"argocd.argoproj.io/sync-wave": "-3"}),
            ],
            ["Sync -3 Deployment/early", "Sync 2 ConfigMap/late"],
            id="wave beats kind",
        ),
        pytest.param(
            [
                obj("Job", "post", annotations={"argocd.argoproj.io/hook": "PostSync"}),
                obj(
                    "Namespace",
                    "late",
                    namespace=None,
                    annotations={"argocd.argoproj.io/sync-wave": "9"},
                ),
                obj(
                    "Job",
                    "pre",
                    annotations={
                        "argocd.argoproj.io/hook": "PreSync",
                        "argocd.argoproj.io/sync-wave": "10",
                    },
                ),
            ],
            ["PreSync 10 Job/pre", "Sync 9 Namespace/late", "PostSync 0 Job/post"],
            id="phase beats wave",
        ),
        pytest.param(
            [obj("Job", "twice", annotations={"argocd.argoproj.io/hook": "PostSync,PreSync"})],
            ["PreSync 0 Job/twice", "PostSync 0 Job/twice"],
            id="a hook with two types runs in both phases",
        ),
        pytest.param(
            [
                obj("Deployment", "web"),
                obj("Job", "check", annotations={"argocd.argoproj.io/hook": "Sync"}),
            ],
            ["Sync 0 Deployment/web", "Sync 0 Job/check"],
            id="Sync hooks sort with resources",
        ),
    ],
)
def test_order(objects: list[Manifest], expected: list[str]) -> None:
    plan = plan_of(objects)
    assert [f"{t.phase} {t.wave} {t.key.short}" for t in plan.tasks] == expected


def test_waves_are_in_execution_order_and_never_repeat() -> None:
    plan = plan_of(
        [
            obj("Job", "pre", annotations={"argocd.argoproj.io/hook": "PreSync"}),
            obj("ConfigMap", "a", annotations={"argocd.argoproj.io/sync-wave": "1"}),
            obj("ConfigMap", "b"),
            obj("Job", "post", annotations={"argocd.argoproj.io/hook": "PostSync"}),
        ]
    )
    assert [(w.phase, w.number) for w in plan.waves] == [
        (SyncPhase.PRE_SYNC, 0),
        (SyncPhase.SYNC, 0),
        (SyncPhase.SYNC, 1),
        (SyncPhase.POST_SYNC, 0),
    ]


def test_namespace_needed_by_a_presync_hook_is_applied_in_presync() -> None:
    plan = plan_of(
        [
            obj("Namespace", "shop", namespace=None),
            obj(
                "Job",
                "migrate",
                namespace="shop",
                annotations={"argocd.argoproj.io/hook": "PreSync"},
            ),
        ]
    )
    first = plan.waves[0]
    assert first.phase is SyncPhase.PRE_SYNC
    assert [(t.key.short, t.action) for t in first.tasks] == [
        ("Namespace/shop", TaskAction.APPLY),
        ("Job/migrate", TaskAction.HOOK),
    ]


# --------------------------------------------------------------------------- waves


@pytest.mark.parametrize(
    ("annotations", "wave"),
    [
        ({}, 0),
        ({"argocd.argoproj.io/sync-wave": "3"}, 3),
        ({"argocd.argoproj.io/sync-wave": "-2"}, -2),
        ({"argocd.argoproj.io/sync-wave": "+4"}, 4),
        ({"helm.sh/hook-weight": "7"}, 7),
        ({"helm.sh/hook-weight": "-7", "argocd.argoproj.io/sync-wave": "1"}, 1),
        ({"helm.sh/hook-weight": "heavy"}, 0),  # Helm treats a bad weight as 0
    ],
)
def test_sync_wave(annotations: dict[str, str], wave: int) -> None:
    assert sync_wave(obj("ConfigMap", "c", annotations=annotations)) == wave


@pytest.mark.parametrize("value", ["abc", "1.5", " 1", "", "1e3", "0x10"])
def test_invalid_sync_wave_is_an_error_naming_the_resource(value: str) -> None:
    bad = obj(
        "Deployment",
        "web",
        namespace="shop",
        api_version="apps/v1",
        annotations={"argocd.argoproj.io/sync-wave": value},
    )
    with pytest.raises(PlanError) as err:
        plan_of([obj("Service", "web"), bad])
    message = str(err.value)
    assert "Deployment/web in namespace shop" in message
    assert "argocd.argoproj.io/sync-wave" in message
    assert repr(value) in message


def test_invalid_sync_wave_on_an_object_being_pruned_is_a_warning() -> None:
    live = obj("ConfigMap", "old", annotations={"argocd.argoproj.io/sync-wave": "soon"})
    plan = plan_of([], [live])
    assert [t.key.short for t in plan.tasks] == ["ConfigMap/old"]
    assert plan.tasks[0].wave == 0
    assert len(plan.warnings) == 1 and "ConfigMap/old" in plan.warnings[0]


# --------------------------------------------------------------------------- hooks


@pytest.mark.parametrize(
    ("annotations", "hook", "types", "phases"),
    [
        ({}, False, (), (SyncPhase.SYNC,)),
        ({"argocd.argoproj.io/hook": "PreSync"}, True, (HookType.PRE_SYNC,), (SyncPhase.PRE_SYNC,)),
        (
            {"argocd.argoproj.io/hook": "PostSync, SyncFail"},
            True,
            (HookType.POST_SYNC, HookType.SYNC_FAIL),
            (SyncPhase.POST_SYNC, SyncPhase.SYNC_FAIL),
        ),
        ({"argocd.argoproj.io/hook": "Skip"}, False, (HookType.SKIP,), ()),
        (
            {"argocd.argoproj.io/hook": "Skip,PreSync"},
            True,
            (HookType.SKIP, HookType.PRE_SYNC),
            (SyncPhase.PRE_SYNC,),
        ),
        ({"argocd.argoproj.io/hook": "Bogus"}, True, (), ()),
        (
            {"helm.sh/hook": "pre-install,pre-upgrade"},
            True,
            (HookType.PRE_SYNC,),
            (SyncPhase.PRE_SYNC,),
        ),
        ({"helm.sh/hook": "post-upgrade"}, True, (HookType.POST_SYNC,), (SyncPhase.POST_SYNC,)),
        ({"helm.sh/hook": "crd-install"}, False, (), (SyncPhase.SYNC,)),
        ({"helm.sh/hook": "test"}, True, (), ()),
        ({"helm.sh/hook": "pre-delete"}, True, (), ()),
        (
            {"argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install"},
            True,
            (HookType.POST_SYNC,),
            (SyncPhase.POST_SYNC,),
        ),
        (
            {"argocd.argoproj.io/hook": "Bogus", "helm.sh/hook": "pre-install"},
            True,
            (HookType.PRE_SYNC,),
            (SyncPhase.PRE_SYNC,),
        ),
    ],
)
def test_hook_annotations(
    annotations: dict[str, str],
    hook: bool,
    types: tuple[HookType, ...],
    phases: tuple[SyncPhase, ...],
) -> None:
    o = obj("Job", "j", annotations=annotations)
    assert is_hook(o) is hook
    assert hook_types(o) == types
    assert sync_phases(o) == phases


@pytest.mark.parametrize(
    ("annotations", "policies"),
    [
        ({"argocd.argoproj.io/hook": "PreSync"}, (HookDeletePolicy.BEFORE_HOOK_CREATION,)),
        (
            {
                "argocd.argoproj.io/hook": "PreSync",
                "argocd.argoproj.io/hook-delete-policy": "HookSucceeded,HookFailed",
            },
            (HookDeletePolicy.HOOK_SUCCEEDED, HookDeletePolicy.HOOK_FAILED),
        ),
        (
            {"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-succeeded"},
            (HookDeletePolicy.HOOK_SUCCEEDED,),
        ),
        (
            {
                "helm.sh/hook": "post-install",
                "helm.sh/hook-delete-policy": "before-hook-creation,hook-failed",
            },
            (HookDeletePolicy.BEFORE_HOOK_CREATION, HookDeletePolicy.HOOK_FAILED),
        ),
        (
            {
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "HookFailed",
                "helm.sh/hook-delete-policy": "hook-failed,hook-succeeded",
            },
            (HookDeletePolicy.HOOK_FAILED, HookDeletePolicy.HOOK_SUCCEEDED),
        ),
        ({"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, ()),  # not a hook
    ],
)
def test_delete_policies(annotations: dict[str, str], policies: tuple[HookDeletePolicy, ...]) -> None:
    assert delete_policies(obj("Job", "j", annotations=annotations)) == policies


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            {"argocd.argoproj.io/hook": "Sync", "argocd.argoproj.io/hook-delete-policy": "Never"},
            "annotation argocd.argoproj.io/hook-delete-policy: unknown delete policy 'Never'; "
            "use HookSucceeded, HookFailed, BeforeHookCreation",
        ),
        (
            {"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-succeded"},
            "annotation helm.sh/hook-delete-policy: unknown delete policy 'hook-succeded'",
        ),
    ],
)
def test_an_unknown_delete_policy_is_a_plan_error(annotations: dict[str, str], message: str) -> None:
    hook = obj("Job", "j", annotations=annotations)
    with pytest.raises(PlanError, match=re.escape(message)):
        delete_policies(hook)
    with pytest.raises(PlanError, match=re.escape(message)):
        plan_of([hook])


@pytest.mark.parametrize("policy", list(HookDeletePolicy))
def test_every_delete_policy_is_acted_on_outside_the_plan(policy: HookDeletePolicy) -> None:
    root = Path(__file__).resolve().parents[2]
    code = "\n".join(p.read_text() for top in ("activities", "workflows") for p in sorted((root / top).rglob("*.py")))
    assert f"HookDeletePolicy.{policy.name}" in code


def test_hook_tasks_carry_type_and_delete_policies() -> None:
    plan = plan_of(
        [
            obj(
                "Job",
                "migrate",
                annotations={
                    "helm.sh/hook": "pre-upgrade",
                    "helm.sh/hook-delete-policy": "hook-succeeded",
                },
            ),
            obj("Deployment", "web", api_version="apps/v1"),
        ]
    )
    hook, apply = plan.tasks
    assert (hook.action, hook.hook_type, hook.delete_policies) == (
        TaskAction.HOOK,
        HookType.PRE_SYNC,
        (HookDeletePolicy.HOOK_SUCCEEDED,),
    )
    assert (apply.action, apply.hook_type, apply.delete_policies) == (TaskAction.APPLY, None, ())


def test_sync_fail_hooks_are_kept_out_of_the_waves() -> None:
    plan = plan_of(
        [
            obj("Job", "cleanup", annotations={"argocd.argoproj.io/hook": "SyncFail"}),
            obj("Job", "alert", annotations={"argocd.argoproj.io/hook": "SyncFail"}),
            obj("ConfigMap", "c"),
        ]
    )
    assert [t.key.short for t in plan.sync_fail_hooks] == ["Job/alert", "Job/cleanup"]
    assert all(t.hook_type is HookType.SYNC_FAIL for t in plan.sync_fail_hooks)
    assert all(w.phase is not SyncPhase.SYNC_FAIL for w in plan.waves)
    assert plan.summary()[-1] == "SyncFail (on failure): Job/alert, Job/cleanup"


def test_hook_with_generate_name_is_keyed_by_its_prefix() -> None:
    hook: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "db-migrate-",
            "namespace": "app",
            "annotations": {"argocd.argoproj.io/hook": "PreSync"},
        },
    }
    (task,) = plan_of([hook]).tasks
    assert task.key == ResourceKey(group="batch", kind="Job", namespace="app", name="db-migrate-")
    assert task.generate_name


# --------------------------------------------------------------------------- sync options


@pytest.mark.parametrize(
    ("app", "annotation", "expected"),
    [
        ({}, None, SyncOptions()),
        ({}, "Prune=false", SyncOptions(prune=False)),
        ({}, "Delete=false", SyncOptions(delete=False)),
        ({}, "PruneLast=true", SyncOptions(prune_last=True)),
        ({}, "Replace=true,Force=true", SyncOptions(replace=True, force=True)),
        ({}, "Validate=false", SyncOptions(validate_schema=False)),
        (
            {},
            "SkipDryRunOnMissingResource=true",
            SyncOptions(skip_dry_run_on_missing_resource=True),
        ),
        ({"ServerSideApply": "true"}, None, SyncOptions()),
        ({"Prune": "false"}, "Prune=true", SyncOptions()),
        ({"Prune": "false"}, "Replace=true", SyncOptions(prune=False, replace=True)),
        (
            {},
            " Prune=false ,, ServerSideApply=true ",
            SyncOptions(prune=False),
        ),
    ],
)
def test_sync_options_merge(app: dict[str, str], annotation: str | None, expected: SyncOptions) -> None:
    annotations = {"argocd.argoproj.io/sync-options": annotation} if annotation else None
    assert sync_options(obj("ConfigMap", "c", annotations=annotations), app) == expected


def test_tasks_carry_only_the_options_that_were_set() -> None:
    (task,) = plan_of(
        [obj("ConfigMap", "c", annotations={"argocd.argoproj.io/sync-options": "Replace=true"})],
        app_sync_options={"ServerSideApply": "true"},
    ).tasks
    assert task.sync_options == {"ServerSideApply": "true", "Replace": "true"}
    assert task.options == SyncOptions(replace=True)


def test_compare_options_ignore_extraneous_is_recorded_and_still_pruned() -> None:
    live = obj(
        "ConfigMap",
        "generated",
        annotations={"argocd.argoproj.io/compare-options": "IgnoreExtraneous"},
    )
    (task,) = plan_of([], [live]).tasks
    assert task.action is TaskAction.PRUNE
    assert task.ignore_extraneous


def test_an_invalid_compare_options_annotation_on_a_desired_object_is_a_plan_error() -> None:
    bad = obj("ConfigMap", "c", annotations={"argocd.argoproj.io/compare-options": "IgnoreExtraneus"})
    with pytest.raises(PlanError, match=r"ConfigMap.*annotation argocd\.argoproj\.io/compare-options: .*did you mean"):
        plan_of([bad])


def test_an_invalid_compare_options_annotation_on_a_live_object_is_a_warning() -> None:
    live = obj("ConfigMap", "old", annotations={"argocd.argoproj.io/compare-options": "IgnoreExtraneous=true"})
    plan = plan_of([], [live])
    (task,) = plan.tasks
    assert task.action is TaskAction.PRUNE and not task.ignore_extraneous
    (warning,) = plan.warnings
    assert "IgnoreExtraneous takes no value" in warning


# --------------------------------------------------------------------------- pruning


def test_prune_tasks_run_before_applies_in_their_wave_in_reverse_kind_order() -> None:
    plan = plan_of(
        [obj("Deployment", "web", api_version="apps/v1")],
        [
            obj("Namespace", "old", namespace=None),
            obj("Widget", "w", api_version="example.com/v1"),
            obj("Deployment", "old", api_version="apps/v1"),
        ],
    )
    (wave,) = plan.waves
    assert [(t.action.value, t.key.short) for t in wave.tasks] == [
        ("prune", "Widget/w"),
        ("prune", "Deployment/old"),
        ("prune", "Namespace/old"),
        ("apply", "Deployment/web"),
    ]


@pytest.mark.parametrize(
    ("live_waves", "expected"),
    [
        ([0], [0]),
        ([0, 1], [1, 0]),
        ([-1, 0, 4], [4, 0, -1]),
        ([1, 2, 3, 4], [4, 3, 2, 1]),
        ([2, 2, 7], [7, 7, 2]),
    ],
)
def test_prune_waves_are_mirrored(live_waves: list[int], expected: list[int]) -> None:
    candidates = [
        obj("ConfigMap", f"c{i}", annotations={"argocd.argoproj.io/sync-wave": str(w)})
        for i, w in enumerate(live_waves)
    ]
    waves = {t.key.name: t.wave for t in plan_of([], candidates).tasks}
    assert [waves[f"c{i}"] for i in range(len(live_waves))] == expected


@pytest.mark.parametrize(
    ("desired_waves", "expected"),
    [
        ([], 1),  # even with nothing else, the PruneLast wave comes after wave 0
        ([-3], 1),
        ([0, 4], 5),
    ],
)
def test_prune_last_goes_after_the_last_sync_wave(desired_waves: list[int], expected: int) -> None:
    desired = [
        obj("ConfigMap", f"d{i}", annotations={"argocd.argoproj.io/sync-wave": str(w)})
        for i, w in enumerate(desired_waves)
    ]
    live = obj("Secret", "old", annotations={"argocd.argoproj.io/sync-options": "PruneLast=true"})
    plan = plan_of(desired, [live])
    last = plan.waves[-1]
    assert (last.phase, last.number) == (SyncPhase.SYNC, expected)
    assert [t.key.short for t in last.tasks] == ["Secret/old"]


def test_prune_false_is_reported_not_pruned() -> None:
    live = obj(
        "PersistentVolumeClaim",
        "data",
        annotations={"argocd.argoproj.io/sync-options": "Prune=false"},
    )
    plan = plan_of([obj("ConfigMap", "c")], [live])
    assert [t.key.short for t in plan.tasks] == ["ConfigMap/c"]
    assert [(s.key.short, s.reason) for s in plan.skipped] == [
        ("PersistentVolumeClaim/data", "not pruned: Prune=false")
    ]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("prune=false", "unknown sync option 'prune' (keys are case-sensitive: Prune)"),
        ("Prune=confirm", "not supported yet"),
        ("Prune = false", "remove the spaces"),
        ("CreateNamespace=true", "set it in the app's spec.syncPolicy.syncOptions"),
        ("Prune=false,Prune=true", "conflicts with Prune=false"),
    ],
)
def test_an_invalid_sync_options_annotation_on_a_desired_object_is_a_plan_error(annotation: str, message: str) -> None:
    bad = obj("ConfigMap", "c", annotations={"argocd.argoproj.io/sync-options": annotation})
    with pytest.raises(PlanError, match="ConfigMap") as err:
        plan_of([obj("ConfigMap", "ok"), bad])
    assert "annotation argocd.argoproj.io/sync-options" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("app_options", "message"),
    [
        ({"Prune": "confirm"}, "not supported yet"),
        ({"Delete": "false"}, "per-resource option"),
        ({"ServerSideApply": "false"}, "always applies server-side"),
    ],
)
def test_app_options_bosun_refuses_are_a_plan_error(app_options: dict[str, str], message: str) -> None:
    with pytest.raises(PlanError, match=r"spec\.syncPolicy\.syncOptions: .*" + message):
        plan_of([obj("ConfigMap", "c")], app_sync_options=app_options)


def test_an_invalid_sync_options_annotation_on_a_live_object_keeps_it() -> None:
    live = obj("PersistentVolumeClaim", "data", annotations={"argocd.argoproj.io/sync-options": "prune=false"})
    plan = plan_of([obj("ConfigMap", "c")], [live])
    assert [t.key.short for t in plan.tasks] == ["ConfigMap/c"]
    assert [(s.key.short, s.reason) for s in plan.skipped] == [
        ("PersistentVolumeClaim/data", "not pruned: invalid argocd.argoproj.io/sync-options")
    ]
    (warning,) = plan.warnings
    assert "unknown sync option 'prune'" in warning


def test_candidates_that_are_still_desired_are_not_pruned() -> None:
    desired = [obj("ClusterRole", "reader", namespace=None, api_version="rbac.authorization.k8s.io/v1")]
    live = [
        obj("ClusterRole", "reader", namespace=None, api_version="rbac.authorization.k8s.io/v1"),
        # the same object, written with a namespace it does not have
        obj("ClusterRole", "reader", namespace="app", api_version="rbac.authorization.k8s.io/v1"),
    ]
    plan = plan_of(desired, live)
    assert [(t.action, t.key.short) for t in plan.tasks] == [(TaskAction.APPLY, "ClusterRole/reader")]


def test_skip_objects_and_hooks_are_never_pruned() -> None:
    live = [
        obj("ConfigMap", "manual", annotations={"argocd.argoproj.io/hook": "Skip"}),
        obj("Job", "old-hook", annotations={"helm.sh/hook": "post-install"}),
    ]
    plan = plan_of([], live)
    assert plan.waves == []
    assert {s.key.short for s in plan.skipped} == {"ConfigMap/manual", "Job/old-hook"}


def test_with_app_only_objects_tracked_by_it_are_pruned() -> None:
    mine = apply_tracking(obj("ConfigMap", "mine"), "shop")
    theirs = apply_tracking(obj("ConfigMap", "theirs"), "other")
    copied = apply_tracking(obj("ConfigMap", "original"), "shop")
    copied["metadata"]["name"] = "copy"  # annotation copied onto another object
    plan = plan_of([], [mine, theirs, copied], app="shop")
    assert [t.key.short for t in plan.tasks] == ["ConfigMap/mine"]
    assert {s.key.short for s in plan.skipped} == {"ConfigMap/theirs", "ConfigMap/copy"}


# --------------------------------------------------------------------------- the rest


def test_duplicate_desired_objects_warn_and_plan_once() -> None:
    plan = plan_of([obj("ConfigMap", "c"), obj("ConfigMap", "c")])
    assert len(plan.tasks) == 1
    assert plan.warnings == ["ConfigMap/c in namespace app is defined more than once; the last one is used"]


def test_skipped_desired_objects_do_not_need_a_valid_wave() -> None:
    skip = obj(
        "ConfigMap",
        "c",
        annotations={"argocd.argoproj.io/hook": "Skip", "argocd.argoproj.io/sync-wave": "x"},
    )
    assert plan_of([skip]).waves == []


def test_summarize_empty_wave() -> None:
    wave = Wave(phase=SyncPhase.PRE_SYNC, number=0, tasks=())
    assert summarize_wave(wave) == "PreSync wave 0: nothing to do"


def test_summarize_wave_limits_long_lists() -> None:
    plan = plan_of([obj("ConfigMap", f"c{i:02}") for i in range(25)])
    line = summarize_wave(plan.waves[0], limit=3)
    assert line == "Sync wave 0: apply ConfigMap/c00, ConfigMap/c01, ConfigMap/c02 and 22 more"


def test_summary_of_a_typical_sync() -> None:
    plan = plan_of(
        [
            obj(
                "Job",
                "migrate",
                api_version="batch/v1",
                annotations={"argocd.argoproj.io/hook": "PreSync"},
            ),
            obj(
                "Deployment",
                "web",
                api_version="apps/v1",
                annotations={"argocd.argoproj.io/sync-wave": "1"},
            ),
            obj("Service", "web", annotations={"argocd.argoproj.io/sync-wave": "1"}),
        ]
    )
    assert plan.summary() == [
        "PreSync wave 0: Job/migrate",
        "Sync wave 1: apply Service/web, Deployment/web",
    ]
