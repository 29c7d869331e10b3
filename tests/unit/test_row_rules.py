"""Row rules of read grants: checked when a role is saved, bound to the reader's values."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.grants import ReadGrant, checked_grants, grants_of
from domain.row_rules import (
    AllOf,
    Among,
    Compare,
    Constant,
    Field,
    Holds,
    Not,
    bind,
    check_row_rule,
)
from projections.occurrences.queries import AREA as OCCURRENCES
from projections.visibility import scope_of

REGION = {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}


def test_the_readers_values_are_bound_in() -> None:
    assert bind(REGION, "entities", "ivy", {"region": "north"}) == Compare(
        "==", Field("region"), "north"
    )
    rule = {"and": [REGION, {"!": {"in": [{"var": "title"}, ["a", "b"]]}}]}
    assert bind(rule, "entities", "ivy", {"region": "north"}) == AllOf(
        (
            Compare("==", Field("region"), "north"),
            Not(Among(Field("title", in_data=False), ("a", "b"))),
        )
    )


def test_a_missing_value_never_shows_more() -> None:
    assert bind(REGION, "entities", "ivy", {}) == Constant(False)
    assert bind(
        {"in": [{"var": "data.x"}, {"var": "me.claims.none"}]}, "entities", "ivy", {}
    ) == Constant(False)


def test_a_value_on_the_left_is_turned_around() -> None:
    rule = {"<": [10, {"var": "data.size"}]}
    assert bind(rule, "entities", "a", {}) == Compare(">", Field("size"), 10)


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
        check_row_rule(rule, "entities")
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
    with pytest.raises(InvalidInput, match="is for entities, occurrences, processes") as refused:
        checked_grants([{"read": "groups", "where": REGION}], [])
    assert refused.value.path == ("grants", 0, "read")
    with pytest.raises(InvalidInput, match="not a field name"):
        checked_grants([{"read": "entities", "hide": ["Salary'; --"]}], [])
    with pytest.raises(InvalidInput, match="unknown key 'filter'"):
        checked_grants([{"read": "entities", "filter": {}}], [])


MINE = {"in": [{"var": "me.participant_id"}, {"var": "participants"}]}
PARTICIPANT = "0b6f6a4e-5d1c-4c1a-9d63-2f0e7d7d1f10"


def test_a_process_rule_names_its_columns_and_the_readers_participant() -> None:
    rule = {"and": [MINE, {"==": [{"var": "stage"}, "review"]}, {"in": [{"var": "kind"}, ["a"]]}]}
    assert bind(rule, "processes", "ivy", {"participant_id": PARTICIPANT.upper()}) == AllOf(
        (
            Holds("participants", PARTICIPANT),  # as the read model spells it
            Compare("==", Field("stage", in_data=False), "review"),
            Among(Field("kind", in_data=False), ("a",)),
        )
    )
    for claims in ({}, {"participant_id": 7}, {"participant_id": ""}):
        assert bind(MINE, "processes", "ivy", claims) == Constant(False), claims
    # A reader's claim of the wrong shape is as good as missing, not a failed read.
    listed = {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}
    assert bind(listed, "entities", "ivy", {"region": ["north"]}) == Constant(False)


@pytest.mark.parametrize(
    ("rule", "area", "path", "message"),
    [
        ({"==": [{"var": "stage"}, "a"]}, "entities", ("where", "==", 0, "var"), "data.<field>, title, created_at, updated_at, me.actor"),
        ({"==": [{"var": "participants"}, "a"]}, "processes", ("where", "==", 0), "is a set"),
        ({"in": [{"var": "participants"}, ["a"]]}, "processes", ("where", "in", 0), "is a set"),
        ({"in": [7, {"var": "participants"}]}, "processes", ("where", "in", 0), "holds ids"),
        ({"==": [{"var": "region"}, 1]}, "processes", ("where", "==", 0, "var"), "kind, stage, status, title, opened_at, updated_at, due_at, closed_at, participants"),
    ],
)  # fmt: skip
def test_each_area_has_its_own_variables(
    rule: Any, area: str, path: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        check_row_rule(rule, area)
    assert refused.value.path == path


def test_a_process_grant_is_checked_against_process_variables() -> None:
    grant = {"read": "processes", "types": ["audit"], "where": MINE, "hide": ["fee"]}
    [kept] = checked_grants([grant], [])
    assert kept == grant
    with pytest.raises(InvalidInput, match="unknown variable 'participants'") as refused:
        checked_grants([{"read": "entities", "where": MINE}], [])
    assert refused.value.path == ("grants", 0, "where", "in", 1, "var")


def test_an_occurrence_rule_names_its_kind_process_and_sets_of_ids() -> None:
    rule = {
        "and": [
            {"==": [{"var": "kind"}, "incident"]},
            {"==": [{"var": "process_id"}, {"var": "me.claims.case"}]},
            {"in": [{"var": "me.participant_id"}, {"var": "participants"}]},
            {"in": [PARTICIPANT, {"var": "entities"}]},
            {">=": [{"var": "data.severity"}, 3]},
        ]
    }
    claims = {"case": PARTICIPANT, "participant_id": PARTICIPANT}
    assert bind(rule, "occurrences", "ivy", claims) == AllOf(
        (
            Compare("==", Field("kind", in_data=False), "incident"),
            Compare("==", Field("process_id", in_data=False), PARTICIPANT),
            Holds("participants", PARTICIPANT),
            Holds("entities", PARTICIPANT),
            Compare(">=", Field("severity"), 3),
        )
    )
    [kept] = checked_grants(
        [{"read": "occurrences", "types": ["Incident"], "where": rule, "hide": ["notes"]}], []
    )
    assert kept["types"] == ["Incident"]


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"==": [{"var": "title"}, "a"]}, ("where", "==", 0, "var"), "a rule on occurrences uses data.<field>, kind, process_id, occurred_at, recorded_at, participants, entities, me.actor"),
        ({"==": [{"var": "opened_at"}, 1]}, ("where", "==", 0, "var"), "unknown variable 'opened_at'"),
        ({">": [{"var": "occurred_at"}, 1]}, ("where", ">", 1), "'occurred_at' is a time"),
        ({">": [{"var": "occurred_at"}, "2026-01-31"]}, ("where", ">", 1), "with its offset"),
        ({"in": [{"var": "recorded_at"}, ["yesterday"]]}, ("where", "in", 1), "is a time"),
        ({"==": [{"var": "entities"}, "a"]}, ("where", "==", 0), "is a set"),
        ({"in": [7, {"var": "participants"}]}, ("where", "in", 0), "holds ids"),
    ],
)  # fmt: skip
def test_an_occurrence_rule_uses_only_occurrence_variables(
    rule: Any, path: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        check_row_rule(rule, "occurrences")
    assert refused.value.path == path


def test_times_are_compared_as_instants_whatever_their_offset() -> None:
    since = {">=": [{"var": "occurred_at"}, "2026-01-31T09:00:00+01:00"]}
    assert bind(since, "occurrences", "ivy", {}) == Compare(
        ">=", Field("occurred_at", in_data=False, time=True), "2026-01-31T09:00:00+01:00"
    )
    assert _occurrence_sql(since, {}) == (
        "(occurred_at >= %s::timestamptz)",
        ("2026-01-31T09:00:00+01:00",),
    )
    # A value on the left turns around; a reader's claim that is no time shows nothing.
    before = {">": ["2026-01-31T08:00:00Z", {"var": "recorded_at"}]}
    assert _occurrence_sql(before, {})[0] == "(recorded_at < %s::timestamptz)"
    claimed = {">=": [{"var": "occurred_at"}, {"var": "me.claims.since"}]}
    assert bind(claimed, "occurrences", "ivy", {"since": "last week"}) == Constant(False)
    assert bind(claimed, "occurrences", "ivy", {"since": "2026-01-31T08:00:00Z"}) == Compare(
        ">=", Field("occurred_at", in_data=False, time=True), "2026-01-31T08:00:00+00:00"
    )
    assert bind({"in": [{"var": "occurred_at"}, []]}, "occurrences", "ivy", {}) == Constant(False)
    due = {"<": [{"var": "due_at"}, "2026-02-01T00:00:00Z"]}
    check_row_rule(due, "processes")
    check_row_rule({">": [{"var": "updated_at"}, "2026-02-01T00:00:00Z"]}, "entities")


def _occurrence_sql(rule: Any, claims: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    grant = ReadGrant("occurrences", where=rule)
    scope = scope_of(OCCURRENCES, [grant], "ivy", claims)
    return scope.predicate[2:-2], scope.params  # without the wrappers of grant and grants


def test_occurrence_ids_are_compared_as_uuids_and_a_non_id_matches_nothing() -> None:
    case = {"==": [{"var": "process_id"}, {"var": "me.claims.case"}]}
    assert _occurrence_sql(case, {"case": PARTICIPANT.upper()}) == (
        "(process_id = %s::uuid)",
        (PARTICIPANT,),
    )
    # A claim that is no id: no occurrence has that process, never a failed cast.
    assert _occurrence_sql(case, {"case": "north"}) == ("false", ())
    differs = {"!=": [{"var": "process_id"}, "north"]}
    assert _occurrence_sql(differs, {}) == ("(process_id IS NOT NULL)", ())
    assert _occurrence_sql({"<": [{"var": "process_id"}, PARTICIPANT]}, {}) == ("false", ())
    among = {"in": [{"var": "process_id"}, [PARTICIPANT, "x", 7]]}
    assert _occurrence_sql(among, {}) == ("(process_id = ANY(%s::uuid[]))", ([PARTICIPANT],))
    mine = {"in": [{"var": "me.participant_id"}, {"var": "participants"}]}
    assert _occurrence_sql(mine, {"participant_id": PARTICIPANT}) == (
        "(participant_ids @> ARRAY[%s::uuid])",
        (PARTICIPANT,),
    )
    assert _occurrence_sql(mine, {"participant_id": "not-an-id"}) == ("false", ())
