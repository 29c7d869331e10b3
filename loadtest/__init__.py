"""`bsdflow loadtest`: drive a running bsdflow with a scenario and measure what users feel.

Scenarios (YAML, see `scenarios/`) mix commands over HTTP, GraphQL reads and search with
subscriptions held open; executors start iterations by arrival rate (open model) or by
virtual users; the run reports latency per operation, errors by kind and freshness (command
answer → subscription message, → GraphQL read), and judges thresholds.

Custom steps import `Outcome` and `StepContext` from here.
"""

from __future__ import annotations

from loadtest.engine import RunResult, Target, run, run_async
from loadtest.scenario import Scenario, builtin_names, load_scenario, with_overrides
from loadtest.steps import Outcome, StepContext

__all__ = [
    "Outcome",
    "RunResult",
    "Scenario",
    "StepContext",
    "Target",
    "builtin_names",
    "load_scenario",
    "run",
    "run_async",
    "with_overrides",
]
