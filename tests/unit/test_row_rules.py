"""Row rules of read grants: checked when a role is saved, bound to the reader's values."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.grants import checked_grants, grants_of
from domain.row_rules import AllOf, Among, Compare, Constant, Field, Not, bind, check_row_rule

REGION = {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}


def test_the_readers_values_are_bound_in() -> None:
    assert bind(REGION, "ivy", {"region": "north"}) == Compare("==", Field("region"), "north")
    rule = {"and": [REGION, {"!": {"in": [{"var": "title"}, ["a", "b"]]}}]}
    assert bind(rule, "ivy", {"region": "north"}) == AllOf(
        (
            Compare("==", Field("region"), "north"),
            Not(Among(Field("title", in_data=False), ("a", "b"))),
        )
    )


def test_a_missing_value_never_shows_more() -> None:
    assert bind(REGION, "ivy", {}) == Constant(False)
    assert bind({"in": [{"var": "data.x"}, {"var": "me.claims.none"}]}, "ivy", {}) == Constant(
        False
    )


def test_a_value_on_the_left_is_turned_around() -> None:
    rule = {"<": [10, {"var": "data.size"}]}
    assert bind(rule, "a", {}) == Compare(">", Field("size"), 10)


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"==": [{"var": "data.region"}]}, ("where", "=="), "two operands"),
        ({"like": [1, 2]}, ("where", "like"), "unknown operator"),
        ({"==": [{"var": "salary"}, 1]}, ("where", "==", 0, "var"), "unknown variable"),
        ({"==": [1, 2]}, ("where", "=="), "one field of the record"),
        ({"and": []}, ("where", "and"), "non-empty list"),
        ("north", ("where",), "one operator"),
    ],
)
def test_a_bad_rule_is_refused_with_its_path(
    rule: Any, path: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        check_row_rule(rule)
    assert refused.value.path == path


def test_read_grants_are_checked_and_scope_their_area() -> None:
    grant = {"read": "entities", "types": ["Site"], "where": REGION, "hide": ["salary"]}
    kept = checked_grants(["data:write", grant], [])
    granted = grants_of(["r"], {"r": kept})
    assert granted.reads("entities")
    assert not granted.reads("processes")
    [scope] = granted.scope("entities") or []
    assert (scope.types, scope.hide) == (("Site",), ("salary",))
    assert grants_of(["r", "v"], {"r": kept, "v": ["read:*"]}).scope("entities") is None
    with pytest.raises(InvalidInput, match="is for entities") as refused:
        checked_grants([{"read": "processes", "where": REGION}], [])
    assert refused.value.path == ("grants", 0, "read")
    with pytest.raises(InvalidInput, match="not a field name"):
        checked_grants([{"read": "entities", "hide": ["Salary'; --"]}], [])
    with pytest.raises(InvalidInput, match="unknown key 'filter'"):
        checked_grants([{"read": "entities", "filter": {}}], [])
