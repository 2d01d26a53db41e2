"""Keep content that crosses Temporal within its payload limit (2 MB per payload by default).

``bosun app manifests`` and ``bosun app diff`` get their content through an activity and an
update of the app workflow, so it is recorded in history. Beyond ``limit`` bytes of JSON the
content is cut at a whole object (or a whole resource's diff) and a note says how much was
left out and how to see the rest. Used by :mod:`activities.content`; to bound another
result, call :func:`fit` with its items.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

PAYLOAD_BUDGET = 1_500_000
"""Bytes of content per result: well under Temporal's 2 MB payload limit, leaving room for the rest."""


def fit(items: Sequence[Any], limit: int = PAYLOAD_BUDGET, *, what: str) -> tuple[int, str]:
    """How many of ``items`` (from the start) fit in ``limit`` bytes of JSON, and a note
    about the rest (empty when everything fits)."""
    used = 0
    for count, item in enumerate(items):
        used += len(json.dumps(item, separators=(",", ":"))) + 1
        if used > limit:
            return count, (
                f"{len(items) - count} of {len(items)} {what} left out: the rest is over "
                f"{limit // 1000} kB, more than a Temporal payload carries"
            )
    return len(items), ""
