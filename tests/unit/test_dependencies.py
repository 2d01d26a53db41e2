"""bosun.dependencies: the ``bosun.dev/depends-on`` annotation, readiness, cycles."""

from __future__ import annotations

import pytest

from bosun.dependencies import (
    DEPENDS_ON_ANNOTATION,
    MAX_DEPENDENCIES,
    DependencyError,
    DependencyStatus,
    cycle_message,
    depends_on,
    describe_cycle,
    find_cycle,
    graph_text,
    not_ready_reason,
    parse_depends_on,
    waiting_message,
    with_reasons,
)

COMMIT = "a" * 40
NEWER = "b" * 40


def ready(name: str = "db", **changes: object) -> DependencyStatus:
    fields: dict[str, object] = {
        "name": name,
        "sync": "Synced",
        "health": "Healthy",
        "operation": "idle",
        "revisions": [COMMIT],
        "current": [COMMIT],
        "target": "main",
    }
    fields.update(changes)
    return DependencyStatus.model_validate(fields)


# ------------------------------------------------------------------ the annotation


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, ()),
        ("", ()),
        ("  ", ()),
        ("db", ("db",)),
        ("db,cache", ("db", "cache")),
        (" db , cache ", ("db", "cache")),
        ("db,db,cache", ("db", "cache")),
        ("team-a/db,cache", ("team-a/db", "cache")),
        ("my.app-1", ("my.app-1",)),
    ],
)
def test_parse_depends_on(value: str | None, names: tuple[str, ...]) -> None:
    assert parse_depends_on(value, app="web") == names


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("db,,cache", "empty app name"),
        ("db,", "empty app name"),
        ("Db", "'Db' is not an app name"),
        ("a/b/c", "'a/b/c' is not an app name"),
        ("/db", "'/db' is not an app name"),
        ("db/", "'db/' is not an app name"),
        ("db_1", "'db_1' is not an app name"),
        ("-db", "'-db' is not an app name"),
        ("web", "app 'web' cannot depend on itself"),
        ("db, web", "app 'web' cannot depend on itself"),
    ],
)
def test_invalid_annotations_are_refused_naming_the_annotation(value: str, fragment: str) -> None:
    with pytest.raises(DependencyError) as err:
        parse_depends_on(value, app="web")
    assert str(err.value).startswith(f"{DEPENDS_ON_ANNOTATION}: ")
    assert fragment in str(err.value)


def test_a_qualified_app_cannot_depend_on_itself_either() -> None:
    with pytest.raises(DependencyError, match="cannot depend on itself"):
        parse_depends_on("db,team-a/web", app="team-a/web")
    assert parse_depends_on("web", app="team-a/web") == ("web",)  # a home app of the same name is another app


def test_too_many_dependencies() -> None:
    value = ",".join(f"app-{i}" for i in range(MAX_DEPENDENCIES + 1))
    with pytest.raises(DependencyError, match=f"at most {MAX_DEPENDENCIES}"):
        parse_depends_on(value, app="web")
    assert len(parse_depends_on(",".join(f"app-{i}" for i in range(MAX_DEPENDENCIES)), app="web")) == MAX_DEPENDENCIES


def test_depends_on_reads_the_annotation() -> None:
    assert depends_on(None, app="web") == ()
    assert depends_on({"other": "x"}, app="web") == ()
    assert depends_on({DEPENDS_ON_ANNOTATION: "db,cache"}, app="web") == ("db", "cache")


# ------------------------------------------------------------------ readiness


def test_a_synced_healthy_idle_dependency_at_its_current_revision_is_ready() -> None:
    dep = ready()
    assert dep.ready and not_ready_reason(dep) == ""
    assert waiting_message([dep]) == ""


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"found": False}, "not found (no running app workflow)"),
        ({"error": "cannot read its status: timeout"}, "cannot read its status: timeout"),
        ({"operation": "deleted"}, "deleted"),
        ({"operation": "syncing to aaaa (manual)"}, "operation running (syncing to aaaa (manual))"),
        ({"sync": "OutOfSync"}, "OutOfSync, not Synced"),
        ({"sync": ""}, "Unknown, not Synced"),
        ({"health": "Progressing"}, "Progressing, not Healthy"),
        ({"health": "Degraded"}, "Degraded, not Healthy"),
        ({"current": [NEWER]}, f"compared at {COMMIT[:12]}, but main is now {NEWER[:12]}"),
        ({"current": []}, f"compared at {COMMIT[:12]}, but main is now ?"),
        ({"revisions": [], "current": [COMMIT]}, f"compared at -, but main is now {COMMIT[:12]}"),
        ({"revisions": [COMMIT, "1.2.0"], "current": [COMMIT, "1.3.0"]}, "compared at"),
    ],
)
def test_why_a_dependency_is_not_ready(changes: dict[str, object], reason: str) -> None:
    dep = ready(**changes)
    assert not dep.ready
    assert not_ready_reason(dep).startswith(reason)


def test_the_first_reason_wins_in_order_of_what_to_fix_first() -> None:
    dep = ready(sync="OutOfSync", health="Degraded", current=[NEWER])
    assert not_ready_reason(dep) == "OutOfSync, not Synced"
    dep = ready(operation="comparing", sync="OutOfSync")
    assert not_ready_reason(dep) == "operation running (comparing)"


def test_waiting_message_names_each_dependency_not_ready_in_fluxs_words() -> None:
    deps = [ready("db", health="Progressing"), ready("cache"), ready("queue", found=False)]
    assert waiting_message(deps) == (
        "dependency 'db' is not ready: Progressing, not Healthy; "
        "dependency 'queue' is not ready: not found (no running app workflow)"
    )
    assert [d.reason for d in with_reasons(deps)] == [
        "Progressing, not Healthy",
        "",
        "not found (no running app workflow)",
    ]


def test_graph_text_for_the_workflow_details() -> None:
    assert graph_text("web", []) == ""
    text = graph_text("web", [ready("db"), ready("cache", health="Progressing")])
    assert text == "web depends on db (Synced/Healthy), cache (Synced/Progressing, waiting)"


# ------------------------------------------------------------------ cycles


def test_no_cycle() -> None:
    assert find_cycle({}, "a") == []
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}, "a") == []
    assert find_cycle({"a": ["b"]}, "a") == []  # b's edges unknown: none invented


def test_two_apps_on_a_cycle() -> None:
    cycle = find_cycle({"a": ["b"], "b": ["a"]}, "a")
    assert cycle == ["a", "b", "a"]
    assert describe_cycle(cycle) == "a → b → a"
    assert cycle_message(cycle) == (
        f"{DEPENDS_ON_ANNOTATION}: dependency cycle a → b → a; none of these apps syncs until the cycle is broken"
    )


def test_a_longer_cycle_is_found_through_the_start_with_the_whole_path() -> None:
    graph = {"web": ["cache", "db"], "cache": [], "db": ["team-a/queue"], "team-a/queue": ["web"]}
    assert find_cycle(graph, "web") == ["web", "db", "team-a/queue", "web"]
    assert find_cycle(graph, "db") == ["db", "team-a/queue", "web", "db"]


def test_a_cycle_the_start_is_not_on_is_not_its_cycle() -> None:
    """web waits for db like any dependency; db and queue refuse themselves."""
    graph = {"web": ["db"], "db": ["queue"], "queue": ["db"]}
    assert find_cycle(graph, "web") == []
    assert find_cycle(graph, "db") == ["db", "queue", "db"]


def test_diamonds_are_not_cycles_and_are_searched_once() -> None:
    graph = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": ["e"], "e": []}
    assert find_cycle(graph, "a") == []
    wide = {"a": [f"n{i}" for i in range(200)], **{f"n{i}": [f"n{j}" for j in range(i + 1, 200)] for i in range(200)}}
    assert find_cycle(wide, "a") == []  # each node visited once: fast despite 20,000 edges
    wide["n199"] = ["a"]
    assert find_cycle(wide, "a") == ["a", "n0", "n1", *[f"n{i}" for i in range(2, 200)], "a"]


# ------------------------------------------------------------------ bosun app get


def test_app_get_shows_each_dependency_now_and_what_the_last_check_said() -> None:
    from cli.app import dependency_table
    from workflows.state import AppStatus

    status = AppStatus(
        name="web",
        depends_on=["db", "cache", "queue", "team-a/new"],
        dependencies=[ready("db", health="Progressing", reason="Progressing, not Healthy"), ready("cache")],
    )
    db_now = AppStatus.model_validate({"name": "db", "sync": "Synced", "health": "Healthy", "revision": COMMIT})
    cache_now = AppStatus.model_validate({"name": "cache", "sync": "Synced", "health": "Healthy", "revision": NEWER})
    text = dependency_table(status, {"db": db_now, "cache": cache_now, "queue": None, "team-a/new": None})
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert lines == [
        "APP SYNC HEALTH REVISION LAST CHECK",
        f"db Synced Healthy {COMMIT[:12]} waiting: Progressing, not Healthy",
        f"cache Synced Healthy {NEWER[:12]} ready",
        "queue - - - not found",
        "team-a/new - - - not found",
    ]
