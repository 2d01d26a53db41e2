"""Kubernetes label selectors for ``bosun app … -l`` (bosun.label_selector)."""

from __future__ import annotations

import pytest

from bosun.label_selector import parse_selector

LABELS = {"team": "web", "env": "dev", "example.com/tier": "front"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("team=web", True),
        ("team==web", True),
        ("team=api", False),
        ("team!=api", True),
        ("team!=web", False),
        ("owner!=x", True),  # not set counts as different
        ("team", True),
        ("owner", False),
        ("!owner", True),
        ("!team", False),
        ("env in (dev,qa)", True),
        ("env in (prod)", False),
        ("env notin (prod, qa)", True),
        ("env notin (dev)", False),
        ("owner notin (x)", True),
        ("owner in (x)", False),
        ("example.com/tier=front", True),
        ("team=web,env in (dev,qa),!legacy", True),
        ("team=web, env=prod", False),
        ("env=", False),
    ],
)
def test_selector_matches_as_kubernetes_does(selector: str, matches: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is matches


def test_empty_value_matches_a_label_set_to_empty() -> None:
    assert parse_selector("flag=").matches({"flag": ""})
    assert not parse_selector("flag=").matches({})


@pytest.mark.parametrize(
    ("selector", "says"),
    [
        ("team=web,,env=dev", "empty requirement"),
        ("env in (dev", "'(' without ')'"),
        ("env in dev)", "')' without '('"),
        ("env in ()", "at least one value"),
        ("team=we b", "expected key"),
        ("-team=web", "not a valid label name"),
        ("Bad_Prefix.com/x=1", "not a valid label key prefix"),
        ("team=" + "a" * 64, "not a valid label value"),
        ("team>1", "expected key"),
    ],
)
def test_bad_selectors_say_which_part_is_wrong(selector: str, says: str) -> None:
    with pytest.raises(ValueError, match=r".*") as raised:
        parse_selector(selector)
    assert says in str(raised.value)


def test_visibility_query_narrows_by_the_values_named_and_nothing_else() -> None:
    selector = parse_selector("team=web,env in (dev,qa),!legacy,owner!=x")
    assert selector.visibility_query("BosunLabels") == (
        "BosunLabels IN ('team=web') AND BosunLabels IN ('env=dev', 'env=qa')"
    )
    assert parse_selector("!legacy").visibility_query("BosunLabels") == ""


def test_selector_prints_back_in_kubernetes_syntax() -> None:
    text = "team=web,env in (dev,qa),!legacy,owner!=x,tier"
    assert str(parse_selector(text)) == text
