"""Bosun's data converter: pydantic JSON, with large payloads compressed.

A compare result, a sync plan or a sync's results grow with the app's resources (about 600
bytes each as JSON), and Temporal refuses a payload over 2 MB: uncompressed, an app of some
3,500 objects could not be compared at all. JSON of resource rows is very repetitive, so a
payload over :data:`COMPRESS_ABOVE_BYTES` is stored zlib-compressed (Temporal's payload codec
mechanism; the encoding ``binary/zlib`` marks it), which moves that limit about tenfold.
Smaller payloads — nearly all — stay plain JSON, readable in the Temporal UI and the
``temporal`` CLI. A codec only ever decodes what it marked, so histories written before it
read as they always did. The per-app object cap (the render's limits) keeps every payload
under the limit.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/zlib"
COMPRESS_ABOVE_BYTES = 128 * 1024
"""Payloads larger than this are compressed (Temporal warns about payloads over 512 KB)."""


class CompressingCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": ENCODING}, data=zlib.compress(p.SerializeToString(), 6))
            if len(p.data) > COMPRESS_ABOVE_BYTES
            else p
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(zlib.decompress(p.data)) if p.metadata.get("encoding") == ENCODING else p
            for p in payloads
        ]


DATA_CONVERTER: DataConverter = dataclasses.replace(pydantic_data_converter, payload_codec=CompressingCodec())
"""What every Bosun client and worker (and a replay of their histories) uses."""
