"""Rule evaluation: JsonLogic parity (against json-logic-qubit), deviations, workflow operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from json_logic import jsonLogic  # type: ignore[import-untyped]

from domain.errors import InvalidInput
from domain.fields import MAX_MATCH_INPUT
from domain.rules import CompiledRule, RuleInput, compile_rule

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
RECORD: dict[str, Any] = {
    "kind": "incident",
    "data": {
        "severity": 4,
        "score": 2.5,
        "title": "Power cut in Lyon",
        "status": "open",
        "count": "12",
        "owner": None,
        "empty": "",
        "tags": ["urgent", "night"],
        "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 0}],
        "flags": {"vip": True},
    },
    "list": [10, 20, 30],
}


def run(rule: object, data: Any = None, **kw: Any) -> Any:
    return compile_rule(rule).value(make_input(RECORD if data is None else data, **kw))


def holds(rule: object, data: Any = None, **kw: Any) -> bool:
    return compile_rule(rule).evaluate(make_input(RECORD if data is None else data, **kw))


def make_input(
    data: Any,
    previous: Any = None,
    now: datetime = NOW,
    timezone: str = "Europe/Paris",
) -> RuleInput:
    return RuleInput(data, previous, now, timezone)


# Rules and data on which json-logic-qubit and json-logic-js agree; ours must give the same
# value, of the same type.
PARITY: list[tuple[object, Any]] = [
    ({"var": "kind"}, RECORD),
    ({"var": "data.severity"}, RECORD),
    ({"var": "data.items.1.sku"}, RECORD),
    ({"var": "list.0"}, RECORD),
    ({"var": ["data.nope", "fallback"]}, RECORD),
    ({"var": ["data.owner", "fallback"]}, RECORD),  # present null is not missing
    ({"var": "data.title.x"}, RECORD),
    ({"var": ""}, {"a": 1}),
    ({"var": 1}, ["x", "y"]),
    ({"var": "a.b.c"}, {"a": {"b": {"c": [1]}}}),
    ({"==": [1, 1]}, {}),
    ({"==": [1, "1"]}, {}),
    ({"==": ["a", "a"]}, {}),
    ({"==": [0, False]}, {}),
    ({"==": [1, True]}, {}),
    ({"==": [{"var": "missing"}, None]}, {}),
    ({"==": [[1, 2], [1, 2]]}, {}),
    ({"!=": [1, 2]}, {}),
    ({"!=": ["a", "a"]}, {}),
    ({"===": [1, 1.0]}, {}),
    ({"===": [1, "1"]}, {}),
    ({"!==": [1, "1"]}, {}),
    ({"<": [1, 2]}, {}),
    ({"<": [2, 1]}, {}),
    ({"<": ["a", "b"]}, {}),
    ({"<": [1, 2, 3]}, {}),
    ({"<": [1, 1, 3]}, {}),
    ({"<=": [1, 1, 3]}, {}),
    ({"<=": [1, 4, 3]}, {}),
    ({">": [{"var": "data.severity"}, 3]}, RECORD),
    ({">=": [{"var": "data.severity"}, 4]}, RECORD),
    ({">=": [{"var": "data.count"}, 12]}, RECORD),
    ({">": [{"var": "data.missing"}, 0]}, RECORD),
    ({"<": [{"var": "data.missing"}, 0]}, RECORD),
    ({"<=": [None, 0]}, {}),
    ({"and": [True, 1, "x"]}, {}),
    ({"and": [True, 0, "x"]}, {}),
    (
        {"and": [{">": [{"var": "data.severity"}, 3]}, {"==": [{"var": "kind"}, "incident"]}]},
        RECORD,
    ),
    ({"or": [False, 0, ""]}, {}),
    ({"or": [False, "", "first", "second"]}, {}),
    ({"or": [{"==": [{"var": "kind"}, "visit"]}, {"<": [{"var": "data.score"}, 3]}]}, RECORD),
    ({"!": [True]}, {}),
    ({"!": [[]]}, {}),
    ({"!": {"var": "data.empty"}}, RECORD),
    ({"!!": ["0"]}, {}),
    ({"!!": [[]]}, {}),
    ({"!!": [{"var": "data.tags"}]}, RECORD),
    ({"if": [True, "yes", "no"]}, {}),
    ({"if": [False, "yes", "no"]}, {}),
    ({"if": [False, "yes"]}, {}),
    ({"if": [False, 1, False, 2, 3]}, {}),
    ({"if": [False, 1, True, 2, 3]}, {}),
    ({"if": [{"<": [{"var": "data.severity"}, 3]}, "low", "high"]}, RECORD),
    ({"in": ["Lyon", {"var": "data.title"}]}, RECORD),
    ({"in": ["lyon", {"var": "data.title"}]}, RECORD),
    ({"in": [{"var": "data.status"}, ["open", "triage"]]}, RECORD),
    ({"in": [{"var": "data.status"}, ["closed"]]}, RECORD),
    ({"in": [2, [1, 2, 3]]}, {}),
    ({"in": ["x", {"var": "nothing"}]}, {}),
    ({"missing": ["a", "b"]}, {"a": 1}),
    ({"missing": ["data.owner", "data.empty", "data.title", "data.nope"]}, RECORD),
    ({"missing": [["a", "b"]]}, {"b": 0}),
    ({"missing": "a"}, {}),
    ({"missing_some": [1, ["a", "b", "c"]]}, {"a": 1}),
    ({"missing_some": [2, ["a", "b", "c"]]}, {"a": 1}),
    ({"some": [{"var": "data.tags"}, {"==": [{"var": ""}, "night"]}]}, RECORD),
    ({"some": [{"var": "data.items"}, {">": [{"var": "qty"}, 1]}]}, RECORD),
    ({"some": [{"var": "data.nope"}, True]}, RECORD),
    ({"some": [[], True]}, {}),
    ({"all": [{"var": "data.items"}, {">=": [{"var": "qty"}, 0]}]}, RECORD),
    ({"all": [{"var": "data.items"}, {">": [{"var": "qty"}, 0]}]}, RECORD),
    ({"all": [[], True]}, {}),
    ({"none": [{"var": "data.items"}, {">": [{"var": "qty"}, 5]}]}, RECORD),
    ({"none": [{"var": "data.items"}, {">": [{"var": "qty"}, 1]}]}, RECORD),
    ({"none": [{"var": "data.nope"}, True]}, RECORD),
    ({"+": [1, 2]}, {}),
    ({"+": [1, 2.5, "3"]}, {}),
    ({"+": ["3.5"]}, {}),
    ({"-": [10, 4]}, {}),
    ({"-": [2]}, {}),
    ({"*": [2, 3, 4]}, {}),
    ({"*": [{"var": "data.score"}, 2]}, RECORD),
    ({"/": [4, 2]}, {}),
    ({"/": [1, 4]}, {}),
    ({"%": [7, 3]}, {}),
    ({"min": [3, 1, 2]}, {}),
    ({"max": [3, 1, "7"]}, {}),
    ({">": [{"*": [{"var": "data.severity"}, {"var": "data.score"}]}, 9]}, RECORD),
    ({"cat": ["a", 1, "b"]}, {}),
    ({"cat": ["sev-", {"var": "data.severity"}]}, RECORD),
    ({"cat": [1.5]}, {}),
    (True, {}),
    ("text", {}),
    ([1, {"var": "a"}], {"a": 2}),
    ({"a": 1, "b": 2}, {}),  # an object of two keys is a literal, not an operation
]


@pytest.mark.parametrize(("rule", "data"), PARITY)
def test_core_operators_give_what_json_logic_gives(rule: object, data: Any) -> None:
    expected = jsonLogic(rule, data)
    got = run(rule, data)
    assert got == expected
    assert type(got) is type(expected)


# Where json-logic-qubit fails or disagrees with JsonLogic's reference (json-logic-js), ours
# follows the reference, or gives null instead of raising; and where we deliberately differ
# from JavaScript itself (text is compared with a number only when it is a number).
DEVIATIONS: list[tuple[object, Any, Any]] = [
    ({"==": [None, False]}, {}, False),  # qubit: True
    ({"==": [2, True]}, {}, False),  # qubit: True (bool(2) is True)
    ({"==": [1.0, "1"]}, {}, True),  # qubit: "1.0" != "1"
    ({"==": [0, ""]}, {}, False),  # JavaScript says true; "" is not a number here
    ({"in": [True, [1]]}, {}, False),  # `in` is strict, like JavaScript's indexOf
    ({"<": ["abc", 5]}, {}, False),  # qubit raises ValueError
    ({"+": [{"var": "missing"}, 1]}, {}, None),  # qubit raises TypeError; JavaScript: NaN
    ({">": [{"+": [{"var": "missing"}, 1]}, 0]}, {}, False),
    ({"/": [1, 0]}, {}, None),  # qubit raises ZeroDivisionError
    ({"%": [-7, 3]}, {}, -1),  # JavaScript's remainder; qubit (Python) gives 2
    ({"cat": [2.0, None, True]}, {}, "2true"),  # qubit: "2.0NoneTrue"
    ({"var": "list.7"}, RECORD, None),  # qubit raises IndexError
    ({"var": ["list.-1", "d"]}, RECORD, "d"),  # no negative indexes (qubit: the last item)
    ({"some": [[0, 1], {"==": [{"var": ""}, 0]}]}, {}, True),  # both read item 0 as {}
]


@pytest.mark.parametrize(("rule", "data", "expected"), DEVIATIONS)
def test_where_json_logic_implementations_fail_or_disagree(
    rule: object, data: Any, expected: Any
) -> None:
    assert run(rule, data) == expected


def test_a_rule_holds_by_json_logic_truthiness() -> None:
    assert holds({"var": "data.tags"})
    assert not holds({"var": "data.empty"})
    assert not holds({"missing": ["data.title"]})  # an empty list is false
    assert holds({"missing": ["data.owner"]})
    assert not holds({"var": "data.nope"})
    assert holds({"if": [{"var": "data.nope"}, 0, "fallback"]})


def test_inner_vars_of_some_read_the_item_and_nested_paths() -> None:
    data: dict[str, Any] = {"orders": [{"lines": [{"qty": 1}, {"qty": 9}]}, {"lines": []}]}
    rule = {"some": [{"var": "orders"}, {"some": [{"var": "lines"}, {">": [{"var": "qty"}, 5]}]}]}
    assert holds(rule, data)
    data["orders"][0]["lines"][1]["qty"] = 5
    assert not holds(rule, data)


# ------------------------------------------------------------------------------------------
# Workflow operators
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"contains": [{"var": "data.tags"}, "urgent"]}, True),
        ({"contains": [{"var": "data.tags"}, "URGENT"]}, True),
        ({"contains": [{"var": "data.tags"}, "urg"]}, False),  # items match whole
        ({"contains": [{"var": "data.title"}, "power CUT"]}, True),
        ({"contains": [{"var": "data.title"}, "water"]}, False),
        ({"contains": [{"var": "list"}, 20]}, True),
        ({"contains": [{"var": "list"}, "20"]}, False),
        ({"contains": [{"var": "data.nope"}, "x"]}, False),
        ({"starts_with": [{"var": "data.title"}, "power"]}, True),
        ({"starts_with": [{"var": "data.title"}, "Lyon"]}, False),
        ({"starts_with": [{"var": "data.severity"}, "4"]}, False),  # not text
        ({"ends_with": [{"var": "data.title"}, "LYON"]}, True),
        ({"ends_with": [{"var": "data.title"}, "Power"]}, False),
        ({"between": [{"var": "data.severity"}, 4, 5]}, True),  # inclusive low
        ({"between": [{"var": "data.severity"}, 1, 4]}, True),  # inclusive high
        ({"between": [{"var": "data.severity"}, 5, 9]}, False),
        ({"between": [{"var": "data.score"}, 2, 3]}, True),
        ({"between": [{"var": "data.count"}, 10, 20]}, True),  # numeric text, as JsonLogic
        ({"between": [{"var": "data.nope"}, 0, 9]}, False),
        ({"between": [{"var": "data.status"}, "a", "z"]}, True),
        ({"between": [{"var": "data.severity"}, {"var": "list.0"}, 100]}, False),
        ({"matches": [{"var": "data.title"}, r"cut in \w+$"]}, True),
        ({"matches": [{"var": "data.title"}, r"^cut"]}, False),
        ({"matches": [{"var": "data.severity"}, r"4"]}, False),  # not text
    ],
)
def test_workflow_text_and_range_operators(rule: object, expected: bool) -> None:
    assert run(rule) is expected


def test_matches_refuses_overlong_input_instead_of_risking_a_stall() -> None:
    rule = {"matches": [{"var": "text"}, "^a+$"]}
    assert holds(rule, {"text": "a" * MAX_MATCH_INPUT})
    assert not holds(rule, {"text": "a" * (MAX_MATCH_INPUT + 1)})


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"matches": [{"var": "t"}, "(a+)+$"]}, ("condition", "matches", 1), "exponential"),
        ({"matches": [{"var": "t"}, "(x|x)*y"]}, ("condition", "matches", 1), "exponential"),
        ({"matches": [{"var": "t"}, "[a-"]}, ("condition", "matches", 1), "not a valid"),
        ({"matches": [{"var": "t"}, {"var": "p"}]}, ("condition", "matches", 1), "literal"),
        ({"and": [True, {"nope": [1]}]}, ("condition", "and", 1, "nope"), "unknown operator"),
        ({"!": [1, 2]}, ("condition", "!"), "takes 1 argument"),
        ({"between": [1, 2]}, ("condition", "between"), "takes 3 arguments"),
        ({"var": {"cat": ["a", "b"]}}, ("condition", "var"), "literal text"),
        ({"today": "1"}, ("condition", "today"), "whole number of days"),
        ({"changed": [{"var": "a"}]}, ("condition", "changed", 0), "literal text"),
    ],
)
def test_compile_refuses_malformed_rules_with_the_path(
    rule: object, path: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        compile_rule(rule)
    assert caught.value.path == path
    assert message in caught.value.message


def test_compile_refuses_what_is_not_json() -> None:
    with pytest.raises(InvalidInput, match="not plain JSON"):
        compile_rule({"==": [{"var": "a"}, {1, 2}]})


def test_compile_refuses_hostile_sizes_before_recursing() -> None:
    deep: object = {"var": "a"}
    for _ in range(5_000):
        deep = {"!": [deep]}
    with pytest.raises(InvalidInput, match="nests more than 32"):
        compile_rule(deep)
    with pytest.raises(InvalidInput, match="too large"):
        compile_rule({"or": [{"==": [{"var": "a"}, i]} for i in range(400)]})


def test_compiled_rules_are_cached_by_canonical_json() -> None:
    first = compile_rule({"and": [{"==": [{"var": "a"}, 1]}, {">": [{"var": "b"}, 2]}]})
    again = compile_rule({"and": [{"==": [{"var": "a"}, 1]}, {">": [{"var": "b"}, 2]}]})
    assert again is first
    assert isinstance(first, CompiledRule)
    # true and 1 are equal (and hash alike) in Python, but are different rules.
    assert compile_rule({"===": [{"var": "a"}, True]}) is not compile_rule(
        {"===": [{"var": "a"}, 1]}
    )
    assert holds({"===": [{"var": "a"}, True]}, {"a": True})
    assert not holds({"===": [{"var": "a"}, 1]}, {"a": True})


def test_changing_the_callers_rule_afterwards_does_not_change_the_compiled_one() -> None:
    rule: dict[str, Any] = {"==": [{"var": "a"}, "x-unique-7"]}
    compiled = compile_rule(rule)
    rule["=="][1] = "y"
    assert compiled.evaluate(make_input({"a": "x-unique-7"}))


@pytest.mark.parametrize(
    ("rule", "data"),
    [
        ({">=": [{"var": "n"}, 3]}, {"n": "3"}),
        ({">=": [3, {"var": "n"}]}, {"n": True}),
        ({"<": [{"var": "n"}, 3]}, {"n": None}),
        ({"==": [{"var": "n"}, 3]}, {"n": "3"}),
        ({"!=": [{"var": "n"}, "3"]}, {"n": 3}),
        ({"==": ["a", {"var": "n"}]}, {"n": ["a"]}),
        ({"===": [{"var": "n"}, 3]}, {"n": 3.0}),
        ({"!==": [{"var": "n"}, "a"]}, {"n": "a"}),
        ({"in": [{"var": "n"}, ["1", "2"]]}, {"n": 1}),
        ({"between": [{"var": "n"}, 1, 3]}, {"n": "2"}),
        ({"<": [0, {"var": "n"}, 3]}, {"n": 3}),
        ({"missing": ["a.b", "a.c"]}, {"a": [1]}),
        ({"missing": ["a.b", "a.c"]}, {"a": {"b": 1, "c": ""}}),
        ({"*": [{"var": "n"}, 2]}, {"n": "x"}),
        ({"var": "a.0"}, {"a": ["first"]}),
    ],
)
def test_specialised_closures_agree_with_the_general_semantics(
    rule: object, data: dict[str, Any]
) -> None:
    # explain() compiles without specialisation or folding; both must agree.
    compiled, inp = compile_rule(rule), make_input(data)
    assert compiled.explain(inp).result == compiled.evaluate(inp)
    assert compiled.explain(inp).trace.value == compiled.value(inp)


def test_rule_input_refuses_a_naive_clock_and_an_unknown_timezone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RuleInput({}, None, datetime(2026, 1, 1), "UTC")
    with pytest.raises(ValueError, match="unknown timezone"):
        RuleInput({}, None, NOW, "Mars/Olympus")
