"""Bosun's data converter: large payloads compressed and marked, small ones untouched,
and only what the codec marked is ever decoded."""

from __future__ import annotations

import json

from temporalio.api.common.v1 import Payload

from activities.payloads import COMPRESS_ABOVE_BYTES, DATA_CONVERTER, ENCODING, CompressingCodec


async def test_large_payloads_are_compressed_and_come_back_the_same() -> None:
    rows = [{"key": {"kind": "ConfigMap", "name": f"cm-{i}"}, "sync": "Synced"} for i in range(20_000)]
    (payload,) = await DATA_CONVERTER.encode([rows])
    assert payload.metadata["encoding"] == ENCODING
    assert len(payload.data) < len(json.dumps(rows)) / 10
    assert await DATA_CONVERTER.decode([payload], [list]) == [rows]


async def test_small_payloads_stay_plain_json() -> None:
    (payload,) = await DATA_CONVERTER.encode([{"sync": "Synced"}])
    assert payload.metadata["encoding"] == b"json/plain"
    assert json.loads(payload.data) == {"sync": "Synced"}


async def test_only_marked_payloads_are_decoded() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"x" * (COMPRESS_ABOVE_BYTES + 1))
    assert await CompressingCodec().decode([plain]) == [plain]
