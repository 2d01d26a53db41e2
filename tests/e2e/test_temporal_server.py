"""The real Temporal dev server runs workflows and serves its Web UI (issue 2)."""

from __future__ import annotations

import sqlite3
import urllib.request
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from tests.conftest import TemporalServer


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn(sandboxed=False)
class ShoutWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))


async def test_workflow_with_activity_runs_on_dev_server(temporal_server: TemporalServer) -> None:
    client = await Client.connect(temporal_server.address)
    queue = f"test-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[ShoutWorkflow], activities=[shout]):
        result = await client.execute_workflow(
            ShoutWorkflow.run, "ahoy", id=f"shout-{uuid.uuid4().hex}", task_queue=queue
        )
    assert result == "AHOY"


async def test_bosun_search_attributes_are_registered(temporal_server: TemporalServer) -> None:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    from bosun import search_attributes

    client = await Client.connect(temporal_server.address)
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    assert set(search_attributes.ALL) <= set(listed.custom_attributes)


def test_web_ui_answers_http(temporal_server: TemporalServer) -> None:
    assert temporal_server.ui_url, "set BOSUN_TEST_TEMPORAL_UI when reusing a server"
    with urllib.request.urlopen(temporal_server.ui_url, timeout=10) as resp:
        body = resp.read().decode(errors="replace")
    assert resp.status == 200
    assert "<html" in body.lower()


def test_the_dev_servers_sqlite_keeps_a_write_ahead_log(temporal_server: TemporalServer) -> None:
    """devstack.temporal.SQLITE_PRAGMAS: with its default rollback journal, synced at every
    transaction, the dev server's writes bounded a thousand apps' cold start."""
    if temporal_server.directory is None:
        pytest.skip("a reused server")
    database = temporal_server.directory / "temporal.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
