"""Why a rule was true or false: the tree of operations that ran, with the value of each.

The trace comes from a separate compilation in which every operation's closure is wrapped to
record itself; it runs the same closures as evaluation, so it cannot disagree with it. Only
what ran is recorded: after a false argument of `and`, the rest did not run and is absent.
Inside some/all/none the condition appears once per item tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from domain.rules.nodes import Fn
from domain.rules.types import RuleInput

# Keeps an explanation readable (and an API answer small) for a `some` over a long list.
MAX_CHILDREN = 50


@dataclass
class TraceNode:
    op: str
    path: str
    """JSON pointer (RFC 6901) to the operation in the rule, e.g. "/and/0"; "" is the root."""
    value: Any = None
    children: list[TraceNode] = field(default_factory=list)
    omitted: int = 0
    """Children run but not recorded (past MAX_CHILDREN)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op,
            "path": self.path,
            "value": json_value(self.value),
            "children": [child.to_json() for child in self.children],
        }
        if self.omitted:
            out["omitted"] = self.omitted
        return out


@dataclass(frozen=True)
class Explanation:
    result: bool
    trace: TraceNode

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "trace": self.trace.to_json()}


class Recorder:
    """Builds the trace of one evaluation; a fresh one per explanation (so thread-safe)."""

    def __init__(self) -> None:
        self.root = TraceNode(op="", path="")
        self._open = [self.root]

    def wrap(self, fn: Fn, op: str, pointer: str) -> Fn:
        def traced(data: Any, inp: RuleInput) -> Any:
            parent = self._open[-1]
            node = TraceNode(op=op, path=pointer)
            if len(parent.children) < MAX_CHILDREN:
                parent.children.append(node)
            else:
                parent.omitted += 1
            self._open.append(node)
            try:
                node.value = fn(data, inp)
            finally:
                self._open.pop()
            return node.value

        return traced

    def explanation(self, value: Any) -> Explanation:
        if self.root.children:
            trace = self.root.children[0]
        else:  # the whole rule is a literal, e.g. `true`
            trace = TraceNode(op="literal", path="", value=value)
        return Explanation(result=bool(value), trace=trace)


def json_value(value: Any) -> Any:
    """What a traced value looks like in JSON: dates as ISO text, anything else odd as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return str(value)
