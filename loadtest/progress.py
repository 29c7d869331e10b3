"""The terminal side: a live view while the load runs, and the summary when it is done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from loadtest.client import describe_sample
from loadtest.executors import target_rate
from loadtest.freshness import FreshnessTracker
from loadtest.metrics import Recorder, percentile
from loadtest.scenario import Scenario
from loadtest.thresholds import shown

REFRESH_PER_SECOND = 4
LAG_WARNING_MS = 50.0


class LiveView:
    """Refreshes a small panel a few times a second; does nothing when disabled (not a
    terminal, `--quiet`), so logs and CI output stay clean."""

    def __init__(self, console: Console, scenario: Scenario, *, enabled: bool) -> None:
        self.console = console
        self.scenario = scenario
        self.enabled = enabled

    def phase(self, text: str) -> None:
        if self.enabled:
            self.console.print(f"[dim]·[/dim] {text}")

    @contextlib.asynccontextmanager
    async def measuring(
        self,
        recorder: Recorder,
        tracker: FreshnessTracker,
        origin: float,
        subscribers: Callable[[], tuple[int, int]],
    ) -> AsyncIterator[None]:
        if not self.enabled:
            yield
            return
        loop = asyncio.get_running_loop()

        def render() -> Group:
            return self._render(recorder, tracker, loop.time() - origin, subscribers())

        with Live(
            render(), console=self.console, refresh_per_second=REFRESH_PER_SECOND, transient=False
        ) as live:

            async def refresh() -> None:
                while True:
                    await asyncio.sleep(1 / REFRESH_PER_SECOND)
                    live.update(render())

            task = asyncio.create_task(refresh())
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                live.update(render())

    def _render(
        self, recorder: Recorder, tracker: FreshnessTracker, elapsed: float, subs: tuple[int, int]
    ) -> Group:
        total = self.scenario.duration
        shown = min(elapsed, total)
        eta = max(total - elapsed, 0.0)
        head = Table.grid(padding=(0, 2))
        head.add_row(
            Text(self.scenario.name, style="bold"),
            ProgressBar(total=total or 1, completed=shown, width=40),
            Text(f"{shown:5.1f}s / {total:.0f}s  ETA {eta:4.0f}s"),
        )
        rate, error_share, p95 = recorder.live(elapsed)
        wanted = target_rate(self.scenario.executor, elapsed)
        completed = recorder.completed
        failures = recorder.failures
        errors = sum(failures.values())
        line = (
            f"started {recorder.started:,}  done {completed:,}  "
            f"in flight {recorder.started - completed - recorder.interrupted:,}  "
            f"dropped {recorder.dropped:,}   rate {rate:,.1f}/s"
            + (f" (target {wanted:,.1f}/s)" if wanted is not None else "")
            + (f"   p95 {p95:,.1f} ms" if p95 is not None else "")
        )
        kinds = ", ".join(f"{kind} {n}" for kind, n in failures.most_common(3))
        error_line = Text(
            f"errors {errors:,} ({errors / completed:.2%} overall, {error_share:.1%} now)"
            if completed
            else "errors 0",
            style="red" if errors else "green",
        )
        if kinds:
            error_line.append(f"   {kinds}", style="red")
        fresh = sorted(latency for _, latency in tracker.series.ok[-2000:])
        fresh_text = (
            f"freshness p95 {percentile(fresh, 95) * 1000:,.1f} ms "
            f"({len(tracker.series.ok):,} samples, {tracker.outstanding:,} waiting)"
            if fresh
            else "freshness: no samples yet"
        )
        live, wanted_subs = subs
        return Group(
            head,
            Text(line),
            error_line,
            Text(f"{fresh_text}   subscribers {live}/{wanted_subs}", style="cyan"),
        )


def _ms(figures: dict[str, float], key: str) -> str:
    if key not in figures:
        return "-"
    value = figures[key]
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _errors(op: dict[str, Any]) -> str:
    count = sum(op["errors"].values())
    return f"{count:,} ({op['error_rate']:.1%})" if count else "0"


TERMINAL_STATS = ("p50", "p95", "p99", "max")
"""The terminal keeps to 80 columns; p90 and the rest are in the JSON and HTML reports."""


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    totals = summary["totals"]
    console.print(
        f"\n[bold]{summary['scenario']['name']}[/bold] against {summary['target']} "
        f"(tenant {summary['tenant']}): "
        f"{totals['count']:,} operations in {summary['duration_s']:.1f} s "
        f"({totals['rps']:,.1f}/s), {totals['dropped']:,} dropped; "
        f"setup {summary['setup']['commands']} commands"
    )
    table = Table(
        box=box.SIMPLE_HEAD,
        title="latency in ms (successful operations)",
        title_justify="left",
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("operation", no_wrap=True)
    for column in ("count", "rate/s", "errors", *TERMINAL_STATS):
        table.add_column(column, justify="right", no_wrap=True)
    rows = [*summary["operations"].items(), ("all", totals)]
    for name, op in rows:
        table.add_row(
            name,
            f"{op['count']:,}",
            f"{op['rps']:,.1f}",
            _errors(op),
            *(_ms(op["latency_ms"], k) for k in TERMINAL_STATS),
            style="bold" if name == "all" else None,
            end_section=name == "all",
        )
    labels = {"subscription": "→ subscriber", "read": "→ GraphQL read"}
    table.add_row("[cyan]freshness[/cyan]", "", "", "", "", "", "", "")
    for kind, label in labels.items():
        fresh = summary["freshness"][kind]
        table.add_row(
            f" {label}",
            f"{fresh['count']:,}",
            "",
            _errors(fresh),
            *(_ms(fresh["latency_ms"], k) for k in TERMINAL_STATS),
            style="cyan",
        )
    console.print(table)
    failures = totals["errors"]
    if failures:
        console.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in failures.items()))
        for kind, sample in totals.get("error_samples", {}).items():
            console.print(
                f"  {kind}: {describe_sample(sample)}", style="red", highlight=False, markup=False
            )
    subs = summary["subscriptions"]
    console.print(
        f"subscriptions: {subs['connected']}/{subs['connections']} connected, "
        f"{subs['messages']:,} messages, {summary['freshness']['missed']} missed"
        + (f", errors {subs['errors']}" if subs["errors"] else "")
    )
    lags = (totals["schedule_lag_ms"], totals["client_loop_lag_ms"])
    if max(lag.get("p99", 0.0) for lag in lags) > LAG_WARNING_MS:
        console.print(
            f"[yellow]the load generator itself was busy (start lag p99 {_ms(lags[0], 'p99')} "
            f"ms, event-loop lag p99 {_ms(lags[1], 'p99')} ms): its figures include client "
            "time; run it on another machine or lower the load[/yellow]"
        )
    for verdict in summary["thresholds"]:
        mark = "[green]✓[/green]" if verdict["passed"] else "[red]✗[/red]"
        actual = shown(verdict["actual"], verdict["unit"])
        console.print(f"{mark} {verdict['threshold']}  (actual {actual})")
