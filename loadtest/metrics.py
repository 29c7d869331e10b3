"""Samples as they happen, and the figures made from them afterwards.

Latency percentiles are over successful operations: a fast refusal would otherwise make a
failing system look quick. Failures are counted by kind (`http_409`, `graphql`, `timeout`,
`connection`, ...). Every time is in seconds on the event loop's monotonic clock, relative to
the start of the measured phase.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
HISTOGRAM_BINS = 24
TIMELINE_POINTS = 60


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on a sorted list."""
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_figures(seconds: list[float]) -> dict[str, float]:
    """p50…p99, max, mean and min in milliseconds (empty when there is nothing to describe)."""
    if not seconds:
        return {}
    ordered = sorted(seconds)
    figures = {name: percentile(ordered, q) * 1000 for name, q in PERCENTILES.items()}
    figures |= {
        "max": ordered[-1] * 1000,
        "mean": sum(ordered) / len(ordered) * 1000,
        "min": ordered[0] * 1000,
    }
    return {name: round(value, 3) for name, value in figures.items()}


def histogram(seconds: list[float], bins: int = HISTOGRAM_BINS) -> list[dict[str, float]]:
    """Log-spaced buckets (latencies spread over orders of magnitude), edges in ms."""
    if not seconds:
        return []
    low, high = max(min(seconds) * 1000, 0.01), max(max(seconds) * 1000, 0.011)
    if high <= low * 1.0001:
        return [{"from_ms": round(low, 3), "to_ms": round(high, 3), "count": len(seconds)}]
    ratio = (high / low) ** (1 / bins)
    edges = [low * ratio**i for i in range(bins + 1)]
    counts = [0] * bins
    for value in seconds:
        ms = max(value * 1000, low)
        index = min(int(math.log(ms / low) / math.log(ratio)), bins - 1)
        counts[index] += 1
    return [
        {"from_ms": round(edges[i], 3), "to_ms": round(edges[i + 1], 3), "count": counts[i]}
        for i in range(bins)
    ]


def timeline(
    samples: list[tuple[float, float]], failures: list[float], span: float
) -> list[dict[str, float]]:
    """Per time bucket (by start time): count, errors, p50, p95, max latency in ms.

    Between 10 and `TIMELINE_POINTS` buckets, at most a second wide unless the run is long;
    the last one may be shorter, and says so in `width` (rates divide by it)."""
    span = max(span, 1e-3)
    width = max(span / TIMELINE_POINTS, min(1.0, span / 10))
    buckets = max(1, math.ceil(span / width - 1e-9))
    latencies: list[list[float]] = [[] for _ in range(buckets)]
    errors = [0] * buckets
    for start, latency in samples:
        latencies[min(max(int(start / width), 0), buckets - 1)].append(latency)
    for start in failures:
        errors[min(max(int(start / width), 0), buckets - 1)] += 1
    points: list[dict[str, float]] = []
    for i in range(buckets):
        figures = latency_figures(latencies[i])
        points.append(
            {
                "t": round(i * width, 3),
                "width": round(max(min(width, span - i * width), width / 100), 3),
                "count": len(latencies[i]) + errors[i],
                "errors": errors[i],
                **{k: figures[k] for k in ("p50", "p95", "max") if k in figures},
            }
        )
    return points


@dataclass
class Series:
    """One named stream of timed samples: an operation, or a freshness measure."""

    ok: list[tuple[float, float]] = field(default_factory=list)
    """(start, latency) of each success."""
    failed: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The first failure of each kind as it happened: what was sent and what came back."""

    def fail(self, start: float, kind: str, sample: dict[str, Any] | None = None) -> None:
        self.failed.append(start)
        self.errors[kind] += 1
        if sample is not None:
            self.samples.setdefault(kind, sample)

    @property
    def count(self) -> int:
        return len(self.ok) + len(self.failed)

    def describe(self, span: float) -> dict[str, Any]:
        latencies = [latency for _, latency in self.ok]
        count = self.count
        return {
            "count": count,
            "ok": len(self.ok),
            "errors": dict(self.errors.most_common()),
            "error_samples": {
                kind: self.samples[kind] for kind in self.errors if kind in self.samples
            },
            "error_rate": round(len(self.failed) / count, 6) if count else 0.0,
            "rps": round(count / span, 3) if span > 0 else 0.0,
            "latency_ms": latency_figures(latencies),
            "histogram": histogram(latencies),
            "timeline": timeline(self.ok, self.failed, span),
        }


@dataclass
class Recorder:
    """Everything measured during one run; written only from the event loop's thread."""

    operations: dict[str, Series] = field(default_factory=dict)
    subscription_freshness: Series = field(default_factory=Series)
    read_freshness: Series = field(default_factory=Series)
    schedule_lag: list[float] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)
    """How late a short timer fires on the load generator's own loop: when it grows, every
    latency measured here includes time the client, not the server, spent."""
    started: int = 0
    dropped: int = 0
    interrupted: int = 0
    commands_ok: int = 0
    recent: deque[tuple[float, float | None]] = field(default_factory=lambda: deque(maxlen=100_000))
    """(end, latency or None if it failed) of the latest completions, for the live view."""

    def series(self, name: str) -> Series:
        return self.operations.setdefault(name, Series())

    def success(self, name: str, start: float, end: float, *, command: bool) -> None:
        self.series(name).ok.append((start, end - start))
        self.commands_ok += command
        self.recent.append((end, end - start))

    def failure(
        self, name: str, start: float, end: float, kind: str, sample: dict[str, Any] | None = None
    ) -> None:
        self.series(name).fail(start, kind, sample)
        self.recent.append((end, None))

    @property
    def completed(self) -> int:
        return sum(series.count for series in self.operations.values())

    @property
    def failures(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for series in self.operations.values():
            total.update(series.errors)
        return total

    def live(self, now: float, window: float = 2.0) -> tuple[float, float, float | None]:
        """(completions per second, error share, p95 latency in ms) over the last `window`
        seconds (`now` and the samples on the same clock)."""
        latencies: list[float] = []
        errors = 0
        for end, latency in reversed(self.recent):
            if end < now - window:
                break
            if latency is None:
                errors += 1
            else:
                latencies.append(latency)
        done = len(latencies) + errors
        p95 = percentile(sorted(latencies), 95) * 1000 if latencies else None
        return done / window, (errors / done if done else 0.0), p95

    def totals(self, span: float) -> dict[str, Any]:
        merged = Series()
        for name, series in self.operations.items():
            merged.ok.extend(series.ok)
            merged.failed.extend(series.failed)
            merged.errors.update(series.errors)
            for kind, sample in series.samples.items():
                merged.samples.setdefault(kind, {"operation": name, **sample})
        merged.ok.sort()
        described = merged.describe(span)
        del described["timeline"]
        return described | {
            "iterations_started": self.started,
            "dropped": self.dropped,
            "interrupted": self.interrupted,
            "commands_ok": self.commands_ok,
            "schedule_lag_ms": latency_figures(self.schedule_lag),
            "client_loop_lag_ms": latency_figures(self.loop_lag),
        }

    async def watch_loop(self, every: float = 0.05) -> None:
        """Until cancelled: sample the event loop's lag (see `loop_lag`)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(every)
            self.loop_lag.append(max(0.0, loop.time() - before - every))
