"""Argo CD compare options (``argocd.argoproj.io/compare-options``): the one table and
the one parser.

The annotation is comma-separated, each entry trimmed: a flag (``IgnoreExtraneous``) or
``Key=Value`` (``ServerSideDiff=true``). Argo CD matches entries exactly and silently
ignores the rest; Bosun rejects an entry it does not know or does not implement, so a
typo never changes how an object is compared without a word. Callers read the typed
:class:`CompareOptions`; the plan makes a bad annotation on a desired object a
PlanError, and an extraneous live object with one is OutOfSync with the error as its
message.

To add an option: one :class:`CompareOption` row, the field on :class:`CompareOptions`,
and the code that reads it (``tests/unit/test_compare_options.py`` checks the field is
read).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

ANNOTATION_COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"

FLAG = ""
"""The value of an option written without ``=`` (``IgnoreExtraneous``)."""


@dataclasses.dataclass(frozen=True)
class CompareOption:
    """One row of the table."""

    key: str
    values: tuple[str, ...]
    """Accepted values; :data:`FLAG` for an option written without ``=``."""
    field: str | None
    """The :class:`CompareOptions` field; ``None`` only when the accepted value is what
    Bosun always does (``note`` says why nothing reads it)."""
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""


_SERVER_SIDE = "Bosun always compares against a server-side dry-run apply"

TABLE: tuple[CompareOption, ...] = (
    CompareOption("IgnoreExtraneous", (FLAG,), "ignore_extraneous"),
    CompareOption(
        "ServerSideDiff", ("true",), None, refused={"false": f"not supported: {_SERVER_SIDE}"}, note=_SERVER_SIDE
    ),
    CompareOption(
        "IncludeMutationWebhook",
        ("true",),
        None,
        refused={"false": "not supported: Bosun's server-side dry run keeps what mutating webhooks set"},
        note="Bosun's server-side dry run keeps what mutating webhooks set",
    ),
)
"""Every compare option Bosun knows."""

BY_KEY: Mapping[str, CompareOption] = {row.key: row for row in TABLE}


class CompareOptionError(ValueError):
    """A compare option Bosun will not act on."""


class CompareOptions(BaseModel):
    """The compare options of one object (Argo CD's defaults when unset)."""

    model_config = ConfigDict(frozen=True)

    ignore_extraneous: bool = False
    """Once Git no longer holds it, the object does not make the app OutOfSync (it is
    still pruned)."""


def parse_compare_options(value: str | None) -> CompareOptions:
    """The annotation's value (``None``: absent) as typed options; CompareOptionError
    for an entry Bosun does not know or does not implement."""
    fields: dict[str, bool] = {}
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, sep, val = entry.partition("=")
        row = BY_KEY.get(key)
        if row is None:
            raise CompareOptionError(f"{entry!r}: unknown compare option {key!r}{_suggest(key)}")
        if val in row.refused:
            raise CompareOptionError(f"{entry!r}: {row.refused[val]}")
        if (val if sep else FLAG) not in row.values:
            raise CompareOptionError(f"{entry!r}: {_expected(row)}")
        if row.field is not None:
            fields[row.field] = True
    return CompareOptions.model_validate(fields)


def _expected(row: CompareOption) -> str:
    if row.values == (FLAG,):
        return f"{row.key} takes no value: write {row.key}"
    return f"write {' or '.join(f'{row.key}={v}' for v in (*row.values, *row.refused))}"


def _suggest(key: str) -> str:
    for known in BY_KEY:
        if known.lower() == key.strip().lower():
            return f" (keys are case-sensitive: {known})"
    close = difflib.get_close_matches(key, list(BY_KEY), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
