"""`bsdflow projections …`: inspect, rebuild and repair the read models.

The projection registry, psycopg and the event decoding are imported inside the commands:
this module is imported by every `bsdflow` call, `--help` included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from infra.cli_errors import fail
from infra.progress import progress_bars
from infra.settings import Settings

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(
    help="Inspect, rebuild and repair projections (read models).", no_args_is_help=True
)
console = Console()


@contextmanager
def _connect() -> Iterator[psycopg.Connection[Any]]:
    import psycopg

    from infra.readdb import migrate_read_side
    from infra.runtime import running_servers

    with running_servers(Settings()) as urls:
        migrate_read_side(urls.database_url, rebuild_changed=False)
        with psycopg.connect(urls.database_url, autocommit=True) as conn:
            yield conn


def _known(name: str) -> None:
    from projections.registry import PROJECTIONS

    if name not in PROJECTIONS:
        raise typer.BadParameter(f"unknown projection {name!r}; known: {', '.join(PROJECTIONS)}")


@app.command("list")
def list_() -> None:
    """The registered projections, their schemas and tables."""
    from projections.registry import PROJECTIONS

    table = Table("projection", "schema", "tables", "event types")
    for p in PROJECTIONS.values():
        table.add_row(p.name, p.schema, ", ".join(p.tables), str(len(p.event_types)))
    console.print(table)


@app.command()
def status() -> None:
    """Each projection's version, position against the event store's head, and dead letters."""
    from eventstore.reading import head_position
    from infra.readdb import recorded_versions
    from projections.apply import META_SCHEMA, checkpoint
    from projections.registry import PROJECTIONS

    with _connect() as conn:
        head = head_position(conn)
        built_for = recorded_versions(conn)
        table = Table("projection", "version", "position", "head", "behind", "dead letters")
        for p in PROJECTIONS.values():
            position, _ = checkpoint(conn, p.schema)
            recorded = built_for.get(p.name)
            version = str(p.version)
            if recorded is not None and recorded[0] != p.version:
                version = f"{recorded[0]} → {p.version} (run bsdflow migrate)"
            parked = conn.execute(
                f"SELECT count(*) FROM {META_SCHEMA}.dead_letters "  # noqa: S608
                "WHERE projection = %s AND retried_at IS NULL",
                (p.name,),
            ).fetchone()
            table.add_row(
                p.name,
                version,
                str(position),
                str(head),
                str(head - position),
                str(parked[0] if parked else 0),
            )
    console.print(table)


@app.command()
def lag() -> None:
    """How many positions each projection is behind the head (0 = up to date)."""
    from eventstore.reading import head_position
    from projections.apply import checkpoint
    from projections.registry import PROJECTIONS

    table = Table("projection", "behind")
    table.columns[1].justify = "right"
    with _connect() as conn:
        head = head_position(conn)
        for p in PROJECTIONS.values():
            behind = head - checkpoint(conn, p.schema)[0]
            table.add_row(p.name, str(behind), style=None if behind == 0 else "yellow")
    table.caption = f"event-store head: position {head}"
    console.print(table)


@app.command("rebuild")
def rebuild_(
    name: Annotated[str, typer.Argument(help="Projection to rebuild")],
    chunk: Annotated[int, typer.Option(help="Events per transaction")] = 5_000,
) -> None:
    """Replay the event store into fresh tables, catch up, and swap them in with no downtime."""
    from eventstore.reading import head_position
    from infra.readdb import prepare_schema, record_version
    from projections.rebuild import rebuild
    from projections.registry import PROJECTIONS

    _known(name)
    projection = PROJECTIONS[name]
    with _connect() as conn, _progress() as bar:
        task = bar.add_task(f"rebuilding {name}", total=head_position(conn))

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = rebuild(conn, projection, prepare_schema, chunk=chunk, progress=advance)
        record_version(conn, projection)
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
    from projections.apply import META_SCHEMA

    with _connect() as conn:
        failed = _retry(conn, retry) if retry is not None or retry_all else 0
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
    if failed:
        fail("projections dead-letters", f"{failed} dead letter(s) still fail (see above)")


def _retry(conn: psycopg.Connection[Any], only: int | None) -> int:
    """Re-apply one dead letter (`only`) or every open one; the number that still fail.

    Asking for an id that does not exist, or was already re-applied, is an error: an empty
    answer would read as success."""
    import orjson
    import psycopg

    from eventstore import decode_event, encode_state
    from eventstore.sealing import open_on
    from projections.apply import META_SCHEMA
    from projections.registry import PROJECTIONS
    from projections.writes import write_statements

    if only is not None:
        found = conn.execute(
            f"SELECT retried_at FROM {META_SCHEMA}.dead_letters WHERE id = %s",  # noqa: S608
            (only,),
        ).fetchone()
        if found is None:
            fail("projections dead-letters", f"no dead letter {only}")
        if found[0] is not None:
            fail("projections dead-letters", f"dead letter {only} was re-applied at {found[0]}")
    rows = conn.execute(
        f"SELECT id, projection, position, originator_id, event_type, event, raw "  # noqa: S608
        f"FROM {META_SCHEMA}.dead_letters WHERE retried_at IS NULL AND (%s::bigint IS NULL OR id = %s)",
        (only, only),
    ).fetchall()
    if not rows:
        console.print("no open dead letters: nothing to re-apply")
    failed = 0
    for dead_id, name, position, originator_id, event_type, shown, exact in rows:
        projection = PROJECTIONS[name]
        # `raw` is the event as parked; `event` only a storable copy (older rows have no raw).
        stored = orjson.loads(exact) if exact is not None else shown
        state = encode_state(stored["data"], stored["meta"])
        # Parked as delivered, sealed: opened now, under the keys that still exist.
        [event] = open_on(
            conn, [decode_event(position, originator_id, stored["version"], event_type, state)]
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
            failed += 1
            console.print(f"[red]dead letter {dead_id} still fails: {exc}[/red]")
    return failed


@contextmanager
def migration_progress() -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """Progress bars for the projections a migration rebuilds (none shows if none is)."""
    with _progress() as bar:

        def for_projection(name: str) -> Callable[[int, int], None]:
            task = bar.add_task(f"rebuilding {name} for its new version", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return advance

        yield for_projection


def _progress() -> Progress:
    return progress_bars(console, "events")
