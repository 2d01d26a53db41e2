"""An app of thousands of objects (issue #16, finding 5): its compare result, sync plan and
status run to megabytes of JSON, past Temporal's 2 MB payload limit uncompressed; Bosun's data
converter (activities/payloads.py) compresses them, and the app compares and syncs as any other."""

from __future__ import annotations

import asyncio

from bosun.resources import SyncCode
from tests.workflows.conftest import Driver
from tests.workflows.fakes import FakeBosun, application


def configmap(i: int) -> dict[str, object]:
    name = f"settings-{i:05d}-of-a-large-application"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


async def test_an_app_of_5000_objects_compares_and_syncs(bosun: Driver, world: FakeBosun) -> None:
    world.git.push(*(configmap(i) for i in range(5000)))  # ~2.8 MB of compare result as JSON
    app = await bosun.start(application("shop-large"), settle=False)
    seen = ""
    for _ in range(120):  # a megabyte status is not polled every 50 ms: once a second, for 2 minutes
        status = await app.status()
        seen = f"{status.sync} / {status.operation}, {len(status.resources)} resources"
        if status.sync is SyncCode.SYNCED and status.operation == "idle" and status.last_operation is not None:
            break
        await asyncio.sleep(1)
    assert seen == "Synced / idle, 5000 resources", seen
    (entry,) = await app.history()
    assert entry.phase == "Succeeded" and len(entry.resources) == 5000
