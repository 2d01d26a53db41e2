"""The chaos run's counters (tests/chaos/chaos_run.py) see what they are meant to see: a hook
created twice, a hook missing, the recovery after a fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.chaos.chaos_run import Fault, SyncRecord, count_hooks, measure_recovery

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMESPACES = {"web": "web-ns"}


def synced(generation: int, workflow_id: str, *, committed: float, finished: float | None) -> SyncRecord:
    return SyncRecord(
        app="web",
        generation=generation,
        commit=f"{generation:040d}",
        phase="Succeeded" if finished is not None else "",
        workflow_id=workflow_id,
        committed_at=T0 + timedelta(seconds=committed),
        finished_at=T0 + timedelta(seconds=finished) if finished is not None else None,
    )


def test_one_job_per_hook_per_operation_is_counted_once() -> None:
    seen = {
        ("web-ns", "pre-", "app:web:sync:1#1"): {"u1"},
        ("web-ns", "smoke", "app:web:sync:1#1"): {"u2"},
        ("other-ns", "pre-", "app:other:sync:1#1"): {"x1", "x2"},  # not one of this run's apps
    }
    jobs, twice, missing = count_hooks(seen, NAMESPACES, [synced(1, "app:web:sync:1", committed=0, finished=9)])
    assert (jobs, twice, missing) == (2, [], [])


def test_a_hook_deleted_and_created_again_in_one_operation_is_created_twice() -> None:
    seen = {
        ("web-ns", "pre-", "app:web:sync:1#1"): {"u1"},
        ("web-ns", "smoke", "app:web:sync:1#1"): {"u2", "u3"},  # same name, a second uid
    }
    jobs, twice, missing = count_hooks(seen, NAMESPACES, [synced(1, "app:web:sync:1", committed=0, finished=9)])
    assert jobs == 3 and missing == []
    assert twice == ["web-ns smoke of app:web:sync:1#1: 2 Jobs ['u2', 'u3']"]


def test_a_succeeded_sync_without_its_postsync_hook_is_a_hook_missing() -> None:
    seen = {("web-ns", "pre-", "app:web:sync:2#1"): {"u1"}, ("web-ns", "smoke", "app:web:sync:1#1"): {"u0"}}
    _, _, missing = count_hooks(seen, NAMESPACES, [synced(2, "app:web:sync:2", committed=0, finished=9)])
    assert missing == ["web smoke of app:web:sync:2"]


def test_recovery_is_to_the_first_sync_after_the_fault_and_resumed_to_the_last_one_pending() -> None:
    syncs = [
        synced(1, "app:web:sync:1", committed=0, finished=4),  # before the fault
        synced(2, "app:web:sync:2", committed=5, finished=70),  # interrupted
        synced(3, "app:web:sync:3", committed=8, finished=20),
        synced(4, "app:web:sync:4", committed=30, finished=90),  # committed after the fault
    ]
    fault = Fault(kind="worker SIGKILL", injected_at=T0 + timedelta(seconds=10), in_flight=2)
    measure_recovery(fault, syncs)
    assert (fault.recovery, fault.resumed) == (10.0, 60.0)


def test_a_pending_sync_that_never_finished_leaves_resumed_unknown() -> None:
    syncs = [synced(1, "app:web:sync:1", committed=0, finished=None)]
    fault = Fault(kind="apiserver restart", injected_at=T0 + timedelta(seconds=10), in_flight=1)
    measure_recovery(fault, syncs)
    assert fault.recovery is None and fault.resumed is None
