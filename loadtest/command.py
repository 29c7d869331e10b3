"""What `bsdflow loadtest` does with its options; the typer function in `infra/loadtest_cli.py` only
declares them and supplies what only the installation knows (how to mint its tokens, where its
data folder is). Exit codes: 0 all thresholds held, 1 a threshold was breached, 2 the run
could not start (bad scenario, refused target, failed setup)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from loadtest.client import RemoteTarget
from loadtest.engine import Target, run
from loadtest.scenario import load_scenario, parse_duration, with_overrides
from loadtest.setup import Mint, SetupError

BREACHED, CANNOT_RUN = 1, 2


def main(
    scenario_name: str,
    *,
    url: str,
    token: str | None,
    duration: str | None,
    rate: float | None,
    vus: int | None,
    iterations: int | None,
    out: Path,
    credentials: Callable[[], tuple[str, Mint]],
    thresholds: list[str],
    allow_remote: bool,
    quiet: bool,
    console: Console | None = None,
) -> int:
    console = console or Console()
    try:
        scenario = with_overrides(
            load_scenario(scenario_name),
            duration=parse_duration(duration) if duration else None,
            rate=rate,
            vus=vus,
            iterations=iterations,
        )
        if token is None:
            token, mint = credentials()
        else:
            mint = None
        result = run(
            scenario,
            Target(url, token, allow_remote=allow_remote, mint=mint),
            extra_thresholds=thresholds,
            out_dir=out,
            console=console,
            live=not quiet,
        )
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        console.print(f"[red]loadtest: the scenario is not valid:\n{problems}[/red]")
        return CANNOT_RUN
    except (FileNotFoundError, ValueError, RemoteTarget, SetupError) as exc:
        console.print(f"[red]loadtest: {exc}[/red]")
        return CANNOT_RUN
    if result.json_path and result.html_path:
        console.print(f"report: {result.html_path}\njson:   {result.json_path}")
    if not result.passed:
        console.print("[red bold]thresholds breached[/red bold]")
        return BREACHED
    return 0
