"""`bsdflow loadtest`: its options, and what only the installation knows (tokens, data folder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from infra.dev_cli import token_codec
from infra.settings import DEMO_TENANT, Settings

app = typer.Typer()
console = Console()


@app.command()
def loadtest(
    scenario: Annotated[
        str,
        typer.Argument(help="smoke, steady, burst, search-heavy, subscribers, or a YAML path"),
    ],
    url: Annotated[
        str | None,
        typer.Option(
            help="The API to load (default: the running `bsdflow up`, else BSDFLOW_HOST/PORT)"
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token; its tenant is loaded (default: a fresh loadtest-… tenant, "
            "created with tokens minted here)"
        ),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Override the duration, e.g. 30s or 2m")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Override the arrival rate (peak rate for a ramp), /s")
    ] = None,
    vus: Annotated[int | None, typer.Option(help="Override the virtual users")] = None,
    iterations: Annotated[int | None, typer.Option(help="Stop after this many")] = None,
    out: Annotated[
        str | None, typer.Option(help="Folder for the reports (default: .bsdflow/loadtest)")
    ] = None,
    threshold: Annotated[
        list[str] | None, typer.Option(help="Extra threshold, e.g. 'p99 < 200ms' (repeatable)")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option(help="Allow a target that is not on this machine")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No live progress")] = False,
) -> None:
    """Load a running bsdflow with a scenario; exit 1 when a threshold is breached."""
    from infra.instance import api_url
    from loadtest.command import main

    settings = Settings()

    def credentials() -> tuple[str, Callable[[str, list[str]], str]]:
        """Tokens signed with this installation's secret, as `bsdflow token` mints them: the
        minter creates the run's own tenant; the demo admin only serves scenarios that ask
        for the token's tenant (`data.tenant: token`) when no --token is given."""
        codec = token_codec(settings)

        def mint(tenant: str, roles: list[str]) -> str:
            return codec.mint(tenant, roles, actor="loadtest")

        return mint(DEMO_TENANT, ["admin"]), mint

    code = main(
        scenario,
        url=url or api_url(settings),
        token=token,
        duration=duration,
        rate=rate,
        vus=vus,
        iterations=iterations,
        out=Path(out) if out else settings.data_dir / "loadtest",
        credentials=credentials,
        thresholds=threshold or [],
        allow_remote=allow_remote,
        quiet=quiet,
        console=console,
    )
    if code:
        raise typer.Exit(code)
