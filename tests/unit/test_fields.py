"""Field strategies, schema checks and record validation."""

from __future__ import annotations

import pytest

from domain.fields import (
    STRATEGIES,
    DataInvalid,
    FieldError,
    FieldSpec,
    FieldStrategy,
    check_schema,
    register,
    strategy_for,
    unique_values,
    validate_data,
)

UUID = "123E4567-E89B-12D3-A456-426614174000"
COLOURS: dict[str, object] = {"values": ["red", "green", "blue"]}


def one(type_name: str, value: object, **constraints: object) -> object:
    spec = FieldSpec(name="f", type=type_name, constraints=dict(constraints))
    return validate_data([spec], {"f": value})["f"]


def errors_of(fields: list[FieldSpec], data: dict[str, object], **kw: bool) -> list[FieldError]:
    with pytest.raises(DataInvalid) as caught:
        validate_data(fields, data, **kw)
    return caught.value.errors


def schema_errors(fields: list[FieldSpec], importance: str | None = None) -> list[FieldError]:
    with pytest.raises(DataInvalid) as caught:
        check_schema(fields, importance)
    return caught.value.errors


@pytest.mark.parametrize(
    ("type_name", "constraints", "value", "expected"),
    [
        ("text", {}, "Hello\tworld ", "Hello\tworld "),
        ("text", {"pattern": r"[A-Z]{2}-\d+", "min_length": 3}, "AB-12", "AB-12"),
        ("long_text", {}, "line one\nline two\r\n", "line one\nline two\r\n"),
        ("integer", {"min": 0, "max": 10}, 3.0, 3),
        ("integer", {}, -(2**63), -(2**63)),
        ("number", {"min": -1.5}, 2.25, 2.25),
        ("number", {}, 7, 7),
        ("boolean", {}, False, False),
        ("date", {"min": "2024-01-01"}, "2024-02-29", "2024-02-29"),
        ("datetime", {}, "2024-03-01T10:00:00+02:00", "2024-03-01T08:00:00+00:00"),
        (
            "datetime",
            {"max": "2025-01-01T00:00:00Z"},
            "2024-03-01T10:00:00Z",
            "2024-03-01T10:00:00+00:00",
        ),
        ("enum", COLOURS, "green", "green"),
        ("multi_enum", {**COLOURS, "min_items": 1}, ["blue", "red"], ["blue", "red"]),
        ("email", {}, "Ann.Lee@Example.COM", "Ann.Lee@example.com"),
        ("phone", {}, "+44 (20) 7946-0958", "+442079460958"),
        ("phone", {}, "+1.555.123.4567", "+15551234567"),
        ("url", {}, "https://example.com/a?b=c", "https://example.com/a?b=c"),
        ("url", {}, "http://localhost:8080", "http://localhost:8080"),
        ("geo_point", {}, {"lat": 51, "lon": -0.1275}, {"lat": 51.0, "lon": -0.1275}),
        ("reference", {"entity_type_id": UUID.lower()}, UUID, UUID.lower()),
        (
            "json",
            {},
            {"a": [1, 2.5, True, None, "x"], "b": (1, 2)},
            {"a": [1, 2.5, True, None, "x"], "b": [1, 2]},
        ),
        ("json", {}, "just a string", "just a string"),
    ],
)
def test_accepted_values_are_normalised(
    type_name: str, constraints: dict[str, object], value: object, expected: object
) -> None:
    result = one(type_name, value, **constraints)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("type_name", "constraints", "value", "path", "fragment"),
    [
        ("text", {}, 5, ("f",), "must be a string"),
        ("text", {}, "a\nb", ("f",), "control characters"),
        ("text", {}, "x" * 1001, ("f",), "at most 1000"),
        ("text", {"min_length": 2}, "x", ("f",), "at least 2"),
        ("text", {"pattern": r"[a-z]+"}, "ABC", ("f",), "does not match"),
        ("text", {"pattern": r"[a-z]+", "max_length": 20_000}, "a" * 10_001, ("f",), "too long"),
        ("long_text", {}, "nul\x00byte", ("f",), "control characters"),
        ("long_text", {"max_length": 5}, "toolong", ("f",), "at most 5"),
        ("integer", {}, True, ("f",), "whole number"),
        ("integer", {}, 2.5, ("f",), "whole number"),
        ("integer", {}, "3", ("f",), "whole number"),
        ("integer", {}, 2**63, ("f",), "64-bit"),
        ("integer", {"max": 10}, 11, ("f",), "at most 10"),
        ("number", {}, float("nan"), ("f",), "finite"),
        ("number", {}, float("inf"), ("f",), "finite"),
        ("number", {}, False, ("f",), "must be a number"),
        ("number", {"min": 0}, -0.5, ("f",), "at least 0"),
        ("boolean", {}, 1, ("f",), "true or false"),
        ("boolean", {}, "true", ("f",), "true or false"),
        ("date", {}, "2023-02-29", ("f",), "real calendar date"),
        ("date", {}, "20240101", ("f",), "like 2024-01-31"),
        ("date", {"max": "2024-12-31"}, "2025-01-01", ("f",), "on or before 2024-12-31"),
        ("datetime", {}, "2024-03-01T10:00:00", ("f",), "timezone offset"),
        ("datetime", {}, "yesterday", ("f",), "ISO 8601"),
        (
            "datetime",
            {"min": "2024-01-01T00:00:00+00:00"},
            "2023-12-31T23:00:00Z",
            ("f",),
            "at or after",
        ),
        ("enum", COLOURS, "purple", ("f",), "must be one of 'red'"),
        ("enum", COLOURS, ["red"], ("f",), "must be one of"),
        ("multi_enum", COLOURS, "red", ("f",), "must be a list"),
        ("multi_enum", COLOURS, ["red", "pink"], ("f", 1), "must be one of"),
        ("multi_enum", COLOURS, ["red", "red"], ("f", 1), "repeats 'red'"),
        ("multi_enum", {**COLOURS, "min_items": 2}, ["red"], ("f",), "at least 2 items"),
        ("multi_enum", COLOURS, ["red"] * 4, ("f",), "at most 3 distinct"),
        ("email", {}, "no-at-sign.example.com", ("f",), "exactly one @"),
        ("email", {}, "a b@example.com", ("f",), "spaces"),
        ("email", {}, "ann@localhost", ("f",), "domain with a dot"),
        ("email", {}, "x" * 250 + "@a.com", ("f",), "254"),
        ("phone", {}, "020 7946 0958", ("f",), "international format"),
        ("phone", {}, "+12 34", ("f",), "8 to 15 digits"),
        ("phone", {}, "+1234567890123456", ("f",), "8 to 15 digits"),
        ("url", {}, "javascript:alert(1)", ("f",), "http:// or https://"),
        ("url", {}, "https://", ("f",), "host"),
        ("url", {}, "https://example.com/a b", ("f",), "spaces"),
        ("url", {}, "https://example.com:99999/", ("f",), "not a valid URL"),
        ("geo_point", {}, [51, 0], ("f",), "lat and lon"),
        ("geo_point", {}, {"lat": 91, "lon": 0}, ("f", "lat"), "between -90 and 90"),
        ("geo_point", {}, {"lat": 0}, ("f", "lon"), "is required"),
        ("geo_point", {}, {"lat": 0, "lon": True}, ("f", "lon"), "between -180 and 180"),
        ("geo_point", {}, {"lat": 0, "lon": 0, "alt": 3}, ("f", "alt"), "unknown key"),
        ("reference", {}, "not-a-uuid", ("f",), "must be a UUID"),
        ("reference", {}, "{" + UUID + "}", ("f",), "must be a UUID"),
        ("reference", {}, 42, ("f",), "must be a UUID"),
        ("json", {}, {"x": float("nan")}, ("f",), "plain JSON"),
        ("json", {}, {"x": object()}, ("f",), "plain JSON"),
        ("json", {"max_bytes": 10}, {"key": "a long value"}, ("f",), "at most 10 bytes"),
    ],
)
def test_rejected_values_report_path_and_reason(
    type_name: str,
    constraints: dict[str, object],
    value: object,
    path: tuple[object, ...],
    fragment: str,
) -> None:
    spec = FieldSpec(name="f", type=type_name, constraints=constraints)
    errors = errors_of([spec], {"f": value})
    assert [e.path for e in errors] == [path]
    assert fragment in errors[0].message


def test_every_registered_type_is_exercised() -> None:
    assert set(STRATEGIES) == {
        "text", "long_text", "integer", "number", "boolean", "date", "datetime", "enum",
        "multi_enum", "email", "phone", "url", "geo_point", "reference", "json",
    }  # fmt: skip
    assert all(isinstance(s, FieldStrategy) for s in STRATEGIES.values())


def test_strategy_for_unknown_type_raises_field_error() -> None:
    with pytest.raises(FieldError, match="unknown field type 'colour'"):
        strategy_for("colour")
    assert strategy_for("text").name == "text"


def test_check_constraints_reports_key_and_message() -> None:
    spec = FieldSpec(name="n", type="integer", constraints={"min": 5, "max": 1})
    assert strategy_for("integer").check_constraints(spec) == ["min: must not be greater than max"]


C = "constraints"


@pytest.mark.parametrize(
    ("overrides", "tail", "fragment"),
    [
        ({"name": "Bad Name"}, ("name",), "must start with a-z"),
        ({"name": "a" * 64}, ("name",), "at most 63"),
        ({"name": "title"}, ("name",), "duplicate"),
        ({"type": "colour"}, ("type",), "unknown field type"),
        ({C: {"min": 1}}, (C, "min"), "not a constraint of text"),
        ({"type": "integer", C: {"min": 5, "max": 1}}, (C, "min"), "greater than max"),
        ({"type": "number", C: {"max": "ten"}}, (C, "max"), "must be a number"),
        ({C: {"max_length": -1}}, (C, "max_length"), "non-negative"),
        ({"type": "date", C: {"min": "2024-13-01"}}, (C, "min"), "calendar date"),
        ({"type": "datetime", C: {"max": "2024-01-01T00:00"}}, (C, "max"), "timezone"),
        ({C: {"pattern": "(a+)+$"}}, (C, "pattern"), "exponential"),
        ({C: {"pattern": "(a|a)*"}}, (C, "pattern"), "exponential"),
        ({C: {"pattern": "[a-"}}, (C, "pattern"), "not a valid regular"),
        ({C: {"pattern": "a" * 201}}, (C, "pattern"), "at most 200"),
        ({"type": "enum"}, (C, "values"), "is required"),
        ({"type": "enum", C: {"values": []}}, (C, "values"), "non-empty"),
        ({"type": "multi_enum", C: {"values": ["a", "b", "a"]}}, (C, "values"), "repeat 'a'"),
        ({"type": "reference", C: {"entity_type_id": "abc"}}, (C, "entity_type_id"), "UUID"),
        ({"type": "json", C: {"max_bytes": 0}}, (C, "max_bytes"), "positive"),
        ({"type": "integer", "default": "seven"}, ("default",), "whole number"),
        ({"type": "geo_point", "default": {"lat": 100, "lon": 0}}, ("default", "lat"), "between"),
        ({"type": "boolean", "unique": True}, ("unique",), "cannot be unique"),
        ({"type": "json", "unique": True}, ("unique",), "cannot be unique"),
        ({"type": "long_text", "unique": True}, ("unique",), "cannot be unique"),
        ({"type": "geo_point", "unique": True}, ("unique",), "cannot be unique"),
        ({"type": "multi_enum", "unique": True, C: COLOURS}, ("unique",), "cannot be unique"),
        ({"searchable": "D"}, ("searchable",), "A, B or C"),
        ({"type": "integer", "searchable": "A"}, ("searchable",), "cannot be full-text"),
    ],
)
def test_check_schema_points_at_each_problem(
    overrides: dict[str, object], tail: tuple[object, ...], fragment: str
) -> None:
    spec = FieldSpec.from_dict({"name": "x", "type": "text", **overrides})
    errors = schema_errors([FieldSpec(name="title", type="text"), spec])
    assert [e.path for e in errors] == [("fields", 1, *tail)]
    assert fragment in errors[0].message


def test_check_schema_accepts_a_sound_schema() -> None:
    check_schema(
        [
            FieldSpec(name="title", type="text", required=True, unique=True, searchable="A"),
            FieldSpec(name="body", type="long_text", searchable="C"),
            FieldSpec(name="rank", type="integer", default=3, constraints={"min": 0, "max": 5}),
            FieldSpec(name="tags", type="multi_enum", searchable="B", constraints=COLOURS),
            FieldSpec(name="owner", type="reference", constraints={"entity_type_id": UUID}),
            FieldSpec(name="code", type="text", constraints={"pattern": r"^\d+(\.\d+)?$"}),
        ],
        importance_field="rank",
    )


def test_check_schema_collects_every_problem_including_importance() -> None:
    errors = schema_errors(
        [
            FieldSpec(name="title", type="text"),
            FieldSpec(name="title", type="boolean", unique=True),
            FieldSpec(name="n", type="number", constraints={"min": 2, "max": 1, "step": 1}),
        ],
        importance="title",
    )
    assert {e.path for e in errors} == {
        ("fields", 1, "name"),
        ("fields", 1, "unique"),
        ("fields", 2, "constraints", "min"),
        ("fields", 2, "constraints", "step"),
        ("search_importance",),
    }


def test_importance_field_must_exist() -> None:
    errors = schema_errors([FieldSpec(name="n", type="number")], importance="missing")
    assert [e.path for e in errors] == [("search_importance",)]


FIELDS = [
    FieldSpec(name="title", type="text", required=True),
    FieldSpec(name="rank", type="integer", default=1),
    FieldSpec(name="email", type="email"),
    FieldSpec(name="tags", type="multi_enum", constraints=COLOURS),
]


def test_validate_data_applies_defaults_and_keeps_explicit_none() -> None:
    assert validate_data(FIELDS, {"title": "Hi", "email": None}) == {
        "title": "Hi",
        "rank": 1,
        "email": None,
    }


def test_validate_data_collects_every_error() -> None:
    errors = errors_of(
        FIELDS, {"rank": "high", "email": "nope", "tags": ["red", "mauve"], "colour": "x"}
    )
    assert (errors[0].path, errors[0].message) == (("colour",), "unknown field")
    assert [e.path for e in errors] == [("colour",), ("title",), ("rank",), ("email",), ("tags", 1)]
    assert errors[1].message == "is required"


def test_required_field_cannot_be_cleared() -> None:
    errors = errors_of(FIELDS, {"title": None}, partial=True)
    assert [(e.path, e.message) for e in errors] == [(("title",), "is required")]


def test_partial_mode_checks_only_given_keys_and_applies_no_defaults() -> None:
    assert validate_data(FIELDS, {"email": "A@B.IO"}, partial=True) == {"email": "A@b.io"}
    assert validate_data(FIELDS, {}, partial=True) == {}
    errors = errors_of(FIELDS, {"nickname": "x"}, partial=True)
    assert [e.path for e in errors] == [("nickname",)]


def test_data_invalid_message_lists_paths() -> None:
    errors = errors_of(FIELDS, {"title": "ok", "tags": ["red", "red"]})
    assert str(DataInvalid(errors)) == "tags.1: repeats 'red'"


def test_unique_values_canonicalise() -> None:
    fields = [
        FieldSpec(name="code", type="text", unique=True),
        FieldSpec(name="email", type="email", unique=True),
        FieldSpec(name="amount", type="number", unique=True),
        FieldSpec(name="count", type="integer", unique=True),
        FieldSpec(name="ratio", type="number", unique=True),
        FieldSpec(name="phone", type="phone", unique=True),
        FieldSpec(name="ref", type="reference", unique=True),
        FieldSpec(name="note", type="text", unique=True),
        FieldSpec(name="other", type="text"),
    ]
    data = validate_data(
        fields,
        {
            "code": "  ABC-1 ",
            "email": "Ann@Example.com",
            "amount": 1.0,
            "count": 1,
            "ratio": 0.5,
            "phone": "+44 20 7946 0958",
            "ref": UUID,
            "note": None,
            "other": "x",
        },
    )
    assert unique_values(fields, data) == {
        "code": "abc-1",
        "email": "ann@example.com",
        "amount": "1",
        "count": "1",
        "ratio": "0.5",
        "phone": "+442079460958",
        "ref": UUID.lower(),
    }


def test_field_spec_round_trips_through_dict() -> None:
    spec = FieldSpec(
        name="tags",
        type="multi_enum",
        label="Tags",
        required=True,
        default=["red"],
        searchable="B",
        constraints={"values": ["red", "blue"], "max_items": 2},
    )
    raw = spec.to_dict()
    assert raw["constraints"] == {"values": ["red", "blue"], "max_items": 2}
    assert FieldSpec.from_dict(raw) == spec
    assert FieldSpec.from_dict({"name": "x", "type": "text"}) == FieldSpec(name="x", type="text")


def test_from_dict_refuses_malformed_shapes_as_value_error() -> None:
    with pytest.raises(ValueError, match="required: must be true or false") as caught:
        FieldSpec.from_dict({"name": "x", "type": "text", "required": "yes", "colour": 1})
    assert "colour: unknown key" in str(caught.value)
    with pytest.raises(ValueError, match="name: is required"):
        FieldSpec.from_dict({"type": "text"})


def test_a_new_field_type_is_declared_in_its_strategy_alone():
    """What rules and search make of a field comes from its strategy: a type added later is
    checked by rules and indexed by search with no other table to update."""
    from domain.rules import field_var_types
    from projections.search import search_weights

    @register
    class PostcodeField(FieldStrategy):
        name = "postcode"
        text_like = True
        rule_type = "text"

        def validate(self, value: object, spec: FieldSpec) -> object:
            return str(value)

    try:
        fields = [FieldSpec(name="zip", type="postcode"), FieldSpec(name="n", type="integer")]
        assert field_var_types(fields) == {"data.zip": "text", "data.n": "number"}
        assert search_weights([f.to_dict() for f in fields]) == {"zip": "C"}
    finally:
        del STRATEGIES["postcode"]
    assert field_var_types([FieldSpec(name="zip", type="postcode")]) == {"data.zip": "any"}
