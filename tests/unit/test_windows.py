"""Sync windows: whether an app may sync at a given moment, and when that next changes.

The decision table lives in ``fixtures/windows/cases.yaml``; the tests here cover what a
table cannot: errors, serialisation, and that ``next_change`` is exactly the moment the
decision flips, which is what the ApplicationWorkflow sleeps on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bosun.models import ModelError, parse_project
from bosun.models.base import DOCUMENT_CONTEXT
from bosun.models.project import SyncWindow
from bosun.windows import WindowError, WindowState, describe_window, window_state

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "windows" / "cases.yaml").read_text())

APP: dict[str, str] = {
    "app": "shop-web",
    "namespace": "shop",
    "cluster_server": "https://kubernetes.default.svc",
    "cluster_name": "in-cluster",
}


def windows(*docs: dict[str, Any]) -> list[SyncWindow]:
    return [SyncWindow.model_validate(doc, context=DOCUMENT_CONTEXT) for doc in docs]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def state(ws: list[SyncWindow], now: datetime, **app: str) -> WindowState:
    return window_state(ws, now=now, **{**APP, **app})


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_window_state(case: dict[str, Any]) -> None:
    result = state(windows(*case["windows"]), at(case["now"]), **case.get("app", {}))
    got = result.model_dump(mode="json")
    assert {key: got[key] for key in case["expect"]} == case["expect"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_next_change_is_when_the_decision_flips(case: dict[str, Any]) -> None:
    ws, now = windows(*case["windows"]), at(case["now"])
    first = state(ws, now, **case.get("app", {}))
    if first.next_change is None:
        return
    before = state(ws, first.next_change - timedelta(seconds=1), **case.get("app", {}))
    after = state(ws, first.next_change, **case.get("app", {}))
    assert before.automated_allowed == first.automated_allowed
    assert after.automated_allowed != first.automated_allowed


def test_a_workflow_waking_at_each_change_sees_the_window_open_and_close() -> None:
    ws = windows(
        {"kind": "deny", "schedule": "0 22 * * 5", "duration": "60h", "applications": ["*"]},
        {"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "10h", "applications": ["*"]},
    )
    now = at("2025-01-17T12:00:00Z")  # a Friday, inside the allow window
    seen = []
    for _ in range(4):
        s = state(ws, now)
        seen.append((now.isoformat(), s.automated_allowed))
        assert s.next_change is not None
        now = s.next_change
    assert seen == [
        ("2025-01-17T12:00:00+00:00", True),
        ("2025-01-17T18:00:00+00:00", False),  # the allow window closed for the weekend
        ("2025-01-20T10:00:00+00:00", True),  # the freeze ends inside Monday's allow window
        ("2025-01-20T18:00:00+00:00", False),
    ]


def test_windows_from_a_project_document() -> None:
    project = parse_project(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "team-a"},
            "spec": {
                "syncWindows": [
                    {
                        "kind": "deny",
                        "schedule": "0 22 * * *",
                        "duration": "1h",
                        "timeZone": "Europe/Paris",
                        "namespaces": ["shop"],
                        "manualSync": True,
                        "description": "nightly batch",
                    }
                ]
            },
        }
    )
    s = state(project.spec.sync_windows, at("2025-01-15T22:15:00+01:00"))
    assert (s.automated_allowed, s.manual_allowed) == (False, True)
    assert s.active == ["deny 0 22 * * * for 1h (Europe/Paris): nightly batch"]


def test_state_is_json_serialisable() -> None:
    ws = windows({"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "clusters": ["*"]})
    s = state(ws, at("2025-01-15T22:30:00Z"))
    assert WindowState.model_validate_json(s.model_dump_json()) == s
    assert s.model_dump(mode="json")["next_change"] == "2025-01-15T23:00:00Z"


def test_now_in_another_zone_is_the_same_instant() -> None:
    ws = windows({"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "clusters": ["*"]})
    utc = state(ws, at("2025-01-15T22:30:00Z"))
    tokyo = state(ws, at("2025-01-16T07:30:00+09:00"))
    assert tokyo == utc
    assert utc.next_change is not None and utc.next_change.tzinfo is not None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        state([], datetime(2025, 1, 15, 22, 30))


def test_describe_window() -> None:
    (w,) = windows({"kind": "allow", "schedule": "10 1 * * *", "duration": "1h", "applications": ["*"]})
    assert describe_window(w) == "allow 10 1 * * * for 1h (UTC)"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"schedule": "61 22 * * *"}, r"invalid cron schedule '61 22 \* \* \*': minute field: '61' is outside 0-59"),
        ({"schedule": "0 24 * * *"}, r"hour field: '24' is outside 0-23"),
        ({"schedule": "0 0 L * *"}, r"day-of-month field: 'L' is not a number"),
        ({"schedule": "0 0 1W * *"}, r"day-of-month field: '1W' is not a number"),
        ({"schedule": "0 0 30-1 * *"}, r"day-of-month field: range '30-1' starts after it ends"),
        ({"schedule": "0 0 * DEC-JAN *"}, r"month field: range 'DEC-JAN' starts after it ends"),
        ({"schedule": "0 0 * * 7"}, r"day-of-week field: '7' is outside 0-6"),
        ({"schedule": "0 0 * * MON-"}, r"day-of-week field: '' is not a number or a name \(sun-sat\)"),
        ({"schedule": "*/0 0 * * *"}, r"minute field: the step in '\*/0' must be positive"),
        ({"schedule": "0 0 1-2-3 * *"}, r"day-of-month field: cannot read '1-2-3'"),
        ({"timeZone": "Europe/Pariss"}, r"unknown time zone 'Europe/Pariss'"),
        ({"applications": ["shop-[web"]}, r"invalid pattern glob 'shop-\[web'"),
    ],
)
def test_a_window_that_cannot_be_evaluated_is_named(bad: dict[str, Any], message: str) -> None:
    ok = {"kind": "allow", "schedule": "0 9 * * *", "duration": "8h", "applications": ["*"]}
    deny = {"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "applications": ["*"]}
    ws = windows(ok, deny | bad)
    with pytest.raises(WindowError, match=r"^syncWindows\[1\] \(deny .*\): .*" + message):
        state(ws, at("2025-01-15T12:00:00Z"))


def test_the_model_already_refuses_a_schedule_without_five_fields() -> None:
    with pytest.raises(ModelError, match="expected 5 fields"):
        parse_project(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": "team-a"},
                "spec": {
                    "syncWindows": [
                        {"kind": "deny", "schedule": "0 22 * *", "duration": "1h"},
                    ]
                },
            }
        )


def test_windows_firing_every_minute() -> None:
    # One window that never closes and one that flips every 30 seconds: while the deny
    # window is active neither matters, and a window that never closes has no change.
    ws = windows(
        {"kind": "deny", "schedule": "0 22 * * 5", "duration": "60h", "applications": ["*"]},
        {"kind": "allow", "schedule": "* * * * *", "duration": "30s", "applications": ["*"]},
        {"kind": "allow", "schedule": "* * * * *", "duration": "1m", "namespaces": ["*"]},
    )
    s = state(ws, at("2025-01-17T23:00:00Z"))
    assert (s.automated_allowed, s.next_change) == (False, at("2025-01-20T10:00:00Z"))
    assert state(ws[2:], at("2025-01-17T23:00:00Z")).next_change is None
