"""rolling_sync_plan: Argo CD's RollingSync decisions, step by step (after the cases of
applicationset_controller_test.go: TestBuildAppDependencyList, TestBuildAppSyncMap,
TestUpdateApplicationSetApplicationStatus, TestUpdateApplicationSetApplicationStatusProgress)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bosun.appset.rolling import AppProgress, rolling_sync_plan, step_lists, without_automated_sync
from bosun.appset.spec import MatchExpression, RollingStep, RollingSync


def step(env: str, max_update: int | str | None = None) -> RollingStep:
    return RollingStep((MatchExpression("env", "In", (env,)),), max_update)


THREE_STEPS = RollingSync((step("dev"), step("qa"), step("prod")))


def progress(name: str, env: str | None, **state: Any) -> AppProgress:
    defaults: dict[str, Any] = {"sync_status": "OutOfSync", "health": "Healthy", "status": "", "step": None}
    return AppProgress(name=name, labels={"env": env} if env else {}, **{**defaults, **state})


def test_step_lists_first_match_wins_and_notin_matches_absent_labels() -> None:
    strategy = RollingSync((RollingStep((MatchExpression("env", "NotIn", ("prod",)),), None), step("prod")))
    lists, step_of = step_lists(strategy, [progress("a", "dev"), progress("b", None), progress("c", "prod")])
    assert lists == [["a", "b"], ["c"]]
    assert step_of == {"a": 0, "b": 0, "c": 1}


def test_first_reconcile_only_step_one_becomes_pending_and_is_synced() -> None:
    apps = [progress("dev-1", "dev"), progress("qa-1", "qa"), progress("prod-1", "prod")]
    decision = rolling_sync_plan(THREE_STEPS, apps)
    assert decision.to_sync == ["dev-1"]
    assert {n: s.status for n, s in decision.statuses.items()} == {
        "dev-1": "Pending",
        "qa-1": "Waiting",
        "prod-1": "Waiting",
    }
    assert decision.statuses["qa-1"].step == 2
    assert decision.current_step == 1
    assert not decision.done


def run(strategy: RollingSync, apps: list[AppProgress], **live: dict[str, Any]) -> list[AppProgress]:
    """One reconcile: apply the decision's statuses, then the apps' new live state."""
    decision = rolling_sync_plan(strategy, apps)
    result = []
    for app in apps:
        entry = decision.statuses[app.name]
        result.append(replace(entry, **live.get(app.name, {})))
    return result


def test_step_two_waits_until_step_one_is_healthy_and_synced() -> None:
    apps = [progress("dev-1", "dev"), progress("qa-1", "qa")]
    apps = run(THREE_STEPS, apps)  # dev-1 Pending, synced
    # dev-1's sync succeeded but the app is Degraded: Progressing, and step 2 must not start
    apps = [
        replace(a, sync_status="Synced", operation_phase="Succeeded", health="Degraded") if a.name == "dev-1" else a
        for a in apps
    ]
    decision = rolling_sync_plan(THREE_STEPS, apps)
    assert decision.statuses["dev-1"].status == "Progressing"
    assert decision.statuses["qa-1"].status == "Waiting"
    assert decision.to_sync == []
    assert decision.current_step == 1
    # dev-1 becomes Healthy: it is marked Healthy, and step 2 is released on the next decision
    apps = [
        replace(decision.statuses[a.name], health="Healthy") if a.name == "dev-1" else decision.statuses[a.name]
        for a in apps
    ]
    decision = rolling_sync_plan(THREE_STEPS, apps)
    assert decision.statuses["dev-1"].status == "Healthy"
    assert decision.statuses["qa-1"].status == "Pending"
    assert decision.to_sync == ["qa-1"]
    assert decision.current_step == 2


def test_max_update_caps_pending_and_progressing_in_a_step() -> None:
    strategy = RollingSync((step("prod", 2),))
    apps = [progress(f"p{i}", "prod") for i in range(5)]
    decision = rolling_sync_plan(strategy, apps)
    assert decision.to_sync == ["p0", "p1"]
    # the next decision adds none while both are still Pending or Progressing
    again = rolling_sync_plan(strategy, list(decision.statuses.values()))
    assert again.to_sync == ["p0", "p1"]  # still OutOfSync and Pending: Argo CD asks to sync them again
    assert [n for n, s in again.statuses.items() if s.status == "Pending"] == ["p0", "p1"]


def test_max_update_percentage_rounds_down_but_at_least_one() -> None:
    strategy = RollingSync((step("prod", "10%"),))
    decision = rolling_sync_plan(strategy, [progress(f"p{i}", "prod") for i in range(5)])
    assert decision.to_sync == ["p0"]


def test_max_update_zero_holds_the_step() -> None:
    strategy = RollingSync((step("prod", 0),))
    decision = rolling_sync_plan(strategy, [progress("p0", "prod")])
    assert decision.to_sync == []
    assert decision.statuses["p0"].status == "Waiting"


def test_apps_in_no_step_are_never_synced() -> None:
    decision = rolling_sync_plan(THREE_STEPS, [progress("stray", "other"), progress("dev-1", "dev")])
    assert decision.to_sync == ["dev-1"]
    assert decision.statuses["stray"].status == "Waiting"
    assert decision.statuses["stray"].step is None


def test_healthy_and_synced_apps_are_healthy_at_once_and_the_rollout_is_done() -> None:
    apps = [progress(n, env, sync_status="Synced") for n, env in (("d", "dev"), ("q", "qa"), ("p", "prod"))]
    decision = rolling_sync_plan(THREE_STEPS, apps)
    assert {s.status for s in decision.statuses.values()} == {"Healthy"}
    assert decision.done and decision.current_step is None and decision.to_sync == []


def test_healthy_app_that_goes_out_of_sync_waits_again() -> None:
    app = progress("d", "dev", status="Healthy", sync_status="OutOfSync")
    decision = rolling_sync_plan(THREE_STEPS, [app])
    assert decision.statuses["d"].status == "Pending"  # back to Waiting, then released (step 1)
    assert decision.to_sync == ["d"]


def test_pending_app_with_a_running_operation_is_progressing_and_not_synced_again() -> None:
    app = progress("d", "dev", status="Pending", operation_phase="Running", health="Progressing")
    decision = rolling_sync_plan(THREE_STEPS, [app])
    assert decision.statuses["d"].status == "Progressing"
    assert decision.to_sync == []


def test_succeeded_sync_of_other_revisions_stays_pending() -> None:
    app = progress(
        "d",
        "dev",
        status="Pending",
        sync_status="Synced",
        health="Progressing",
        operation_phase="Succeeded",
        target_revisions=("abc",),
        synced_revisions=("old",),
    )
    decision = rolling_sync_plan(THREE_STEPS, [app])
    assert decision.statuses["d"].status == "Pending"


def test_without_automated_sync() -> None:
    application = {"spec": {"syncPolicy": {"automated": {"prune": True}, "syncOptions": ["x"]}}}
    stripped, prune = without_automated_sync(application)
    assert stripped == {"spec": {"syncPolicy": {"syncOptions": ["x"]}}}
    assert prune is True
    assert application["spec"]["syncPolicy"]["automated"] == {"prune": True}


def test_succeeded_sync_with_unknown_result_revisions_counts() -> None:
    app = progress(
        "d", "dev", status="Pending", sync_status="Synced", health="Progressing", operation_phase="Succeeded"
    )
    assert rolling_sync_plan(THREE_STEPS, [app]).statuses["d"].status == "Progressing"


def test_pending_app_that_needs_no_sync_and_is_healthy_does_not_stall_the_rollout() -> None:
    apps = [
        progress("d", "dev", status="Pending", sync_status="Synced", health="Healthy"),
        progress("q", "qa", status="Waiting"),
    ]
    decision = rolling_sync_plan(THREE_STEPS, apps)
    assert decision.statuses["d"].status == "Healthy"
    assert decision.to_sync == ["q"]


def test_a_pending_app_whose_revisions_moved_is_not_stuck_on_the_old_ones() -> None:
    """A new commit while an app is Pending: its entry recorded the old revisions, the sync ran at
    the new ones, and the two never matched (the app stayed Pending and held every later step).
    As Argo CD 3.x, moved revisions send the entry back to Waiting with the new ones."""
    moved = {"status": "Pending", "target_revisions": ("old",), "revisions": ("new",)}
    synced = progress(
        "d", "dev", **moved, sync_status="Synced", health="Progressing", operation_phase="Succeeded",
        synced_revisions=("new",),
    )  # fmt: skip
    assert rolling_sync_plan(THREE_STEPS, [synced]).statuses["d"].status == "Progressing"
    healthy = progress("d", "dev", **moved, sync_status="Synced", health="Healthy", operation_phase="Succeeded")
    decision = rolling_sync_plan(THREE_STEPS, [healthy])
    assert decision.statuses["d"].status == "Healthy" and decision.statuses["d"].target_revisions == ("new",)
    behind = progress("d", "dev", **moved, sync_status="OutOfSync", health="Healthy", operation_phase="Succeeded")
    decision = rolling_sync_plan(THREE_STEPS, [behind])
    assert decision.statuses["d"].status == "Pending" and decision.to_sync == ["d"]  # synced again, at the new ones
