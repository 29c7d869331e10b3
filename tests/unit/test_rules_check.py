"""check_rule: what a saved rule may say, and where exactly a fault is reported."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.fields import FieldSpec
from domain.rules import VarType, check_rule, compile_rule, field_var_types
from domain.rules.shape import MAX_DEPTH

VARIABLES: dict[str, VarType] = {
    "kind": "text",
    "occurred_at": "datetime",
    "location": "geo",
    "data.severity": "number",
    "data.title": "text",
    "data.name": "text",
    "data.done": "boolean",
    "data.due": "date",
    "data.tags": "list",
    "data.place": "geo",
    "data.payload": "any",
}


def fault(rule: object, *, changes: bool = False, **kw: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_rule(rule, VARIABLES, changes=changes, **kw)
    return caught.value


def test_field_types_become_variable_types() -> None:
    kinds = [
        "integer", "number", "text", "long_text", "email", "phone", "url", "enum", "reference",
        "boolean", "date", "datetime", "multi_enum", "geo_point", "json",
    ]  # fmt: skip
    fields = [FieldSpec(name=f"f_{kind}", type=kind) for kind in kinds]
    assert field_var_types(fields) == {
        "data.f_integer": "number",
        "data.f_number": "number",
        "data.f_text": "text",
        "data.f_long_text": "text",
        "data.f_email": "text",
        "data.f_phone": "text",
        "data.f_url": "text",
        "data.f_enum": "text",
        "data.f_reference": "text",
        "data.f_boolean": "boolean",
        "data.f_date": "date",
        "data.f_datetime": "datetime",
        "data.f_multi_enum": "list",
        "data.f_geo_point": "geo",
        "data.f_json": "any",
    }
    assert field_var_types(fields[:1], prefix="entity.") == {"entity.f_integer": "number"}


VALID: list[object] = [
    {"and": [{">=": [{"var": "data.severity"}, 3]}, {"==": [{"var": "kind"}, "incident"]}]},
    {"or": [{"in": [{"var": "kind"}, ["a", "b"]]}, {"!": {"var": "data.done"}}]},
    {"==": [{"var": "data.severity"}, "3"]},  # numeric text compares with numbers
    {"!=": [{"var": "data.title"}, None]},
    {"<": [1, {"var": "data.severity"}, 5]},
    {"<": [{"var": "data.title"}, "m"]},
    {"<=": [{"var": "data.due"}, "2026-12-31"]},
    {"between": [{"var": "data.severity"}, 1, {"+": [1, {"var": "data.severity"}]}]},
    {"in": ["power", {"var": "data.title"}]},
    {"contains": [{"var": "data.tags"}, "urgent"]},
    {"starts_with": [{"var": "data.title"}, "INC-"]},
    {"matches": [{"var": "data.title"}, "^INC-[0-9]{4}$"]},
    {"before": [{"var": "data.due"}, {"today": 7}]},
    {"on_or_after": [{"var": "occurred_at"}, "2026-01-01T00:00:00Z"]},
    {"within_last_days": [{"var": "occurred_at"}, 30]},
    {"within_next_days": [{"var": "data.due"}, 0]},
    {"within_km": [{"var": "location"}, 48.85, 2.35, 10]},
    {"within_km": [{"var": "data.place"}, {"var": "location.lat"}, {"var": "location.lon"}, 1]},
    {"some": [{"var": "data.tags"}, {"==": [{"var": ""}, "vip"]}]},
    {"all": [{"var": "data.payload.items"}, {">": [{"var": "qty"}, 0]}]},
    {"none": [[1, 2], {">": [{"var": ""}, 5]}]},
    {"missing": ["data.title", "data.due"]},
    {"missing_some": [1, ["data.title", "data.name"]]},
    {">": [{"var": "data.payload.deep.value"}, 3]},
    {"matches": [{"var": "data.payload.text"}, "x"]},
    {"if": [{"var": "data.done"}, "yes", "no"]},
    {">": [{"if": [{"var": "data.done"}, 1, 2]}, 0]},
    {"var": ["data.severity", 0]},
    {"==": [{"cat": [{"var": "kind"}, "-", {"var": "data.severity"}]}, "incident-3"]},
    {"==": [{"var": "data.tags.0"}, "a"]},
    True,
    None,
]


@pytest.mark.parametrize("rule", VALID)
def test_valid_rules_pass_and_compile(rule: object) -> None:
    check_rule(rule, VARIABLES, changes=False)
    compile_rule(rule)


def test_the_spec_example_path_for_an_unknown_field() -> None:
    rule = {"and": [{">=": [{"var": "data.sev"}, 3]}, {"==": [{"var": "kind"}, "x"]}]}
    error = fault(rule)
    assert error.path == ("condition", "and", 0, ">=", 0, "var")
    assert error.message.startswith("unknown field 'sev' (did you mean data.severity?); known: ")
    assert "data.severity, data.tags, data.title" in error.message


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            {"!": {"var": "ocurred_at"}},
            ("condition", "!", "var"),
            "unknown variable 'ocurred_at' (did you mean occurred_at?)",
        ),
        ({"var": ["data.nope", 1]}, ("condition", "var", 0), "unknown field 'nope'; known:"),
        ({"var": "data.title.x"}, ("condition", "var"), "data.title is text and has no part 'x'"),
        ({"var": "location.alt"}, ("condition", "var"), "a point has lat and lon"),
        (
            {"missing": ["data.title", "data.owner"]},
            ("condition", "missing", 1),
            "unknown field 'owner'",
        ),
        ({"missing": [["data.owner"]]}, ("condition", "missing", 0, 0), "unknown field 'owner'"),
        (
            {"missing_some": [1, ["kind", "knd"]]},
            ("condition", "missing_some", 1, 1),
            "unknown variable 'knd'",
        ),
        (
            {"some": [["a", "b"], {"==": [{"var": "x"}, 1]}]},
            ("condition", "some", 1, "==", 0, "var"),
            "the current item is text and has no part 'x'",
        ),
        ({"var": {"var": "kind"}}, ("condition", "var"), "literal text"),
    ],
)
def test_unknown_variables(rule: object, path: tuple[Any, ...], message: str | None) -> None:
    error = fault(rule)
    assert error.path == path
    if message:
        assert message in error.message


def test_unknown_operators_and_wrong_arity() -> None:
    error = fault({"or": [True, {"contain": [{"var": "data.tags"}, "x"]}]})
    assert error.path == ("condition", "or", 1, "contain")
    assert "unknown operator 'contain' (did you mean 'contains'?)" in error.message
    error = fault({"and": [{"within_km": [{"var": "location"}, 1, 2]}]})
    assert error.path == ("condition", "and", 0, "within_km")
    assert error.message == "'within_km' takes 4 arguments: [point, lat, lon, km]; got 3"
    assert fault({"and": []}).message.startswith("'and' takes at least 1 argument")
    assert fault({"==": [1]}).path == ("condition", "==")


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            {">=": [{"var": "data.name"}, 3]},
            ("condition", ">=", 1),
            "cannot order data.name (text) against the number 3",
        ),
        ({"<": [{"var": "data.severity"}, "high"]}, ("condition", "<", 1), "the text 'high'"),
        (
            {">": [{"var": "data.done"}, 0]},
            ("condition", ">", 0),
            "cannot order data.done (boolean)",
        ),
        ({">": [{"var": "data.tags"}, 0]}, ("condition", ">", 0), "cannot order data.tags (list)"),
        ({"<": [0, {"var": "data.severity"}, "x"]}, ("condition", "<", 2), "the text 'x'"),
        ({"between": [{"var": "data.due"}, "2026-01-01", 5]}, ("condition", "between", 2), None),
        ({"==": [{"var": "data.severity"}, "high"]}, ("condition", "==", 1), "can never be equal"),
        ({"!=": [{"var": "data.done"}, 1]}, ("condition", "!=", 1), "data.done (boolean)"),
        ({"==": [{"var": "location"}, "Paris"]}, ("condition", "==", 1), None),
        (
            {"+": [1, {"var": "data.title"}]},
            ("condition", "+", 1),
            "'+' needs numbers here, not data.title (text)",
        ),
        ({"in": [{"var": "data.severity"}, ["a", "b"]]}, ("condition", "in", 0), "can never match"),
        ({"in": ["x", {"var": "data.severity"}]}, ("condition", "in", 1), "a list or a text"),
        ({"contains": [{"var": "data.done"}, "x"]}, ("condition", "contains", 0), None),
        ({"contains": [{"var": "data.title"}, True]}, ("condition", "contains", 1), None),
        ({"starts_with": [{"var": "data.severity"}, "1"]}, ("condition", "starts_with", 0), None),
        ({"matches": [{"var": "data.due"}, "x"]}, ("condition", "matches", 0), None),
        (
            {"before": [{"var": "data.title"}, {"today": 0}]},
            ("condition", "before", 0),
            "needs a date here",
        ),
        (
            {"after": [{"var": "data.due"}, "2026-02-30"]},
            ("condition", "after", 1),
            "'2026-02-30' is not an ISO date",
        ),
        (
            {"within_last_days": [{"var": "data.due"}, -1]},
            ("condition", "within_last_days", 1),
            "between 0 and 36,500",
        ),
        (
            {"within_next_days": [{"var": "data.due"}, 1.5]},
            ("condition", "within_next_days", 1),
            None,
        ),
        ({"today": 0.5}, ("condition", "today"), "whole number of days"),
        ({"within_km": [{"var": "data.title"}, 0, 0, 1]}, ("condition", "within_km", 0), None),
        (
            {"within_km": [{"var": "location"}, 0, 200, 1]},
            ("condition", "within_km", 2),
            "longitude must be between -180 and 180",
        ),
        ({"within_km": [{"var": "location"}, 0, 0, -1]}, ("condition", "within_km", 3), None),
        (
            {"some": [{"var": "data.severity"}, True]},
            ("condition", "some", 0),
            "goes through a list",
        ),
        ({"some": [["a"], {">": [{"var": ""}, 1]}]}, ("condition", "some", 1, ">", 1), None),
        ({"var": ["data.severity", "none"]}, ("condition", "var", 1), "does not fit"),
        ({"missing_some": [-1, ["kind"]]}, ("condition", "missing_some", 0), None),
    ],
)
def test_operand_type_mismatches(rule: object, path: tuple[Any, ...], message: str | None) -> None:
    error = fault(rule)
    assert error.path == path
    if message:
        assert message in error.message


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            {"matches": [{"var": "data.title"}, "(a+)+$"]},
            ("condition", "matches", 1),
            "exponential",
        ),
        (
            {"matches": [{"var": "data.title"}, "(a"]},
            ("condition", "matches", 1),
            "not a valid regular expression",
        ),
        (
            {"matches": [{"var": "data.title"}, "x" * 201]},
            ("condition", "matches", 1),
            "at most 200",
        ),
        (
            {"matches": [{"var": "data.title"}, {"var": "data.name"}]},
            ("condition", "matches", 1),
            "must be literal text",
        ),
    ],
)
def test_patterns_must_be_literal_and_safe(
    rule: object, path: tuple[Any, ...], message: str
) -> None:
    error = fault(rule)
    assert error.path == path
    assert message in error.message


def test_change_operators_need_a_trigger_with_a_previous_state() -> None:
    rule = {"or": [{"changed": ["data.title"]}, {"changed_to": ["data.severity", 5]}]}
    error = fault(rule)
    assert error.path == ("condition", "or", 0, "changed")
    assert "entity_changed" in error.message
    check_rule(rule, VARIABLES, changes=True)
    error = fault({"changed_to": ["data.severity", "five"]}, changes=True)
    assert error.path == ("condition", "changed_to", 1)
    error = fault({"changed_from": ["data.sev", 1]}, changes=True)
    assert error.path == ("condition", "changed_from", 0)
    assert "did you mean data.severity?" in error.message
    error = fault({"changed": [{"var": "data.title"}]}, changes=True)
    assert error.path == ("condition", "changed", 0)
    assert "literal text" in error.message


def test_literal_shapes_that_are_not_rules() -> None:
    error = fault({"and": [True, {"var": "kind", "x": 1}]})
    assert error.path == ("condition", "and", 1)
    assert "exactly one key" in error.message
    assert fault({"and": [{}]}).path == ("condition", "and", 0)
    assert fault({"==": [{"var": "kind"}, float("nan")]}).path == ("condition", "==", 1)
    assert "not a JSON value" in fault({"in": [1, {1, 2}]}).message


def test_nesting_and_size_limits() -> None:
    def nested(levels: int) -> object:
        rule: object = {"var": "data.done"}
        for _ in range(levels - 1):
            rule = {"!": [rule]}
        return rule

    check_rule(nested(MAX_DEPTH), VARIABLES, changes=False)
    error = fault(nested(MAX_DEPTH + 1))
    assert "nests more than 32 levels" in error.message
    assert error.path == ("condition", *(["!", 0] * MAX_DEPTH))
    # Each comparison is 5 parts (object, argument list, var object, path, literal), plus 2.
    many = {"or": [{"==": [{"var": "kind"}, f"k{i}"]} for i in range(199)]}
    check_rule(many, VARIABLES, changes=False)  # 997 parts
    error = fault({"or": [{"==": [{"var": "kind"}, f"k{i}"]} for i in range(200)]})  # 1,002
    assert error.path == ("condition",)
    assert "too large" in error.message


def test_faults_are_reported_under_the_given_path() -> None:
    error = fault({"==": [{"var": "nope"}, 1]}, path=("actions", 2, "when"))
    assert error.path == ("actions", 2, "when", "==", 0, "var")


def test_a_trigger_without_typed_fields_lists_what_exists() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_rule({"var": "data.x"}, {"kind": "text"}, changes=False)
    assert caught.value.message == "unknown field 'x'; known: none"
    with pytest.raises(InvalidInput) as caught:
        check_rule({"var": "nope"}, {}, changes=False)
    assert caught.value.message == "unknown variable 'nope'; known: none"


def test_long_lists_of_known_variables_are_shortened() -> None:
    variables: dict[str, VarType] = {f"data.f{i:02}": "text" for i in range(15)}
    with pytest.raises(InvalidInput) as caught:
        check_rule({"var": "data.zzz"}, variables, changes=False)
    assert caught.value.message.endswith("data.f08, data.f09, …")


def test_variables_below_an_any_variable_are_any() -> None:
    variables: dict[str, VarType] = {"data": "any", "kind": "text"}
    check_rule({">": [{"var": "data.x.y"}, 1]}, variables, changes=False)
    check_rule({"before": [{"var": "data.when"}, {"today": 0}]}, variables, changes=False)
    with pytest.raises(InvalidInput):
        check_rule({"var": "kind.x"}, variables, changes=False)
