"""How the CLI reaches Temporal: ``--address``/``--namespace`` or the environment.

Precedence: flag, then BOSUN_TEMPORAL_ADDRESS, then TEMPORAL_ADDRESS, then 127.0.0.1:7233
(the dev stack). The same for the namespace with BOSUN_NAMESPACE / TEMPORAL_NAMESPACE.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

DEFAULT_ADDRESS = "127.0.0.1:7233"


@dataclass(frozen=True)
class Connection:
    address: str
    namespace: str

    @classmethod
    def resolve(cls, address: str | None, namespace: str | None) -> Connection:
        return cls(
            address=address or os.environ.get("BOSUN_TEMPORAL_ADDRESS")
            or os.environ.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS,
            namespace=namespace or os.environ.get("BOSUN_NAMESPACE")
            or os.environ.get("TEMPORAL_NAMESPACE") or "default",
        )

    async def client(self) -> Client:
        try:
            return await Client.connect(self.address, namespace=self.namespace,
                                        data_converter=pydantic_data_converter)
        except RuntimeError as exc:
            raise ConnectionError(f"cannot reach Temporal at {self.address}: {exc}") from None
