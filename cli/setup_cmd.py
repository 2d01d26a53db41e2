"""``bosun setup``: prepare a Temporal server for Bosun (register its search attributes).

The dev stack (``bosun dev temporal up``) registers them when it starts the server;
any other server — a self-hosted cluster, another dev server — needs this once per
namespace. It is idempotent: attributes already registered with their type (Keyword;
KeywordList for BosunLabels) are left as they are; one registered with another type is an
error, since Bosun could not upsert it.
"""

from __future__ import annotations

import click
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from bosun import search_attributes as sa
from cli.app import EXIT_FAILED, CliError, connection_options, run_async
from cli.connection import Connection

INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}
"""Temporal's enum value for each type name in :data:`bosun.search_attributes.TYPES`."""


@click.command("setup")
@connection_options
@run_async
async def setup(address: str | None, temporal_namespace: str | None) -> None:
    """Register Bosun's search attributes on a Temporal server (safe to run again).

    \b
    Registers, as Keyword: BosunApp, BosunProject, BosunCluster, BosunNamespace,
    BosunSyncStatus, BosunHealthStatus, BosunRevision, BosunOperation; and
    BosunLabels as KeywordList.
    Then `temporal workflow list --query 'BosunSyncStatus="OutOfSync"'` works.

    \b
    Examples:
      bosun setup
      bosun setup --address temporal.example.com:7233 --namespace deploys
    """
    connection = Connection.resolve(address, temporal_namespace)
    client = await connection.client()
    operator = client.operator_service
    try:
        listed = await operator.list_search_attributes(ListSearchAttributesRequest(namespace=connection.namespace))
    except RPCError as exc:
        raise CliError(_explain(exc, connection.namespace), EXIT_FAILED) from None
    existing = dict(listed.custom_attributes)
    wrong = {
        name: existing[name]
        for name, kind in sa.TYPES.items()
        if name in existing and existing[name] != INDEXED_TYPES[kind]
    }
    if wrong:
        raise CliError(
            "registered with another type than Bosun needs: "
            + ", ".join(
                f"{name} ({IndexedValueType.Name(kind)}, needs {sa.TYPES[name]})" for name, kind in wrong.items()
            ),
            EXIT_FAILED,
        )
    missing = [name for name in sa.ALL if name not in existing]
    if missing:
        try:
            await operator.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=connection.namespace, search_attributes={n: INDEXED_TYPES[sa.TYPES[n]] for n in missing}
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:  # someone else just did it
                raise CliError(_explain(exc, connection.namespace), EXIT_FAILED) from None
    for name, kind in sa.TYPES.items():
        state = "registered" if name in missing else "already registered"
        click.echo(f"{name:<18} {kind}  {state}")
    click.echo(f"Temporal at {connection.address}, namespace {connection.namespace!r}: ready for Bosun")


def _explain(exc: RPCError, namespace: str) -> str:
    if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
        return (
            f"cannot register search attributes here ({exc.message}); on Temporal Cloud add "
            f"them with `tcld namespace search-attributes add` or in the Cloud UI, each "
            f"{', '.join(sa.KEYWORDS)} as Keyword and {', '.join(sa.KEYWORD_LISTS)} as KeywordList"
        )
    if exc.status == RPCStatusCode.NOT_FOUND:
        return f"namespace {namespace!r} not found ({exc.message})"
    return f"registering search attributes failed: {exc.message}"
