"""Values derived from an Application's spec (:mod:`bosun.app_spec`), one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from bosun import app_spec
from bosun.app_spec import OperationRetry
from bosun.models import Application, parse_application


def application(spec: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> Application:
    metadata: dict[str, Any] = {"name": "web"}
    if annotations:
        metadata["annotations"] = annotations
    return parse_application(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": metadata,
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://git.example/web.git", "path": "k8s", "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
                **(spec or {}),
            },
        },
        source_name="test",
    )


@pytest.mark.parametrize(
    ("policy", "prune", "self_heal"),
    [
        (None, False, False),
        ({"automated": {}}, False, False),
        ({"automated": {"prune": True}}, True, False),
        ({"automated": {"selfHeal": True}}, False, True),
        ({"automated": {"prune": True, "selfHeal": True, "enabled": False}}, True, True),
    ],
    ids=["no policy", "automated", "prune", "selfHeal", "both (read even while disabled)"],
)
def test_automated_flags(policy: dict[str, Any] | None, prune: bool, self_heal: bool) -> None:
    app = application({"syncPolicy": policy} if policy is not None else None)
    assert (app_spec.auto_prune(app), app_spec.self_heal(app)) == (prune, self_heal)


def test_allow_empty() -> None:
    assert not app_spec.allow_empty(application())
    assert app_spec.allow_empty(application({"syncPolicy": {"automated": {"prune": True, "allowEmpty": True}}}))


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        (None, OperationRetry()),
        ({"limit": 3}, OperationRetry(limit=3)),
        ({"limit": -1}, OperationRetry(limit=-1)),
        (
            {"limit": 2, "backoff": {"duration": "10s", "factor": 3, "maxDuration": "1m"}},
            OperationRetry(limit=2, duration_seconds=10, factor=3, max_duration_seconds=60),
        ),
        ({"limit": 1, "backoff": {"maxDuration": "0"}}, OperationRetry(limit=1, max_duration_seconds=None)),
    ],
    ids=["no retry block: no retry", "limit", "unlimited", "backoff", "maxDuration 0: no cap (Argo CD)"],
)
def test_operation_retry(retry: dict[str, Any] | None, expected: OperationRetry) -> None:
    app = application({"syncPolicy": {"retry": retry}} if retry is not None else None)
    assert app_spec.operation_retry(app) == expected


def test_operation_retry_delays_follow_argo_cd() -> None:
    retry = OperationRetry(limit=3)
    assert [retry.delay(n) for n in (1, 2, 3, 10)] == [5.0, 10.0, 20.0, 180.0]
    assert retry.allows(3) and not retry.allows(4)
    assert OperationRetry(limit=-1).allows(1000)


def test_target_revision_and_history_limit() -> None:
    assert app_spec.target_revision(application()) == "main"
    assert app_spec.history_limit(application()) == 10
    assert app_spec.history_limit(application({"revisionHistoryLimit": 2})) == 2


def test_namespace_metadata() -> None:
    assert app_spec.namespace_metadata(application()) == {}
    managed = {"managedNamespaceMetadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}}}
    assert app_spec.namespace_metadata(application({"syncPolicy": managed})) == {
        "labels": {"team": "a"},
        "annotations": {"x": "y"},
    }


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, ("", "UTC")),
        ({app_spec.SYNC_SCHEDULE_ANNOTATION: " 0 3 * * * "}, ("0 3 * * *", "UTC")),
        (
            {
                app_spec.SYNC_SCHEDULE_ANNOTATION: "0 3 * * *",
                app_spec.SYNC_SCHEDULE_TIMEZONE_ANNOTATION: "Europe/Paris",
            },
            ("0 3 * * *", "Europe/Paris"),
        ),
        ({app_spec.SYNC_SCHEDULE_TIMEZONE_ANNOTATION: " "}, ("", "UTC")),
    ],
    ids=["none", "cron trimmed", "with zone", "blank zone is UTC"],
)
def test_sync_schedule(annotations: dict[str, str] | None, expected: tuple[str, str]) -> None:
    assert app_spec.sync_schedule(application(annotations=annotations)) == expected
