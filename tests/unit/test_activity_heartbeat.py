"""Activities that block in one long call heartbeat while they run, so that a worker killed
during them is noticed within the heartbeat timeout, not the start-to-close timeout
(issue #16: the chaos run saw an app stalled 150 s after a SIGKILL during resolve_revision)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.contracts import ResolveRevisionInput
from activities.heartbeat import heartbeating
from activities.source import SourceActivities
from activities.store import ContentStore
from workflows import activity_calls


def test_heartbeating_beats_from_its_thread_while_the_block_runs_and_stops_after() -> None:
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    def slow() -> int:
        with heartbeating("fetching", every=0.05):
            time.sleep(0.4)
        return len(beats)

    during = env.run(slow)
    time.sleep(0.2)
    assert during >= 3
    assert len(beats) == during  # none after the block
    assert beats[0] == ("fetching",)


def test_heartbeating_outside_an_activity_does_nothing() -> None:
    with heartbeating("local diff", every=0.01):
        time.sleep(0.05)


class SlowGit:
    """A GitCache whose fetch takes a while (a big repository, a slow server)."""

    _credentials = None

    def resolve(self, repo_url: str, revision: str) -> str:
        time.sleep(0.4)
        return "a" * 40


def test_resolve_revision_heartbeats_during_a_slow_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_EVERY_SECONDS", 0.05)
    acts = SourceActivities(git=SlowGit(), store=ContentStore(tmp_path / "store"), workdir=tmp_path / "work")  # type: ignore[arg-type]
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    result = env.run(acts.resolve_revision, ResolveRevisionInput(repo_url="https://example.com/r.git", revision="main"))
    assert result.commit == "a" * 40
    assert len(beats) >= 3 and beats[0] == ("resolving main",)


@pytest.mark.parametrize("call", ["resolve_revision", "render"])
async def test_source_activities_are_called_with_a_heartbeat_timeout(
    call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    async def execute_activity_method(method: Any, arg: Any, **options: Any) -> None:
        seen.update(options)

    monkeypatch.setattr(workflow, "execute_activity_method", execute_activity_method)
    await getattr(activity_calls, call)(object(), summary="test")
    assert seen["heartbeat_timeout"] is not None
    assert seen["heartbeat_timeout"] <= timedelta(seconds=30) < seen["start_to_close_timeout"]
