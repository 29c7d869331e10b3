"""`bsdflow projections …`: inspect, rebuild and repair the read models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import psycopg
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from infra.readdb import migrate_read_side, prepare_schema
from infra.runtime import running_servers
from infra.settings import Settings
from projections.base import decode_event
from projections.rebuild import head_position, rebuild
from projections.registry import PROJECTIONS
from projections.runtime import META_SCHEMA, checkpoint, write_statements

app = typer.Typer(
    help="Inspect, rebuild and repair projections (read models).", no_args_is_help=True
)
console = Console()
EVENTS_TABLE = "bsdflow_events"


@contextmanager
def _connect() -> Iterator[psycopg.Connection[Any]]:
    with running_servers(Settings()) as urls:
        migrate_read_side(urls.database_url)
        with psycopg.connect(urls.database_url, autocommit=True) as conn:
            yield conn


def _known(name: str) -> None:
    if name not in PROJECTIONS:
        raise typer.BadParameter(f"unknown projection {name!r}; known: {', '.join(PROJECTIONS)}")


@app.command("list")
def list_() -> None:
    """The registered projections, their schemas and tables."""
    table = Table("projection", "schema", "tables", "event types")
    for p in PROJECTIONS.values():
        table.add_row(p.name, p.schema, ", ".join(p.tables), str(len(p.event_types)))
    console.print(table)


@app.command()
def status() -> None:
    """Each projection's position against the event store's head, and its dead letters."""
    with _connect() as conn:
        head = head_position(conn, EVENTS_TABLE)
        table = Table("projection", "position", "head", "behind", "dead letters")
        for p in PROJECTIONS.values():
            position, _ = checkpoint(conn, p.schema)
            parked = conn.execute(
                f"SELECT count(*) FROM {META_SCHEMA}.dead_letters "  # noqa: S608
                "WHERE projection = %s AND retried_at IS NULL",
                (p.name,),
            ).fetchone()
            table.add_row(
                p.name,
                str(position),
                str(head),
                str(head - position),
                str(parked[0] if parked else 0),
            )
    console.print(table)


@app.command()
def lag() -> None:
    """How many positions each projection is behind the head (0 = up to date)."""
    with _connect() as conn:
        head = head_position(conn, EVENTS_TABLE)
        for p in PROJECTIONS.values():
            console.print(f"{p.name}\t{head - checkpoint(conn, p.schema)[0]}")


@app.command("rebuild")
def rebuild_(
    name: Annotated[str, typer.Argument(help="Projection to rebuild")],
    chunk: Annotated[int, typer.Option(help="Events per transaction")] = 5_000,
) -> None:
    """Replay the event store into fresh tables, catch up, and swap them in with no downtime."""
    _known(name)
    projection = PROJECTIONS[name]
    with _connect() as conn, _progress() as bar:
        task = bar.add_task(f"rebuilding {name}", total=head_position(conn, EVENTS_TABLE))

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = rebuild(conn, projection, prepare_schema, chunk=chunk, progress=advance)
    console.print(
        f"rebuilt {name}: {result.events_applied} events applied, {result.events_scanned} "
        f"positions scanned in {result.seconds:.1f} s ({result.rate:,.0f} positions/s); swapped in."
    )


@app.command("dead-letters")
def dead_letters(
    retry: Annotated[int | None, typer.Option(help="Re-apply this dead letter by id")] = None,
    retry_all: Annotated[bool, typer.Option("--retry-all", help="Re-apply every open one")] = False,
) -> None:
    """List parked (poison) events, or re-apply them after a fix."""
    with _connect() as conn:
        if retry is not None or retry_all:
            _retry(conn, retry)
        rows = conn.execute(
            f"SELECT id, projection, position, event_type, kafka_offset, error, attempts, "  # noqa: S608
            f"parked_at, retried_at FROM {META_SCHEMA}.dead_letters ORDER BY id"
        ).fetchall()
    table = Table(
        "id", "projection", "position", "event", "offset", "error", "attempts", "parked", "retried"
    )
    for row in rows:
        table.add_row(*(str(v) if v is not None else "" for v in row))
    console.print(table)


def _retry(conn: psycopg.Connection[Any], only: int | None) -> None:
    rows = conn.execute(
        f"SELECT id, projection, position, originator_id, event_type, event "  # noqa: S608
        f"FROM {META_SCHEMA}.dead_letters WHERE retried_at IS NULL AND (%s::bigint IS NULL OR id = %s)",
        (only, only),
    ).fetchall()
    for dead_id, name, position, originator_id, event_type, stored in rows:
        projection = PROJECTIONS[name]
        raw = {**stored["data"], "_meta": stored["meta"]}
        event = decode_event(
            position, originator_id, stored["version"], event_type, orjson.dumps(raw)
        )
        try:
            with conn.transaction(), conn.cursor() as cur:
                write_statements(cur, projection.schema, projection.statements([event]))
                cur.execute(
                    f"UPDATE {META_SCHEMA}.dead_letters SET retried_at = now() WHERE id = %s",  # noqa: S608
                    (dead_id,),
                )
            console.print(f"[green]re-applied dead letter {dead_id}[/green]")
        except psycopg.Error as exc:
            console.print(f"[red]dead letter {dead_id} still fails: {exc}[/red]")


class RateColumn(ProgressColumn):
    """Events per second, as rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(
            f"{speed:,.0f} events/s" if speed else "… events/s", style="progress.data.speed"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
