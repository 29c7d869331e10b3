"""The `bsdflow` command line.

Commands import what they need when they run: the web, database and Kafka libraries take
seconds to import, and `--help`, `token` or `url` must answer at once.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from infra.cli_errors import fail
from infra.projections_cli import app as projections_app
from infra.settings import DEMO_TENANT, Settings

if TYPE_CHECKING:
    from commands.auth import TokenCodec

app = typer.Typer(help="bsdflow: an event-sourced workflow platform.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
console = Console()
ROLES_HELP = "admin, editor, viewer, platform"


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
def workers() -> None:
    """Run the relay, every projection worker and automation in one process (what `bsdflow up`
    runs beside the API) until interrupted."""
    from infra.up import run_workers

    run_workers(Settings())


@app.command()
def watch(
    query: Annotated[str, typer.Argument(help="A GraphQL subscription document")],
    url: Annotated[
        str | None,
        typer.Option(
            help="GraphQL endpoint, ws(s):// or http(s):// (turned into ws(s)://); default: "
            "the `bsdflow up` running on this data folder, else BSDFLOW_HOST/BSDFLOW_PORT"
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="TOKEN", help="Bearer token (default: a demo viewer's)")
    ] = None,
    count: Annotated[int, typer.Option(help="Stop after this many messages (0: never)")] = 0,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many idle seconds (0: never)")
    ] = 0,
) -> None:
    """Subscribe over graphql-transport-ws and print each message as a JSON line."""
    import orjson

    from infra.instance import api_url, graphql_url, websocket_url
    from infra.watch import SubscriptionError, subscribe

    settings = Settings()
    try:
        target = websocket_url(url or graphql_url(api_url(settings)))
    except ValueError as exc:
        fail("watch", str(exc), 2)
    if token is None:
        token = _codec(settings).mint(DEMO_TENANT, ["viewer"])
    messages = subscribe(
        target,
        token,
        query,
        wait=timeout or None,
        on_subscribed=lambda: typer.echo(f"# subscribed to {target}", err=True),
    )
    try:
        for received, data in enumerate(messages, start=1):
            typer.echo(orjson.dumps(data).decode())
            if received == count:
                return
    except TimeoutError:
        fail("watch", f"no message for {timeout:g} s")
    except SubscriptionError as exc:
        fail("watch", str(exc))


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
    from infra.logging import configure_logging
    from infra.readside import ReadSide
    from infra.runtime import running_servers
    from infra.services import ShutdownRequest

    shutdown = ShutdownRequest()  # first: a signal during start-up still stops properly
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
            shutdown.wait()
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
    from infra.automation import SERVICES, AutomationSide
    from infra.logging import configure_logging
    from infra.runtime import build_runtime, running_servers
    from infra.services import ShutdownRequest

    shutdown = ShutdownRequest()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    with running_servers(settings) as urls:
        runtime = build_runtime(settings, urls)
        side = AutomationSide(runtime, services=frozenset(service or SERVICES)).start()
        try:
            shutdown.wait()
        finally:
            side.stop()
            runtime.close()


@app.command()
def migrate() -> None:
    """Create or update the event store and read-model tables (idempotent)."""
    from infra.readdb import migrate_read_side
    from infra.runtime import build_runtime, running_servers

    settings = Settings()
    with running_servers(settings) as urls:
        build_runtime(settings, urls).close()
        migrate_read_side(urls.database_url)
    console.print("event store and read models are up to date.")


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant slug")] = DEMO_TENANT,
    role: Annotated[
        list[str] | None,
        typer.Option(help=f"Role(s): {ROLES_HELP}; without it, viewer (read only)"),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who acts (the token subject)")] = "dev",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = 86_400,
) -> None:
    """Mint a development JWT signed with this installation's secret."""
    from commands.auth import ROLE_PERMISSIONS

    unknown = sorted(set(role or []) - set(ROLE_PERMISSIONS))
    if unknown:
        fail("token", f"unknown role {', '.join(map(repr, unknown))}; roles: {ROLES_HELP}", 2)
    if not role:
        # The least privilege unless asked: a token pasted somewhere cannot change anything.
        typer.echo(
            "bsdflow token: no --role given, so this is a viewer token (read only); "
            "use --role admin or --role editor to issue commands",
            err=True,
        )
    codec = _codec(Settings())
    typer.echo(codec.mint(tenant, role or ["viewer"], actor=actor, ttl_seconds=ttl))


class Endpoint(StrEnum):
    api = "api"
    graphql = "graphql"
    ws = "ws"
    docs = "docs"


@app.command()
def url(
    endpoint: Annotated[
        Endpoint,
        typer.Argument(help="api (base URL), graphql, ws (GraphQL over websockets) or docs"),
    ] = Endpoint.api,
) -> None:
    """Print the URL of the running `bsdflow up` (recorded in the data folder), else the
    configured one (BSDFLOW_HOST, BSDFLOW_PORT): `API=$(bsdflow url)`."""
    from infra.instance import api_url, graphql_url, websocket_url

    base = api_url(Settings())
    typer.echo(
        {
            Endpoint.api: base,
            Endpoint.graphql: graphql_url(base),
            Endpoint.ws: websocket_url(graphql_url(base)),
            Endpoint.docs: f"{base}/docs",
        }[endpoint]
    )


def _codec(settings: Settings) -> TokenCodec:
    from commands.auth import TokenCodec

    return TokenCodec(settings.signing_secret(), settings.jwt_audience)


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
        codec = _codec(settings)

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


if __name__ == "__main__":  # `python -m infra.cli`, as `bsdflow up` starts its workers
    app()
