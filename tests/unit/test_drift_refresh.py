"""Drift triggers a refresh: the owner of a changed object is signalled, once per burst."""

from __future__ import annotations

import asyncio
from typing import Any

from bosun.protocol import AppSignal, RefreshRequest
from bosun.tracking import apply_tracking
from worker import drift_refresh
from worker.drift_refresh import DriftRefresh, owner_of


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}}


def test_the_owner_is_read_from_the_annotation_or_the_instance_label() -> None:
    assert owner_of(apply_tracking(configmap("a"), "web")) == "web"
    labelled = configmap("b")
    labelled["metadata"]["labels"] = {"app.kubernetes.io/instance": "api"}
    assert owner_of(labelled) == "api"
    assert owner_of(configmap("c")) is None


class FakeTemporal:
    def __init__(self) -> None:
        self.signals: list[tuple[str, str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> Any:
        client = self

        class Handle:
            async def signal(self, name: str, arg: Any) -> None:
                client.signals.append((workflow_id, name, arg))

        return Handle()


def test_a_burst_of_changes_is_one_refresh_per_app(monkeypatch: Any) -> None:
    monkeypatch.setattr(drift_refresh, "DEBOUNCE_SECONDS", 0.05)
    temporal = FakeTemporal()

    async def scenario() -> None:
        drift = DriftRefresh(temporal, asyncio.get_running_loop())  # type: ignore[arg-type]
        for _ in range(5):
            drift.changed("in-cluster", apply_tracking(configmap("a"), "web"))
        drift.changed("in-cluster", apply_tracking(configmap("b"), "api"))
        drift.changed("in-cluster", configmap("untracked"))
        await asyncio.sleep(0.3)
        drift.changed("in-cluster", apply_tracking(configmap("a"), "web"))  # a later change: again
        await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert sorted(s[0] for s in temporal.signals) == ["app:api", "app:web", "app:web"]
    assert all(name == AppSignal.REFRESH and arg == RefreshRequest() for _, name, arg in temporal.signals)
