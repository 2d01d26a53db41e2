"""The sync-options table and its one parser (``bosun/sync_options.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bosun.sync_options import (
    TABLE,
    Option,
    Scope,
    SyncOptionError,
    SyncOptions,
    key_of,
    merge,
    parse_annotation,
    parse_sync_options,
    with_overrides,
)

ROOT = Path(__file__).resolve().parents[2]
CODE = ("bosun", "activities", "workflows", "worker")
TABLE_MODULE = ROOT / "bosun" / "sync_options.py"


def _code_outside_the_table() -> str:
    return "\n".join(
        path.read_text() for top in CODE for path in sorted((ROOT / top).rglob("*.py")) if path != TABLE_MODULE
    )


def test_every_field_has_one_row_and_every_row_a_field_or_a_reason() -> None:
    fields = [row.field for row in TABLE if row.field is not None]
    assert sorted(fields) == sorted(SyncOptions.model_fields)
    assert len({row.key for row in TABLE}) == len(TABLE)
    for row in TABLE:
        if row.field is None:
            assert row.note and row.refused, f"{row.key}: no field, so say why and refuse the rest"


@pytest.mark.parametrize("row", [r for r in TABLE if r.field is not None], ids=lambda r: r.key)
def test_every_row_is_read_outside_the_table(row: Option) -> None:
    """Each typed field is read as an attribute of a SyncOptions value (``options.<field>``,
    ``app_options.<field>`` or ``SyncOptions.from_map(...).<field>``) somewhere in the code."""
    field = row.field
    pattern = re.compile(rf"(?:options|\))\.{field}\b")
    assert pattern.search(_code_outside_the_table()), f"sync option field {field} is never read"


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.key)
def test_every_accepted_value_parses_and_every_refused_one_says_why(row: Option) -> None:
    where = Scope.RESOURCE if row.scope is Scope.RESOURCE else Scope.APP
    for value in row.values:
        assert parse_sync_options([f"{row.key}={value}"], scope=where) == {row.key: value}
    for value, reason in row.refused.items():
        with pytest.raises(SyncOptionError, match=re.escape(reason)):
            parse_sync_options([f"{row.key}={value}"], scope=where)


@pytest.mark.parametrize(
    ("options", "scope", "message"),
    [
        (["Delete=false"], Scope.APP, "per-resource option"),
        (["CreateNamespace=true"], Scope.RESOURCE, "acts on the whole sync"),
        (["Prune=confirm"], Scope.RESOURCE, "not supported yet"),
        (["Delete=confirm"], Scope.RESOURCE, "not supported yet"),
        (["ServerSideApply=false"], Scope.APP, "always applies server-side"),
        (["ClientSideApplyMigration=true"], Scope.APP, "does not migrate"),
        (["prune=false"], Scope.RESOURCE, "keys are case-sensitive: Prune"),
        (["Validate=false", "PruneLsat=true"], Scope.APP, "did you mean PruneLast?"),
    ],
)
def test_refusals(options: list[str], scope: Scope, message: str) -> None:
    with pytest.raises(SyncOptionError, match=re.escape(message)):
        parse_sync_options(options, scope=scope)


def test_the_error_names_the_entry() -> None:
    with pytest.raises(SyncOptionError) as err:
        parse_sync_options(["Validate=false", "Prune=false", "Prune=true"])
    assert err.value.index == 2


def test_annotation_entries_are_trimmed_and_empty_ones_dropped() -> None:
    assert parse_annotation(" Prune=false ,, Replace=true ") == {"Prune": "false", "Replace": "true"}
    assert parse_annotation("") == {}


def test_the_annotation_wins_key_by_key() -> None:
    assert merge({"Prune": "false", "Validate": "false"}, "Prune=true") == {"Prune": "true", "Validate": "false"}
    assert merge({"Prune": "false"}, None) == {"Prune": "false"}


def test_typed_model_defaults_and_values() -> None:
    assert SyncOptions.from_map({}) == SyncOptions()
    typed = SyncOptions.from_map(
        {"Prune": "false", "PrunePropagationPolicy": "orphan", "CreateNamespace": "true", "ServerSideApply": "true"}
    )
    assert typed == SyncOptions(prune=False, prune_propagation_policy="orphan", create_namespace=True)


def test_request_overrides_are_keyed_through_the_table() -> None:
    assert key_of("apply_out_of_sync_only") == "ApplyOutOfSyncOnly"
    assert with_overrides({"Prune": "false"}, force=True, replace=True, apply_out_of_sync_only=True) == {
        "Prune": "false",
        "Force": "true",
        "Replace": "true",
        "ApplyOutOfSyncOnly": "true",
    }
    assert with_overrides({"Replace": "false"}) == {"Replace": "false"}


def test_the_model_check_only_asks_that_argo_cd_knows_the_option() -> None:
    """Without a scope (the Application model) refused values still parse: a workflow
    parses its recorded spec again on replay. The compare refuses them (test_plan)."""
    assert parse_sync_options(["Prune=confirm", "Delete=false", "ServerSideApply=false"]) == {
        "Prune": "confirm",
        "Delete": "false",
        "ServerSideApply": "false",
    }
    with pytest.raises(SyncOptionError, match="must be one of true, false"):
        parse_sync_options(["Prune=maybe"])
