"""A load-test run end to end: check the target, run the load, judge the thresholds, write
the reports, print the summary."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from loadtest.client import check_target
from loadtest.load import Load, Target
from loadtest.progress import LiveView, print_summary
from loadtest.report import write_reports
from loadtest.scenario import Scenario
from loadtest.steps import Mix
from loadtest.thresholds import Verdict, judge, parse_threshold

__all__ = ["RunResult", "Target", "run", "run_async"]


@dataclass
class RunResult:
    summary: dict[str, Any]
    verdicts: list[Verdict]
    json_path: Path | None = None
    html_path: Path | None = None

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


def run(
    scenario: Scenario,
    target: Target,
    *,
    extra_thresholds: list[str] | None = None,
    out_dir: Path | None = None,
    console: Console | None = None,
    live: bool = True,
) -> RunResult:
    """Run a scenario to the end (or Ctrl-C) and write its JSON and HTML reports."""
    return asyncio.run(
        run_async(
            scenario,
            target,
            extra_thresholds=extra_thresholds,
            out_dir=out_dir,
            console=console,
            live=live,
        )
    )


async def run_async(
    scenario: Scenario,
    target: Target,
    *,
    extra_thresholds: list[str] | None = None,
    out_dir: Path | None = None,
    console: Console | None = None,
    live: bool = True,
) -> RunResult:
    console = console or Console()
    check_target(target.url, target.allow_remote)
    thresholds = [parse_threshold(t) for t in [*scenario.thresholds, *(extra_thresholds or [])]]
    view = LiveView(console, scenario, enabled=live and console.is_terminal)
    with _stop_on_interrupt() as stop:
        load = Load(scenario, target, Mix.of(scenario), view, stop)
        try:
            await load.prepare()
            await load.measure()
        finally:
            await load.close()
    summary = load.summary()
    verdicts = judge(thresholds, summary)
    summary["thresholds"] = [v.as_dict() for v in verdicts]
    summary["passed"] = all(v.passed for v in verdicts)
    result = RunResult(summary, verdicts)
    if out_dir is not None:
        result.json_path, result.html_path = write_reports(summary, out_dir)
    print_summary(console, summary)
    return result


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[asyncio.Event]:
    """Ctrl-C ends the load early but still writes the report of what was measured."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        installed = False
    try:
        yield stop
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
