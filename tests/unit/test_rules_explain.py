"""CompiledRule.explain: which parts of a rule ran, where they are in it, and what they gave."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from domain.rules import RuleInput, TraceNode, compile_rule
from domain.rules.explain import MAX_CHILDREN

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def explain(rule: object, data: dict[str, Any]) -> Any:
    return compile_rule(rule).explain(RuleInput(data, None, NOW, "Europe/Paris"))


def shape(node: TraceNode) -> list[Any]:
    """(op, path, value) of a node, then its children, as nested lists."""
    return [node.op, node.path, node.value, [shape(child) for child in node.children]]


def test_the_trace_shows_each_operation_with_its_pointer_and_value() -> None:
    rule = {
        "and": [
            {">=": [{"var": "data.severity"}, 3]},
            {"or": [{"==": [{"var": "kind"}, "incident"]}, {"in": ["Lyon", {"var": "title"}]}]},
        ]
    }
    explanation = explain(rule, {"kind": "visit", "title": "Lyon depot", "data": {"severity": 4}})
    assert explanation.result is True
    assert shape(explanation.trace) == [
        "and", "", True, [
            [">=", "/and/0", True, [["var", "/and/0/>=/0", 4, []]]],
            ["or", "/and/1", True, [
                ["==", "/and/1/or/0", False, [["var", "/and/1/or/0/==/0", "visit", []]]],
                ["in", "/and/1/or/1", True, [["var", "/and/1/or/1/in/1", "Lyon depot", []]]],
            ]],
        ],
    ]  # fmt: skip


def test_short_circuited_parts_do_not_appear() -> None:
    rule = {"and": [{">=": [{"var": "n"}, 3]}, {"==": [{"var": "kind"}, "incident"]}]}
    explanation = explain(rule, {"n": 1, "kind": "incident"})
    assert explanation.result is False
    assert [child.path for child in explanation.trace.children] == ["/and/0"]
    assert explanation.trace.children[0].value is False


def test_unlisted_arguments_and_escaped_operator_names_in_pointers() -> None:
    explanation = explain({"!": {"/": [{"var": "a"}, 2]}}, {"a": 4})
    assert explanation.result is False
    assert shape(explanation.trace) == [
        "!", "", False, [["/", "/!", 2, [["var", "/!/~1/0", 4, []]]]],
    ]  # fmt: skip


def test_some_shows_the_condition_once_per_item_tested() -> None:
    rule = {"some": [{"var": "items"}, {">": [{"var": "qty"}, 1]}]}
    explanation = explain(rule, {"items": [{"qty": 0}, {"qty": 5}, {"qty": 9}]})
    assert explanation.result is True
    items, *tests = explanation.trace.children
    assert (items.op, items.path) == ("var", "/some/0")
    assert [(t.op, t.path, t.value) for t in tests] == [
        (">", "/some/1", False),
        (">", "/some/1", True),  # stops at the first match
    ]


def test_long_lists_are_summarised() -> None:
    rule = {"all": [{"var": "items"}, {">=": [{"var": ""}, 0]}]}
    explanation = explain(rule, {"items": list(range(200))})
    assert explanation.result is True
    assert len(explanation.trace.children) == MAX_CHILDREN
    assert explanation.trace.omitted == 201 - MAX_CHILDREN
    assert explanation.to_json()["trace"]["omitted"] == 201 - MAX_CHILDREN


def test_a_literal_rule_has_a_single_literal_node() -> None:
    explanation = explain(True, {})
    assert explanation.result is True
    assert shape(explanation.trace) == ["literal", "", True, []]


def test_to_json_is_plain_json() -> None:
    rule = {"or": [{"before": [{"var": "due"}, {"today": 0}]}, {"missing": ["owner"]}]}
    explanation = explain(rule, {"due": "2026-03-20"})
    out = explanation.to_json()
    assert json.loads(json.dumps(out)) == out
    assert out["result"] is True
    today = out["trace"]["children"][0]["children"][1]
    assert today == {"op": "today", "path": "/or/0/before/1", "value": "2026-03-09T23:00:00+00:00", "children": []}  # fmt: skip
    assert out["trace"]["children"][1] == {
        "op": "missing", "path": "/or/1", "value": ["owner"], "children": [],
    }  # fmt: skip
    assert out["trace"]["value"] == ["owner"]


def test_the_trace_sees_every_operation_even_where_evaluation_folds_literals() -> None:
    explanation = explain({"==": [{"+": [1, 2]}, 3]}, {})
    assert shape(explanation.trace) == ["==", "", True, [["+", "/==/0", 3, []]]]
