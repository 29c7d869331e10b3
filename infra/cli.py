"""The `bsdflow` command line."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel

from infra.api import create_app
from infra.logging import configure_logging
from infra.runtime import build_runtime, resolve_urls
from infra.settings import Settings

app = typer.Typer(help="bsdflow: an event-sourced workflow platform.", no_args_is_help=True)
console = Console()
DEMO_TENANT = "demo"


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Interface to serve on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on")] = None,
) -> None:
    """Start everything: embedded servers (unless configured), migrations and the API."""
    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    configure_logging(settings.log_level, settings.log_json)
    with console.status("starting PostgreSQL, Kafka (Tansu) and Redis…"):
        urls, stack = resolve_urls(settings)
    runtime = build_runtime(settings, urls, stack)
    try:
        runtime.ensure_tenant(DEMO_TENANT, "Demo organisation")
        admin = runtime.tokens.mint(DEMO_TENANT, ["admin"], actor="demo-admin")
        base = f"http://{settings.host}:{settings.port}"
        where = f"embedded stack in {settings.data_dir}" if stack else "external servers"
        console.print(
            Panel.fit(
                f"[bold]bsdflow is up[/bold]  ({where})\n\n"
                f"  API        {base}\n"
                f"  OpenAPI    {base}/docs\n"
                f"  Ready      {base}/ready\n"
                f"  PostgreSQL {urls.database_url}\n"
                f"  Kafka      {urls.kafka_bootstrap_servers}\n"
                f"  Redis      {urls.redis_url}\n\n"
                f"  Dev token (tenant '{DEMO_TENANT}', role admin):\n  {admin}\n\n"
                "  export TOKEN=$(.venv/bin/bsdflow token --tenant demo --role admin)\n"
                "  Press Ctrl-C to stop everything.",
                title="bsdflow",
            )
        )
        uvicorn.run(
            create_app(runtime),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    finally:
        with console.status("stopping…"):
            runtime.close()
        console.print("stopped.")


@app.command()
def migrate() -> None:
    """Create or update the event store tables (idempotent)."""
    settings = Settings()
    urls, stack = resolve_urls(settings)
    runtime = build_runtime(settings, urls, stack)
    runtime.close()
    console.print("event store is up to date.")


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant slug")] = DEMO_TENANT,
    role: Annotated[
        list[str] | None, typer.Option(help="Role(s): admin, editor, viewer, platform")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who acts (the token subject)")] = "dev",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = 86_400,
) -> None:
    """Mint a development JWT signed with this installation's secret."""
    from commands.auth import TokenCodec

    settings = Settings()
    codec = TokenCodec(settings.signing_secret(), settings.jwt_audience)
    typer.echo(codec.mint(tenant, role or ["admin"], actor=actor, ttl_seconds=ttl))
