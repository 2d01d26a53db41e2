"""The compare-options table and its one parser (``bosun/compare_options.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bosun.compare_options import TABLE, CompareOption, CompareOptionError, CompareOptions, parse_compare_options

ROOT = Path(__file__).resolve().parents[2]
TABLE_MODULE = ROOT / "bosun" / "compare_options.py"


def _code_outside_the_table() -> str:
    return "\n".join(
        path.read_text()
        for top in ("bosun", "activities", "workflows", "worker")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != TABLE_MODULE
    )


def test_every_field_has_one_row_and_every_row_a_field_or_a_reason() -> None:
    assert sorted(r.field for r in TABLE if r.field is not None) == sorted(CompareOptions.model_fields)
    for row in TABLE:
        if row.field is None:
            assert row.note and row.refused, f"{row.key}: no field, so say why and refuse the rest"


@pytest.mark.parametrize("row", [r for r in TABLE if r.field is not None], ids=lambda r: r.key)
def test_every_row_is_read_outside_the_table(row: CompareOption) -> None:
    assert re.search(rf"(?:options\(\w+\)|options)\.{row.field}\b", _code_outside_the_table()), row.field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, CompareOptions()),
        ("", CompareOptions()),
        ("IgnoreExtraneous", CompareOptions(ignore_extraneous=True)),
        (" IgnoreExtraneous ,, ServerSideDiff=true ", CompareOptions(ignore_extraneous=True)),
        ("IncludeMutationWebhook=true", CompareOptions()),
    ],
)
def test_parse(value: str | None, expected: CompareOptions) -> None:
    assert parse_compare_options(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ignoreExtraneous", "keys are case-sensitive: IgnoreExtraneous"),
        ("IgnoreExtraneus", "did you mean IgnoreExtraneous?"),
        ("IgnoreExtraneous=true", "IgnoreExtraneous takes no value"),
        ("ServerSideDiff=false", "always compares against a server-side dry-run apply"),
        ("ServerSideDiff", "write ServerSideDiff=true or ServerSideDiff=false"),
        ("IncludeMutationWebhook=false", "mutating webhooks"),
    ],
)
def test_refusals(value: str, message: str) -> None:
    with pytest.raises(CompareOptionError, match=re.escape(message)):
        parse_compare_options(value)
