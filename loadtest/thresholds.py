"""Thresholds: `p99 < 200ms`, `errors < 0.1%`, `freshness_p99 < 100ms`, `search: p95 < 50ms`.

Grammar: `[operation:] metric comparator number[unit]`. Latency metrics are compared in
milliseconds (`s`, `ms`, `us` convert), `errors` as a fraction (`%` divides by 100), `rps` in
operations per second, `dropped` and `missed` as counts. A threshold on something that was not
measured fails: a gate that cannot be checked must not pass silently.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LATENCY = ("p50", "p90", "p95", "p99", "max", "mean")
FRESHNESS = {f"freshness_{s}": ("subscription", s) for s in LATENCY} | {
    f"read_freshness_{s}": ("read", s) for s in LATENCY
}
COUNTS = ("dropped", "missed")
METRICS = (*LATENCY, "errors", "rps", *FRESHNESS, *COUNTS)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_UNIT_MS = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
_SYNTAX = re.compile(
    r"^\s*(?:(?P<op>[\w.-]+)\s*:\s*)?(?P<metric>[a-z_0-9]+)\s*(?P<cmp><=|>=|==|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|us|µs|s|%)?\s*$"
)


@dataclass(frozen=True)
class Threshold:
    expression: str
    metric: str
    comparator: str
    limit: float
    """In the metric's own unit: ms for latency, a fraction for errors."""
    operation: str | None = None


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    actual: float | None
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold.expression,
            "actual": self.actual,
            "limit": self.threshold.limit,
            "unit": unit_of(self.threshold.metric),
            "passed": self.passed,
        }

    def shown(self) -> str:
        return shown(self.actual, unit_of(self.threshold.metric))


def unit_of(metric: str) -> str:
    if metric in LATENCY or metric in FRESHNESS:
        return "ms"
    return {"errors": "fraction", "rps": "/s"}.get(metric, "")


def shown(actual: float | None, unit: str) -> str:
    if actual is None:
        return "not measured"
    if unit == "fraction":
        return f"{actual:.3%}"
    return f"{actual:,.4g}{' ' + unit if unit == 'ms' else unit}"


def parse_threshold(text: str) -> Threshold:
    found = _SYNTAX.match(text)
    if found is None:
        raise ValueError(f"not a threshold: {text!r} (e.g. 'p99 < 200ms', 'errors < 0.1%')")
    metric, unit = found["metric"], found["unit"] or ""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} in {text!r}; known: {', '.join(METRICS)}")
    value = float(found["value"])
    if metric in LATENCY or metric in FRESHNESS:
        if unit not in _UNIT_MS:
            raise ValueError(f"{text!r}: latency takes ms, s or us")
        value *= _UNIT_MS[unit]
    elif metric == "errors":
        if unit not in ("", "%"):
            raise ValueError(f"{text!r}: errors take a fraction or a percentage")
        value = value / 100 if unit == "%" else value
    elif unit:
        raise ValueError(f"{text!r}: {metric} takes no unit")
    if found["op"] and metric in FRESHNESS:
        raise ValueError(f"{text!r}: freshness is measured across operations")
    return Threshold(text.strip(), metric, found["cmp"], value, found["op"])


def measured(threshold: Threshold, summary: Mapping[str, Any]) -> float | None:
    """The figure a threshold speaks of, read from the JSON summary (None: not measured)."""
    metric = threshold.metric
    if metric in FRESHNESS:
        kind, stat = FRESHNESS[metric]
        figures = summary["freshness"][kind]
        return figures["latency_ms"].get(stat) if figures["count"] else None
    if metric == "dropped":
        return float(summary["totals"]["dropped"])
    if metric == "missed":
        return float(summary["freshness"]["missed"])
    scope = summary["totals"]
    if threshold.operation is not None:
        scope = summary["operations"].get(threshold.operation)
        if scope is None:
            return None
    if metric == "errors":
        return float(scope["error_rate"]) if scope["count"] else None
    if metric == "rps":
        return float(scope["rps"])
    value = scope["latency_ms"].get(metric)
    return float(value) if value is not None else None


def judge(thresholds: list[Threshold], summary: Mapping[str, Any]) -> list[Verdict]:
    verdicts = []
    for threshold in thresholds:
        actual = measured(threshold, summary)
        ok = actual is not None and _COMPARE[threshold.comparator](actual, threshold.limit)
        verdicts.append(Verdict(threshold, actual, ok))
    return verdicts
