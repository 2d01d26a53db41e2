"""An app of thousands of objects (issue #16, finding 5): its compare result, sync plan and
status run to megabytes of JSON, past Temporal's 2 MB payload limit uncompressed; Bosun's data
converter (activities/payloads.py) compresses them, and the app compares and syncs as any other."""

from __future__ import annotations

from bosun.resources import SyncCode
from tests.workflows.conftest import Driver
from tests.workflows.fakes import FakeBosun, application


def configmap(i: int) -> dict[str, object]:
    name = f"settings-{i:05d}-of-a-large-application"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


async def test_an_app_of_5000_objects_compares_and_syncs(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(*(configmap(i) for i in range(5000)))  # ~2.8 MB of compare result as JSON
    app = await bosun.start(application("shop-large"))
    status = await app.status()
    assert status.sync is SyncCode.SYNCED and len(status.resources) == 5000
    (entry,) = await app.history()
    assert entry.phase == "Succeeded" and len(entry.resources) == 5000
