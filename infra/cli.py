"""The `bsdflow` command line."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console

from commands.auth import TokenCodec
from infra.automation import SERVICES, AutomationSide
from infra.logging import configure_logging
from infra.projections_cli import app as projections_app
from infra.readdb import migrate_read_side
from infra.readside import ReadSide
from infra.runtime import build_runtime, running_servers
from infra.services import wait_for_shutdown
from infra.settings import DEMO_TENANT, Settings

app = typer.Typer(help="bsdflow: an event-sourced workflow platform.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
console = Console()


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Interface to serve on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on")] = None,
    read_side: Annotated[
        bool, typer.Option(help="Also run the relay, projection workers and automation")
    ] = True,
) -> None:
    """Start everything: embedded servers (unless configured), migrations and the API."""
    from infra.up import run_up

    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    run_up(settings, read_side=read_side, console=console)


@app.command()
def watch(
    query: Annotated[str, typer.Argument(help="A GraphQL subscription document")],
    url: Annotated[str, typer.Option(help="GraphQL endpoint")] = "ws://127.0.0.1:8000/graphql",
    token: Annotated[str | None, typer.Option(envvar="TOKEN", help="Bearer token")] = None,
    count: Annotated[int, typer.Option(help="Stop after this many messages (0: never)")] = 0,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many idle seconds (0: never)")
    ] = 0,
) -> None:
    """Subscribe over graphql-transport-ws and print each message as a JSON line."""
    from infra.watch import subscribe

    if token is None:
        settings = Settings()
        token = TokenCodec(settings.signing_secret(), settings.jwt_audience).mint(
            DEMO_TENANT, ["viewer"]
        )
    messages = subscribe(
        url, token, query, wait=timeout or None,
        on_subscribed=lambda: typer.echo("# subscribed", err=True),
    )  # fmt: skip
    try:
        for received, data in enumerate(messages, start=1):
            typer.echo(orjson.dumps(data).decode())
            if received == count:
                return
    except TimeoutError:
        typer.echo(f"no message for {timeout:g} s", err=True)
        raise typer.Exit(1) from None


@app.command()
def relay() -> None:
    """Run only the outbox relay (event store → Kafka); one leads, others wait."""
    _run_read_side(with_relay=True, projections=[])


@app.command()
def worker(
    projection: Annotated[
        list[str] | None, typer.Option(help="Projection(s) to run; all when omitted")
    ] = None,
) -> None:
    """Run projection workers (Kafka → read models) until interrupted."""
    _run_read_side(with_relay=False, projections=projection)


def _run_read_side(*, with_relay: bool, projections: list[str] | None) -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    with running_servers(settings) as urls:
        side = ReadSide(
            urls.database_url,
            urls.kafka_bootstrap_servers,
            urls.redis_url,
            topic=settings.events_topic,
            projections=projections,
        )
        side.start(with_relay=with_relay)
        try:
            wait_for_shutdown()
        finally:
            side.stop()


@app.command(name="automation")
def automation_workers(
    service: Annotated[
        list[str] | None,
        typer.Option(help="validation, reactor and/or scheduler; all when omitted"),
    ] = None,
) -> None:
    """Run the validation worker, the reactor and the scheduler until interrupted."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    with running_servers(settings) as urls:
        runtime = build_runtime(settings, urls)
        side = AutomationSide(runtime, services=frozenset(service or SERVICES)).start()
        try:
            wait_for_shutdown()
        finally:
            side.stop()
            runtime.close()


@app.command()
def migrate() -> None:
    """Create or update the event store and read-model tables (idempotent)."""
    settings = Settings()
    with running_servers(settings) as urls:
        build_runtime(settings, urls).close()
        migrate_read_side(urls.database_url)
    console.print("event store and read models are up to date.")


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
    settings = Settings()
    codec = TokenCodec(settings.signing_secret(), settings.jwt_audience)
    typer.echo(codec.mint(tenant, role or ["admin"], actor=actor, ttl_seconds=ttl))


@app.command()
def loadtest(
    scenario: Annotated[
        str,
        typer.Argument(help="smoke, steady, burst, search-heavy, subscribers, or a YAML path"),
    ],
    url: Annotated[str, typer.Option(help="The API to load")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(help="Bearer token (default: demo tenant admin, minted here)")
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
    from infra.loadtest.command import main

    code = main(
        scenario, url=url, token=token, duration=duration, rate=rate, vus=vus,
        iterations=iterations, out=out, thresholds=threshold or [], allow_remote=allow_remote,
        quiet=quiet, console=console,
    )  # fmt: skip
    if code:
        raise typer.Exit(code)
