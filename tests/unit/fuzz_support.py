"""Shared Hypothesis settings and strategies of the fuzz tests (tests/unit/test_fuzz_*.py).

CI runs a fixed budget: ``BOSUN_FUZZ_EXAMPLES`` examples per test (default 150), derandomized
(the same examples every run) and without an example database, so a run is repeatable and
takes seconds. A longer run: ``BOSUN_FUZZ_EXAMPLES=20000 pytest tests/unit/test_fuzz_*.py``.
The deadline (15 s an example, for a loaded CI machine) is far above any honest example
(well under a second): one past it is a hang or an amplification.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("BOSUN_FUZZ_EXAMPLES") or 150)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=15),
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
"""Strings YAML and JSON can both carry (no lone surrogates)."""

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(TEXT, inner, max_size=5),
    ),
    max_leaves=25,
)
"""JSON-shaped values: what a parser may be handed in any field."""


def set_path(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``doc`` with ``value`` at ``path`` (dicts created on the way, non-dicts replaced)."""
    node = doc
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    return doc
