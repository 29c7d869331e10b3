"""The `bsdflow` command line.

Commands import what they need when they run: the web, database and Kafka libraries take
seconds to import, and `--help`, `token` or `url` must answer at once.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from infra.cli_errors import fail
from infra.dev_cli import app as dev_app
from infra.dev_cli import token_codec
from infra.imports_cli import import_file
from infra.loadtest_cli import app as loadtest_app
from infra.processes_cli import app as processes_app
from infra.projections_cli import app as projections_app
from infra.settings import DEMO_TENANT, Settings

app = typer.Typer(help="bsdflow: an event-sourced workflow platform.", no_args_is_help=True)
# Added without a name, their commands are this app's own; `--help` lists them after the ones
# below, in this order, and the `projections` group last.
app.add_typer(dev_app)
app.add_typer(loadtest_app)
app.add_typer(projections_app, name="projections")
app.add_typer(processes_app, name="processes")
app.command(name="import")(import_file)
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
    from infra.up import AlreadyUp, run_up

    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    try:
        run_up(settings, read_side=read_side, console=console)
    except AlreadyUp as held:
        fail("up", str(held))


@app.command()
def workers() -> None:
    """Run the relay, every projection worker and automation in one process (what `bsdflow up`
    runs beside the API) until interrupted."""
    from infra.background import ALL_AUTOMATION, run_background

    run_background(Settings(), relay=True, projections=None, automation=ALL_AUTOMATION)


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
        token = token_codec(settings).mint(DEMO_TENANT, ["viewer"])
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
    from infra.background import run_background

    run_background(Settings(), relay=True, projections=[], automation=())


@app.command()
def worker(
    projection: Annotated[
        list[str] | None, typer.Option(help="Projection(s) to run; all when omitted")
    ] = None,
) -> None:
    """Run projection workers (Kafka → read models) until interrupted."""
    from infra.background import run_background
    from projections.registry import PROJECTIONS

    unknown = sorted(set(projection or ()) - set(PROJECTIONS))
    if unknown:
        fail("worker", f"unknown projection {unknown[0]!r}; known: {', '.join(PROJECTIONS)}", 2)
    run_background(Settings(), relay=False, projections=projection, automation=())


@app.command(name="automation")
def automation_workers(
    service: Annotated[
        list[str] | None,
        typer.Option(help="validation, reactor, scheduler and/or imports; all when omitted"),
    ] = None,
) -> None:
    """Run the validation worker, the reactor, the scheduler and the import runner until
    interrupted."""
    from infra.background import ALL_AUTOMATION, run_background

    unknown = sorted(set(service or ()) - ALL_AUTOMATION)
    if unknown:
        known = ", ".join(sorted(ALL_AUTOMATION))
        fail("automation", f"unknown service {unknown[0]!r}; known: {known}", 2)
    run_background(Settings(), relay=False, projections=[], automation=service or ALL_AUTOMATION)


@app.command()
def migrate() -> None:
    """Create or update the event store and read-model tables (idempotent)."""
    from infra.projections_cli import migration_progress
    from infra.readdb import migrate_read_side
    from infra.runtime import build_runtime, running_servers

    settings = Settings()
    with running_servers(settings) as urls:
        build_runtime(settings, urls).close()
        with migration_progress() as progress:
            migrated = migrate_read_side(urls.database_url, progress=progress)
    for done in migrated:
        if done.result is not None:
            console.print(
                f"rebuilt {done.projection} for version {done.version} (was {done.rebuilt_from}):"
                f" {done.result.events_applied} events in {done.result.seconds:.1f} s"
            )
    console.print("event store and read models are up to date.")


if __name__ == "__main__":  # `python -m infra.cli`, as `bsdflow up` starts its workers
    app()
